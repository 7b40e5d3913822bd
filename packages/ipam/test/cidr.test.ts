import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { errorKind } from '@netboot/core/errors';
import { InvalidAddressError, valueToIp } from '@netboot/core/ip';
import { Cidr, parseCidrList } from '../src/cidr.js';
import { InvalidArgumentError, validateContainerId, validateIfname, validateNetworkName } from '../src/validate.js';

// Address parsing and formatting are @netboot/core/ip's (tested there); this file tests the math on top.
const isA = (cls: new (...args: never[]) => Error) => (err: unknown) => err instanceof cls;
const badInput = (input: string) => (err: unknown) =>
  err instanceof InvalidAddressError && errorKind(err) === 'invalid' && err.input === input && err.message.includes(input);

const cidr = suite('Cidr');

cidr('parses IPv4 and IPv6 networks', () => {
  const c = Cidr.parse('10.244.0.0/16');
  assert.is(c.family, 4);
  assert.is(c.prefixLen, 16);
  assert.is(c.size(), 65536n);
  assert.is(c.toString(), '10.244.0.0/16');
  const v6 = Cidr.parse('fd00:10:244::/56');
  assert.is(v6.family, 6);
  assert.is(v6.size(), 1n << 72n);
  assert.is(v6.toString(), 'fd00:10:244::/56');
  assert.is(Cidr.parse('0.0.0.0/0').size(), 1n << 32n);
});

cidr('rejects bad CIDRs strictly, naming the input', () => {
  for (const bad of [
    '10.244.0.0/33',
    '10.244.1.7/16',
    'fe80::/129',
    'fe80::1/64',
    'garbage',
    '10.244.0.0',
    '10.244.0.0/',
    '10.244.0.0/016',
    '10.244.0.0/1/2',
    '/24',
    '10.244.0.0/-1',
    '10.244.0.0/ 24',
    'x/24',
  ]) {
    assert.throws(() => Cidr.parse(bad), badInput(bad), bad);
  }
  assert.throws(() => Cidr.parse('10.244.1.7/16'), /host bits are set \(the network is 10\.244\.0\.0\/16\)/);
});

cidr('contains and overlaps', () => {
  const c = Cidr.parse('10.244.0.0/16');
  assert.ok(c.contains('10.244.255.255'));
  assert.not.ok(c.contains('10.245.0.0'));
  assert.not.ok(c.contains('fd00::1'));
  assert.ok(c.contains(Cidr.parse('10.244.3.0/24')));
  assert.not.ok(c.contains(Cidr.parse('10.0.0.0/8')));
  assert.ok(c.overlaps(Cidr.parse('10.0.0.0/8')));
  assert.ok(Cidr.parse('10.0.0.0/8').overlaps(c));
  assert.not.ok(c.overlaps(Cidr.parse('10.96.0.0/12')));
  assert.not.ok(Cidr.parse('::/0').overlaps(Cidr.parse('0.0.0.0/0')));
});

cidr('subnet splitting and nth subnet', () => {
  const c = Cidr.parse('10.244.0.0/16');
  assert.is(c.subnetCount(24), 256n);
  assert.is(c.nthSubnet(24, 0n).toString(), '10.244.0.0/24');
  assert.is(c.nthSubnet(24, 3n).toString(), '10.244.3.0/24');
  assert.is(c.nthSubnet(24, 255n).toString(), '10.244.255.0/24');
  assert.throws(() => c.nthSubnet(24, 256n), isA(InvalidAddressError));
  assert.throws(() => c.nthSubnet(15, 0n), isA(InvalidAddressError));
  assert.throws(() => c.nthSubnet(33, 0n), isA(InvalidAddressError));
  assert.equal([...Cidr.parse('10.0.0.0/30').subnets(31)].map(String), ['10.0.0.0/31', '10.0.0.2/31']);
  const v6 = Cidr.parse('fd00::/48');
  assert.is(v6.nthSubnet(64, 0xabn).toString(), 'fd00:0:0:ab::/64');
  // Lazy: taking the first few of 2^24 subnets must not enumerate them all.
  const firstThree: string[] = [];
  for (const s of Cidr.parse('10.0.0.0/8').subnets(32)) {
    firstThree.push(s.toString());
    if (firstThree.length === 3) break;
  }
  assert.equal(firstThree, ['10.0.0.0/32', '10.0.0.1/32', '10.0.0.2/32']);
});

