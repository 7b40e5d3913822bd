import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { Cidr, InvalidCidrError, InvalidIpError, formatIp, parseCidrList, parseIp } from '../src/cidr.js';
import { InvalidArgumentError, validateContainerId, validateIfname, validateNetworkName } from '../src/validate.js';

const isA = (cls: new (...args: never[]) => Error) => (err: unknown) => err instanceof cls;

const ip = suite('parseIp / formatIp');

ip('parses IPv4 and IPv6 to values', () => {
  assert.equal(parseIp('10.244.1.7'), { family: 4, value: 0x0af40107n });
  assert.equal(parseIp('0.0.0.0'), { family: 4, value: 0n });
  assert.equal(parseIp('255.255.255.255'), { family: 4, value: 0xffffffffn });
  assert.equal(parseIp('fd00::1'), { family: 6, value: (0xfd00n << 112n) | 1n });
  assert.equal(parseIp('::'), { family: 6, value: 0n });
  assert.equal(parseIp('::ffff:1.2.3.4'), { family: 6, value: 0xffff01020304n });
  assert.equal(parseIp('1:2:3:4:5:6:7::').value, 0x0001000200030004000500060007_0000n);
});

ip('formats IPv6 per RFC 5952', () => {
  assert.is(formatIp(6, parseIp('FD00:0:0:0:0:0:0:1').value), 'fd00::1');
  assert.is(formatIp(6, parseIp('2001:db8:0:0:1:0:0:1').value), '2001:db8::1:0:0:1');
  assert.is(formatIp(6, parseIp('2001:db8:0:1:1:1:1:1').value), '2001:db8:0:1:1:1:1:1');
  assert.is(formatIp(6, 0n), '::');
  assert.is(formatIp(6, 1n), '::1');
  assert.is(formatIp(4, 0x0af40107n), '10.244.1.7');
});

ip('rejects garbage with InvalidIpError naming the input', () => {
  for (const bad of ['', 'garbage', '10.244.1', '10.244.1.256', '10.244.01.7', ' 10.0.0.1', 'fe80::1%eth0', '1::2::3', 'gg::1', '1:2:3:4:5:6:7:8:9']) {
    assert.throws(() => parseIp(bad), (err: unknown) => err instanceof InvalidIpError && err.input === bad, bad);
  }
  assert.throws(() => formatIp(4, 1n << 32n), isA(InvalidIpError));
});

ip('formatIp(parseIp(x)) round-trips any value', () => {
  fc.assert(
    fc.property(fc.constantFrom<4 | 6>(4, 6), fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), (family, raw) => {
      const value = family === 4 ? raw & 0xffffffffn : raw;
      assert.equal(parseIp(formatIp(family, value)), { family, value });
    }),
  );
});

ip.run();

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
  for (const bad of ['10.244.0.0/33', '10.244.1.7/16', 'fe80::/129', 'fe80::1/64', 'garbage', '10.244.0.0', '10.244.0.0/', '10.244.0.0/016', '10.244.0.0/1/2', '/24', '10.244.0.0/-1', '10.244.0.0/ 24', 'x/24']) {
    assert.throws(() => Cidr.parse(bad), (err: unknown) => err instanceof InvalidCidrError && err.input === bad && err.message.includes(bad), bad);
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
  assert.throws(() => c.nthSubnet(24, 256n), isA(InvalidCidrError));
  assert.throws(() => c.nthSubnet(15, 0n), isA(InvalidCidrError));
  assert.throws(() => c.nthSubnet(33, 0n), isA(InvalidCidrError));
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
    return [formatIp(c.family, c.firstUsable()), formatIp(c.family, c.lastUsable()), formatIp(c.family, c.gateway()), b === undefined ? undefined : formatIp(c.family, b)];
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
  assert.throws(() => c.addressAt(256n), isA(InvalidIpError));
  assert.throws(() => c.offsetOf('10.244.4.0'), (err: unknown) => err instanceof InvalidIpError && err.input === '10.244.4.0');
  assert.throws(() => c.offsetOf('fd00::1'), isA(InvalidIpError));
});

cidr('dual-stack lists', () => {
  assert.equal(parseCidrList('10.244.0.0/16,fd00:10:244::/56').map(String), ['10.244.0.0/16', 'fd00:10:244::/56']);
  assert.equal(parseCidrList(['fd00::/48']).map(String), ['fd00::/48']);
  assert.throws(() => parseCidrList('10.244.0.0/16,10.245.0.0/16'), /one CIDR per IP family/);
  assert.throws(() => parseCidrList('10.244.0.0/16,'), isA(InvalidCidrError));
  assert.throws(() => parseCidrList('10.244.0.0/16,fd00::1/48'), isA(InvalidCidrError));
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
    assert.throws(() => fn(value), (err: unknown) => err instanceof InvalidArgumentError && err.field === field && err.value === value, String(value));
  }
});

validate.run();
