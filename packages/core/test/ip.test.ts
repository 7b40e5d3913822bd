// The one address module: table tests for the forms `ip` accepts, and properties checked against
// independent parsers and formatters — Node's net.isIP* (regexes) and net.SocketAddress (libuv's
// inet_pton/inet_ntop, the BIND code glibc's `ip` output also comes from).
import { isIPv4, isIPv6, SocketAddress } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  AF_INET,
  AF_INET6,
  afOf,
  broadcastOf,
  bytesToIp,
  bytesToMac,
  decimalValue,
  familyOf,
  familyOfAf,
  formatPrefix,
  InvalidAddressError,
  ipToBytes,
  ipToValue,
  ipv4Value,
  macToBytes,
  networkOf,
  normalizeIp,
  parseIp,
  parseMac,
  parseNetwork,
  parsePrefix,
  valueToIp,
  writeIp,
  writeMac,
} from '../src/base/ip.js';
import { InvalidInputError } from '../src/base/errors.js';
import * as generated from '../src/netlink/generated/index.js';
import { throwsA } from '../src/public/testing/pure.js';

/** `fn` refuses `input` with an InvalidAddressError (a bad-input error, kind invalid) that names it. */
function invalid(fn: () => unknown, input: string): void {
  const e = throwsA(fn, InvalidAddressError, undefined, input);
  assert.instance(e, InvalidInputError, input);
  assert.is(e.kind, 'invalid', input);
  assert.is(e.input, input, input);
  assert.ok(e.message.includes(JSON.stringify(input)), `${input}: message ${JSON.stringify(e.message)} quotes it`);
}

/** What libuv's inet_ntop prints for an IPv6 address (throws for text inet_pton refuses). */
const ntop6 = (text: string): string => new SocketAddress({ address: text, family: 'ipv6' }).address;

test('AF_INET and AF_INET6 are the kernel numbers the generator read', () => {
  assert.is(AF_INET, generated.AF_INET);
  assert.is(AF_INET6, generated.AF_INET6);
});

test('parseIp: IPv4 and canonical IPv6', () => {
  assert.equal(parseIp('10.244.1.2'), { family: 4, address: '10.244.1.2' });
  assert.equal(parseIp('FD00:0:0::1'), { family: 6, address: 'fd00::1' });
  assert.equal(parseIp('2001:db8:0:0:1:0:0:1'), { family: 6, address: '2001:db8::1:0:0:1' });
  assert.equal(parseIp('::'), { family: 6, address: '::' });
  assert.equal(parseIp('::ffff:10.0.0.1'), { family: 6, address: '::ffff:10.0.0.1' });
  assert.equal(parseIp('0:0:0:0:0:ffff:a00:1'), { family: 6, address: '::ffff:10.0.0.1' });
  assert.equal(parseIp('::1.2.3.4'), { family: 6, address: '::1.2.3.4' });
  assert.equal(parseIp('64:ff9b::1.2.3.4'), { family: 6, address: '64:ff9b::102:304' });
  assert.equal(parseIp('fe80::1:2:3:4:5:6'), { family: 6, address: 'fe80:0:1:2:3:4:5:6' });
  assert.equal(parseIp('1:2:3:4:5:6:7::'), { family: 6, address: '1:2:3:4:5:6:7:0' });
  assert.is(normalizeIp('FD00:0::5'), 'fd00::5');
});

test('parseIp rejects bad input, naming it', () => {
  const bad = [
    '',
    '10.244.1',
    '10.244.1.256',
    '10.244.01.7',
    '010.0.0.1',
    '1.2.3.4.5',
    '10.244.1.2/24',
    ' 10.0.0.1',
    '10.0.0.1 ',
    'x',
    'fe80::1%eth0',
    'fd00:::1',
    '1::2::3',
    ':',
    ':1',
    '1:',
    ':1::',
    '12345::',
    'g::1',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7',
    '1::2:3:4:5:6:7:8',
    '::1.2.3',
    '::1.2.3.4:5',
    '::ffff:01.2.3.4',
    '1:2:3:4:5:6:7:1.2.3.4',
  ];
  for (const s of bad) invalid(() => parseIp(s), s);
  throwsA(() => parseIp(42 as unknown as string), InvalidAddressError);
});