cidr('usable range, gateway and broadcast follow host-local', () => {
  const f = (s: string) => {
    const c = Cidr.parse(s);
    const b = c.broadcast();
    return [
      valueToIp(c.family, c.firstUsable()),
      valueToIp(c.family, c.lastUsable()),
      valueToIp(c.family, c.gateway()),
      b === undefined ? undefined : valueToIp(c.family, b),
    ];
  };
  assert.equal(f('10.244.3.0/24'), ['10.244.3.1', '10.244.3.254', '10.244.3.1', '10.244.3.255']);
  assert.equal(f('10.0.0.0/30'), ['10.0.0.1', '10.0.0.2', '10.0.0.1', '10.0.0.3']);
  assert.equal(f('10.0.0.0/31'), ['10.0.0.0', '10.0.0.1', '10.0.0.0', undefined]);
  assert.equal(f('10.0.0.5/32'), ['10.0.0.5', '10.0.0.5', '10.0.0.5', undefined]);
  assert.equal(f('fd00::/64'), ['fd00::1', 'fd00::ffff:ffff:ffff:ffff', 'fd00::1', undefined]);
  assert.equal(f('fd00::/127'), ['fd00::1', 'fd00::1', 'fd00::1', undefined]);
  assert.equal(f('fd00::7/128'), ['fd00::7', 'fd00::7', 'fd00::7', undefined]);
});

cidr('addressAt and offsetOf are inverse and bounded', () => {
  const c = Cidr.parse('10.244.3.0/24');
  assert.is(c.addressAt(10n), '10.244.3.10');
  assert.is(c.offsetOf('10.244.3.10'), 10n);
  assert.throws(() => c.addressAt(256n), isA(InvalidAddressError));
  assert.throws(() => c.offsetOf('10.244.4.0'), badInput('10.244.4.0'));
  assert.throws(() => c.offsetOf('fd00::1'), isA(InvalidAddressError));
});

cidr('dual-stack lists', () => {
  assert.equal(parseCidrList('10.244.0.0/16,fd00:10:244::/56').map(String), ['10.244.0.0/16', 'fd00:10:244::/56']);
  assert.equal(parseCidrList(['fd00::/48']).map(String), ['fd00::/48']);
  assert.throws(() => parseCidrList('10.244.0.0/16,10.245.0.0/16'), /one CIDR per IP family/);
  assert.throws(() => parseCidrList('10.244.0.0/16,'), isA(InvalidAddressError));
  assert.throws(() => parseCidrList('10.244.0.0/16,fd00::1/48'), isA(InvalidAddressError));
});

cidr('split subnets tile the parent exactly (property)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 8, max: 28 }), fc.integer({ min: 0, max: 4 }), fc.bigInt({ min: 0n, max: 0xffffffffn }), (len, extra, raw) => {
      const parent = Cidr.of(4, raw & ~((1n << BigInt(32 - len)) - 1n) & 0xffffffffn, len);
      const n = parent.subnetCount(len + extra);
      const last = parent.nthSubnet(len + extra, n - 1n);
      assert.is(parent.nthSubnet(len + extra, 0n).network, parent.network);
      assert.is(last.lastAddress(), parent.lastAddress());
      assert.ok(parent.contains(last));
    }),
  );
});

cidr.run();

const validate = suite('validate');

validate('accepts CNI-legal identifiers', () => {
  assert.is(validateContainerId('a1b2c3_d.e-f'), 'a1b2c3_d.e-f');
  assert.is(validateIfname('eth0'), 'eth0');
  assert.is(validateIfname('a'.repeat(15)), 'a'.repeat(15));
  assert.is(validateNetworkName('cbr0'), 'cbr0');
});

validate('rejects bad identifiers naming field and value', () => {
  const bad: [(v: unknown) => string, unknown, string][] = [
    [validateContainerId, '', 'containerId'],
    [validateContainerId, '../etc', 'containerId'],
    [validateContainerId, 'a/b', 'containerId'],
    [validateContainerId, '-abc', 'containerId'],
    [validateContainerId, 'a'.repeat(256), 'containerId'],
    [validateContainerId, 42, 'containerId'],
    [validateIfname, '', 'ifname'],
    [validateIfname, 'a'.repeat(16), 'ifname'],
    [validateIfname, 'eth/0', 'ifname'],
    [validateIfname, 'eth:0', 'ifname'],
    [validateIfname, 'eth 0', 'ifname'],
    [validateIfname, '..', 'ifname'],
    [validateNetworkName, 'my net', 'network name'],
    [validateNetworkName, '.hidden', 'network name'],
  ];
  for (const [fn, value, field] of bad) {
    assert.throws(
      () => fn(value),
      (err: unknown) => err instanceof InvalidArgumentError && err.field === field && err.value === value,
      String(value),
    );
  }
});

validate.run();
