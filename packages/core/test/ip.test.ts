// Pure address helpers: table tests for the forms `ip` accepts, and properties over random bytes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  AF_INET,
  AF_INET6,
  afOf,
  broadcastOf,
  bytesToIp,
  familyOf,
  familyOfAf,
  formatPrefix,
  InvalidAddressError,
  ipToBytes,
  networkOf,
  parseIp,
  parseMac,
  parsePrefix,
} from '../src/ip.js';

const isInvalid = (e: unknown): boolean => e instanceof InvalidAddressError;
const invalid = (fn: () => unknown, input: string): void =>
  assert.throws(fn, (e: unknown) => e instanceof InvalidAddressError && e.message.includes(JSON.stringify(input)), input);

test('parseIp: IPv4 and canonical IPv6', () => {
  assert.equal(parseIp('10.244.1.2'), { family: 4, address: '10.244.1.2' });
  assert.equal(parseIp('FD00:0:0::1'), { family: 6, address: 'fd00::1' });
  assert.equal(parseIp('2001:db8:0:0:1:0:0:1'), { family: 6, address: '2001:db8::1:0:0:1' });
  assert.equal(parseIp('::'), { family: 6, address: '::' });
  assert.equal(parseIp('::ffff:10.0.0.1'), { family: 6, address: '::ffff:10.0.0.1' });
  assert.equal(parseIp('fe80::1:2:3:4:5:6'), { family: 6, address: 'fe80:0:1:2:3:4:5:6' });
});

test('parseIp rejects bad input', () => {
  for (const bad of ['', '10.244.1', '10.244.1.256', '10.244.1.2/24', 'fe80::1%eth0', 'fd00:::1', 'x', ' 10.0.0.1', '1.2.3.4.5']) {
    invalid(() => parseIp(bad), bad);
  }
  assert.throws(() => parseIp(42 as unknown as string), isInvalid);
});

test('parsePrefix keeps host bits and checks the length', () => {
  assert.equal(parsePrefix('10.244.1.1/24'), { family: 4, address: '10.244.1.1', prefixLen: 24 });
  assert.equal(parsePrefix('fd00::1/64'), { family: 6, address: 'fd00::1', prefixLen: 64 });
  assert.equal(parsePrefix('0.0.0.0/0').prefixLen, 0);
  for (const bad of ['10.0.0.1', '10.0.0.1/33', '10.0.0.1/', '10.0.0.1/-1', '10.0.0.1/2 4', 'fd00::/129', 'x/8', '10.0.0.1/24/1', '10.0.0.1/0x10']) {
    invalid(() => parsePrefix(bad), bad);
  }
});

test('formatPrefix round-trips and validates', () => {
  assert.is(formatPrefix({ address: 'FD00::0:1', prefixLen: 64 }), 'fd00::1/64');
  assert.is(formatPrefix(parsePrefix('10.244.1.1/24')), '10.244.1.1/24');
  assert.throws(() => formatPrefix({ address: '10.0.0.1', prefixLen: 40 }), isInvalid);
  assert.throws(() => formatPrefix({ address: '10.0.0.1', prefixLen: 1.5 }), isInvalid);
});

test('families and AF numbers', () => {
  assert.is(familyOf('10.0.0.1'), 4);
  assert.is(familyOf('::1'), 6);
  assert.is(afOf(4), AF_INET);
  assert.is(afOf(6), AF_INET6);
  assert.is(familyOfAf(AF_INET6), 6);
  assert.throws(() => familyOfAf(7), isInvalid);
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
  assert.throws(() => broadcastOf('fd00::1/64'), isInvalid);
});

test('parseMac', () => {
  assert.is(parseMac('AA:bb:0C:dd:ee:ff'), 'aa:bb:0c:dd:ee:ff');
  for (const bad of ['', 'aa:bb:cc:dd:ee', 'aa-bb-cc-dd-ee-ff', 'aa:bb:cc:dd:ee:fg', 'aabb.ccdd.eeff']) invalid(() => parseMac(bad), bad);
});

test('property: bytes → text → bytes is the identity, and text agrees with node:net canonical forms', () => {
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ minLength: 16, maxLength: 16 })), (bytes) => {
      const text = bytesToIp(bytes);
      assert.equal([...ipToBytes(text)], [...bytes]);
      assert.is(parseIp(text).address, text, 'canonical text is a fixed point');
      assert.is(new URL(`http://${bytes.length === 4 ? text : `[${text}]`}/`).hostname.replace(/^\[|\]$/g, ''), text);
    }),
  );
});

test('property: networkOf is idempotent and contains the address', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.integer({ min: 0, max: 32 }), (bytes, len) => {
      const cidr = `${bytesToIp(bytes)}/${len}`;
      const net = networkOf(cidr);
      assert.is(networkOf(net), net);
      const n = ipToBytes(parsePrefix(net).address).readUInt32BE(0);
      const a = Buffer.from(bytes).readUInt32BE(0);
      const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
      assert.is((a & mask) >>> 0, n);
    }),
  );
});

test.run();