test('families and AF numbers', () => {
  assert.is(familyOf('10.0.0.1'), 4);
  assert.is(familyOf('::1'), 6);
  assert.is(afOf(4), AF_INET);
  assert.is(afOf(6), AF_INET6);
  assert.is(familyOfAf(AF_INET6), 6);
  throwsA(() => familyOfAf(7), InvalidAddressError);
});

test('values: ipToValue and valueToIp', () => {
  assert.equal(ipToValue('10.244.1.7'), { family: 4, value: 0x0af40107n });
  assert.equal(ipToValue('255.255.255.255'), { family: 4, value: 0xffffffffn });
  assert.equal(ipToValue('fd00::1'), { family: 6, value: (0xfd00n << 112n) | 1n });
  assert.equal(ipToValue('::ffff:1.2.3.4'), { family: 6, value: 0xffff01020304n });
  assert.is(valueToIp(4, 0x0af40107n), '10.244.1.7');
  assert.is(valueToIp(6, 1n), '::1');
  assert.is(valueToIp(6, (1n << 128n) - 1n), 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff');
  for (const [family, value] of [
    [4, 1n << 32n],
    [4, -1n],
    [6, 1n << 128n],
  ] as const) {
    throwsA(() => valueToIp(family, value), InvalidAddressError, undefined, `${family} ${value}`);
  }
  invalid(() => ipToValue('10.0.0.256'), '10.0.0.256');
});

test('parsePrefix keeps host bits and checks the length', () => {
  assert.equal(parsePrefix('10.244.1.1/24'), { family: 4, address: '10.244.1.1', prefixLen: 24 });
  assert.equal(parsePrefix('FD00::1/64'), { family: 6, address: 'fd00::1', prefixLen: 64 });
  assert.is(parsePrefix('0.0.0.0/0').prefixLen, 0);
  assert.is(parsePrefix('::/128').prefixLen, 128);
  const bad = [
    '10.0.0.1',
    '10.0.0.1/33',
    '10.0.0.1/',
    '10.0.0.1/-1',
    '10.0.0.1/2 4',
    '10.0.0.1/024',
    '10.0.0.1/00',
    'fd00::/129',
    'x/8',
    '10.0.0.1/24/1',
    '10.0.0.1/0x10',
    '/24',
  ];
  for (const s of bad) invalid(() => parsePrefix(s), s);
});

test('formatPrefix round-trips and validates', () => {
  assert.is(formatPrefix({ address: 'FD00::0:1', prefixLen: 64 }), 'fd00::1/64');
  assert.is(formatPrefix(parsePrefix('10.244.1.1/24')), '10.244.1.1/24');
  throwsA(() => formatPrefix({ address: '10.0.0.1', prefixLen: 40 }), InvalidAddressError);
  throwsA(() => formatPrefix({ address: '10.0.0.1', prefixLen: 1.5 }), InvalidAddressError);
});

test('parseNetwork: host bits as networkOf sees them, from one parse', () => {
  assert.equal(parseNetwork('fd00:1::1/64'), { family: 6, address: 'fd00:1::1', prefixLen: 64, hostBits: true });
  assert.is(parseNetwork('fd00:1::/64').hostBits, false);
  assert.is(parseNetwork('10.1.0.0/16').hostBits, false);
  assert.is(parseNetwork('10.1.0.1/16').hostBits, true);
  fc.assert(
    fc.property(fc.oneof(fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 })), fc.tuple(fc.ipV6(), fc.integer({ min: 0, max: 128 }))), ([ip, len]) => {
      const p = parseNetwork(`${ip}/${len}`);
      return p.hostBits === (networkOf(`${p.address}/${len}`) !== `${p.address}/${len}`);
    }),
  );
});

test('networkOf and broadcastOf (like `ip addr add … brd +`)', () => {
  assert.is(networkOf('10.244.1.7/24'), '10.244.1.0/24');
  assert.is(networkOf('10.244.1.7/20'), '10.244.0.0/20');
  assert.is(networkOf('fd00::1:2/112'), 'fd00::1:0/112');
  assert.is(broadcastOf('10.244.1.1/24'), '10.244.1.255');
  assert.is(broadcastOf('10.244.1.1/23'), '10.244.1.255');
  assert.is(broadcastOf('10.244.2.1/23'), '10.244.3.255');
  assert.is(broadcastOf('10.0.0.1/32'), '10.0.0.1');
  assert.is(broadcastOf('10.0.0.1/0'), '255.255.255.255');
  throwsA(() => broadcastOf('fd00::1/64'), InvalidAddressError);
});

test('MACs: parse, bytes, and the codec writer', () => {
  assert.is(parseMac('AA:bb:0C:dd:ee:ff'), 'aa:bb:0c:dd:ee:ff');
  assert.is(parseMac('a:b:c:d:e:f'), '0a:0b:0c:0d:0e:0f', 'one digit an octet, as `ip link set address` reads it');
  assert.equal([...macToBytes('02:00:00:00:00:01')], [2, 0, 0, 0, 0, 1]);
  assert.is(bytesToMac(Uint8Array.of(0xde, 0xad, 0, 1)), 'de:ad:00:01');
  assert.is(bytesToMac(new Uint8Array(0)), '');
  const bad = [
    '',
    'aa:bb:cc:dd:ee',
    'aa:bb:cc:dd:ee:ff:00',
    'aa-bb-cc-dd-ee-ff',
    'aa:bb:cc:dd:ee:fg',
    'aabb.ccdd.eeff',
    'aa:bb:cc:dd:ee:fff',
    'aa::cc:dd:ee:ff',
    'aa:bb:cc:dd:ee:ff:',
  ];
  for (const s of bad) invalid(() => parseMac(s), s);
  const b = Buffer.alloc(20);
  assert.is(writeMac('', b, 0), 0, 'no address');
  assert.is(writeMac('0a:00:00:01', b, 0), 4, 'any length (tunnel devices use 4 or 16)');
  assert.is(writeMac('0a:', b, 0), -1);
});

test('the fast IPv4 scanners take sub-strings and refuse what parseIp refuses', () => {
  assert.is(ipv4Value('x10.0.0.1/24', 1, 9), 0x0a000001);
  assert.is(ipv4Value('10.0.0.01'), -1);
  assert.is(decimalValue('a/24', 2, 32), 24);
  assert.is(decimalValue('a/0', 2, 32), 0);
  for (const s of ['a/33', 'a/024', 'a/', 'a/2x', 'a/1000']) assert.is(decimalValue(s, 2, 32), -1, s);
});

// ---- Properties

const bytes4 = fc.uint8Array({ minLength: 4, maxLength: 4 });
// Mostly zero groups, so that runs, ties and the IPv4-mapped/-compatible prefixes all come up.
const bytes16 = fc.oneof(
  fc.uint8Array({ minLength: 16, maxLength: 16 }),
  fc.array(fc.constantFrom(0, 0, 0, 1, 0xffff, 0xfe80), { minLength: 8, maxLength: 8 }).map((w) => Uint8Array.from(w.flatMap((x) => [x >> 8, x & 0xff]))),
  bytes4.map((v4) => Uint8Array.of(...new Array(10).fill(0), 0xff, 0xff, ...v4)),
  bytes4.map((v4) => Uint8Array.of(...new Array(12).fill(0), ...v4)),
);
const fullForm = (b: Uint8Array): string => Array.from({ length: 8 }, (_, i) => ((b[2 * i]! << 8) | b[2 * i + 1]!).toString(16)).join(':');

test('property: IPv6 text is what inet_ntop prints, and parses back to the same bytes and value', () => {
  fc.assert(
    fc.property(bytes16, (b) => {
      const text = bytesToIp(b);
      assert.is(text, ntop6(fullForm(b)), fullForm(b));
      assert.equal([...ipToBytes(text)], [...b]);
      assert.is(parseIp(fullForm(b).toUpperCase()).address, text);
      const { value } = ipToValue(text);
      assert.is(value, BigInt(`0x${Buffer.from(b).toString('hex')}`));
      assert.is(valueToIp(6, value), text);
    }),
    { numRuns: 2000 },
  );
});

test('property: IPv4 bytes ↔ text ↔ value', () => {
  fc.assert(
    fc.property(bytes4, (b) => {
      const text = bytesToIp(b);
      assert.ok(isIPv4(text));
      assert.equal([...ipToBytes(text)], [...b]);
      assert.is(valueToIp(4, ipToValue(text).value), text);
      assert.equal(parseIp(text), { family: 4, address: text });
    }),
  );
});

// Strings made of address characters, so that near misses (extra colons, short groups, dotted
// tails in the wrong place) are common; the parser must accept exactly what inet_pton does.
const addressish = fc.oneof(
  fc
    .array(fc.constantFrom('0', '1', 'f', 'F', 'ff', 'fff', '1234', '12345', ':', ':', '::', '.', '1.2.3.4', '255', '256', '01'), { maxLength: 14 })
    .map((p) => p.join('')),
  // Groups with '::' somewhere (or nowhere) and maybe a dotted tail: about half are valid.
  fc
    .tuple(
      fc.array(fc.constantFrom('0', '1', 'a', 'ffff', '1234', '0', 'abcde', ''), { maxLength: 8 }),
      fc.integer({ min: -1, max: 8 }),
      fc.constantFrom('', '', '1.2.3.4', '01.2.3.4'),
    )
    .map(([groups, gap, tail]) => {
      const parts = [...groups, ...(tail ? [tail] : [])];
      return gap < 0 || gap > parts.length ? parts.join(':') : `${parts.slice(0, gap).join(':')}::${parts.slice(gap).join(':')}`;
    }),
);

test('property: the parser accepts exactly what inet_pton and node:net accept', () => {
  fc.assert(
    fc.property(addressish, (s) => {
      let pton: string | undefined;
      try {
        pton = ntop6(s);
      } catch {
        pton = undefined;
      }
      let ours: string | undefined;
      try {
        ours = parseIp(s).address;
      } catch (e) {
        assert.instance(e, InvalidAddressError, s);
      }
      if (isIPv4(s)) assert.is(ours, s, s);
      else assert.is(ours, pton, s);
      assert.is(ours !== undefined, isIPv4(s) || isIPv6(s), `node:net disagrees on ${JSON.stringify(s)}`);
      const buf = Buffer.alloc(16);
      assert.is(writeIp(s, buf, 0) > 0, ours !== undefined, s);
    }),
    { numRuns: 5000 },
  );
});

test('property: networkOf is idempotent and masks like integer arithmetic', () => {
  fc.assert(
    fc.property(bytes4, fc.integer({ min: 0, max: 32 }), (b, len) => {
      const net = networkOf(`${bytesToIp(b)}/${len}`);
      assert.is(networkOf(net), net);
      const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
      assert.is(ipToBytes(parsePrefix(net).address).readUInt32BE(0), (Buffer.from(b).readUInt32BE(0) & mask) >>> 0);
    }),
  );
});

test('property: MAC bytes → text → bytes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 6, maxLength: 6 }), (b) => {
      const text = bytesToMac(b);
      assert.is(parseMac(text.toUpperCase()), text);
      assert.equal([...macToBytes(text)], [...b]);
    }),
  );
});

test.run();
