import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { errorKind, InvalidInputError, NetbootError } from '@netboot/core/errors';
import { throwsA } from '@netboot/core/testing/pure';
import { InvalidAddressError } from '@netboot/core/ip';
import { InvalidRangeError, IpInUseError, RangeAllocator, RangeExhaustedError } from '../src/allocator.js';
import { InvalidArgumentError } from '../src/validate.js';

const isA = (cls: new (...args: never[]) => Error) => (err: unknown) => err instanceof cls;

test('hands out round-robin, skipping network, gateway and broadcast', () => {
  const a = new RangeAllocator({ subnet: '10.244.3.0/24' });
  assert.is(a.size(), 253n); // 254 usable minus the gateway .1
  assert.is(a.allocate().ip, '10.244.3.2');
  assert.is(a.allocate().ip, '10.244.3.3');
  assert.is(a.lastReserved(), '10.244.3.3');
  assert.is(a.allocated(), 2n);
  assert.is(a.free(), 251n);
});

test('does not reuse a just-released address', () => {
  const a = new RangeAllocator({ subnet: '10.0.0.0/29' }); // usable .2-.6
  const first = a.allocate().ip;
  assert.ok(a.release(first));
  assert.is.not(a.allocate().ip, first);
});

test('wraps around and then reports exhaustion naming the range', () => {
  const a = new RangeAllocator({ subnet: '10.0.0.0/29' });
  const got = Array.from({ length: 5 }, () => a.allocate().ip);
  assert.equal(got, ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
  assert.throws(
    () => a.allocate(),
    (err: unknown) => err instanceof RangeExhaustedError && err.message.includes('10.0.0.0/29'),
  );
  a.release('10.0.0.3');
  assert.is(a.allocate().ip, '10.0.0.3'); // the only free slot, found by wrapping past the cursor
  assert.not.ok(a.isAllocated('10.0.0.1'));
  assert.not.ok(a.isAllocated('10.0.0.7'));
});

test('reserve takes a specific IP, continues after it, and refuses taken, gateway or outside addresses', () => {
  const a = new RangeAllocator<string>({ subnet: '10.0.0.0/24' });
  assert.is(a.reserve('10.0.0.100', 'pod-a').ip, '10.0.0.100');
  assert.is(a.ownerOf('10.0.0.100'), 'pod-a');
  assert.is(a.allocate('pod-b').ip, '10.0.0.101');
  assert.throws(() => a.reserve('10.0.0.100'), isA(IpInUseError));
  throwsA(() => a.reserve('10.0.0.1'), InvalidArgumentError, /gateway/);
  assert.throws(() => a.reserve('10.0.0.255'), isA(InvalidAddressError));
  assert.throws(() => a.reserve('10.0.1.5'), isA(InvalidAddressError));
  assert.throws(() => a.reserve('not-an-ip'), isA(InvalidAddressError));
  assert.is(a.allocated(), 2n);
});

test('restoreIfFree takes a free usable address without moving the cursor, and says no to the rest', () => {
  const a = new RangeAllocator({ subnet: '10.0.0.0/24' });
  assert.ok(a.restoreIfFree('10.0.0.7'));
  assert.ok(a.isAllocated('10.0.0.7'));
  assert.not.ok(a.restoreIfFree('10.0.0.7'), 'taken');
  assert.not.ok(a.restoreIfFree('10.0.0.1'), 'the gateway');
  assert.not.ok(a.restoreIfFree('10.0.0.255'), 'broadcast: outside the usable range');
  assert.not.ok(a.restoreIfFree('10.0.1.5'), 'another subnet');
  assert.not.ok(a.restoreIfFree('fd00::7'), 'another family');
  assert.is(a.allocated(), 1n);
  assert.is(a.allocate().ip, '10.0.0.2', 'the cursor did not move');
});

test('release of unknown or outside addresses is a no-op', () => {
  const a = new RangeAllocator({ subnet: '10.0.0.0/24' });
  assert.not.ok(a.release('10.0.0.7'));
  assert.not.ok(a.release('192.168.0.1'));
  assert.not.ok(a.release('fd00::1'));
  assert.not.ok(a.release('10.0.0.1')); // the gateway is never "allocated"
  assert.is(a.allocated(), 0n);
});

test('restore rebuilds state without moving the cursor; lastReserved resumes round-robin', () => {
  const a = new RangeAllocator({ subnet: '10.0.0.0/24' }, { lastReserved: '10.0.0.50' });
  a.restore('10.0.0.51');
  assert.is(a.lastReserved(), '10.0.0.50');
  assert.is(a.allocate().ip, '10.0.0.52');
  assert.equal(
    [...a.entries()].map((e) => e.ip),
    ['10.0.0.51', '10.0.0.52'],
  );
});

test('rangeStart/rangeEnd/gateway and multi-range sets (host-local range set)', () => {
  const a = new RangeAllocator([
    { subnet: '10.1.0.0/24', rangeStart: '10.1.0.250', rangeEnd: '10.1.0.251' },
    { subnet: '10.2.0.0/30', gateway: '10.2.0.2' },
  ]);
  assert.is(a.size(), 3n); // .250 .251 from the first, 10.2.0.1 from the second (.2 is its gateway)
  const got = [a.allocate(), a.allocate(), a.allocate()];
  assert.equal(
    got.map((g) => [g.ip, g.range, g.offset]),
    [
      ['10.1.0.250', 0, 250n],
      ['10.1.0.251', 0, 251n],
      ['10.2.0.1', 1, 1n],
    ],
  );
  assert.throws(() => a.allocate(), isA(RangeExhaustedError));
  assert.throws(() => new RangeAllocator([{ subnet: '10.0.0.0/24' }, { subnet: 'fd00::/64' }]), isA(InvalidRangeError));
  assert.throws(() => new RangeAllocator([{ subnet: '10.0.0.0/24' }, { subnet: '10.0.0.128/25' }]), isA(InvalidRangeError));
  assert.throws(() => new RangeAllocator({ subnet: '10.0.0.0/24', rangeStart: '10.0.0.9', rangeEnd: '10.0.0.3' }), isA(InvalidRangeError));
  assert.throws(() => new RangeAllocator({ subnet: '10.0.0.0/24', rangeStart: '10.0.1.9' }), isA(InvalidRangeError));
  assert.throws(() => new RangeAllocator([]), isA(InvalidRangeError));
});

test('/31, /32, /127 and /128 are refused when the range is defined, like host-local ("too small to allocate from")', () => {
  for (const subnet of ['10.0.0.0/31', '10.0.0.1/32', 'fd00::/127', 'fd00::1/128']) {
    assert.throws(
      () => new RangeAllocator({ subnet }),
      (e: unknown) => e instanceof InvalidRangeError && e.message.includes(subnet) && /too small to allocate from/.test(e.message),
      subnet,
    );
    assert.throws(() => new RangeAllocator([{ subnet: '10.9.0.0/24' }, { subnet }]), isA(InvalidRangeError), `${subnet} in a set`);
  }
  // The smallest that host-local takes: one address besides network, gateway and broadcast.
  assert.is(new RangeAllocator({ subnet: '10.0.0.0/30' }).allocate().ip, '10.0.0.2');
  assert.is(new RangeAllocator({ subnet: 'fd00::/126' }).allocate().ip, 'fd00::2');
});

test('exhaustion names the range that ran out: the subnet, or rangeStart-rangeEnd where narrowed', () => {
  const a = new RangeAllocator([{ subnet: '10.1.0.0/24', rangeStart: '10.1.0.250', rangeEnd: '10.1.0.251' }, { subnet: '10.2.0.0/30' }]);
  for (let i = 0; i < 3; i++) a.allocate();
  assert.throws(
    () => a.allocate(),
    (e: unknown) => e instanceof RangeExhaustedError && e.message === 'no free address left in 10.1.0.250-10.1.0.251 (of 10.1.0.0/24), 10.2.0.0/30',
  );
  const whole = new RangeAllocator({ subnet: '10.3.0.0/29', rangeStart: '10.3.0.1', rangeEnd: '10.3.0.6' }); // the default bounds
  for (let i = 0; i < 5; i++) whole.allocate();
  assert.throws(
    () => whole.allocate(),
    (e: unknown) => e instanceof RangeExhaustedError && e.message === 'no free address left in 10.3.0.0/29',
  );
});

test('IPv6 /64 works lazily', () => {
  const v6 = new RangeAllocator({ subnet: 'fd00:10:244:1::/64' });
  assert.is(v6.size(), (1n << 64n) - 2n);
  assert.is(v6.allocate().ip, 'fd00:10:244:1::2');
  assert.ok(v6.release('fd00:10:244:1::2'));
  assert.is(v6.allocate().ip, 'fd00:10:244:1::3');
  v6.reserve('fd00:10:244:1:ffff:ffff:ffff:ffff');
  assert.is(v6.allocate().ip, 'fd00:10:244:1::2'); // wrapped past the end
});

// Cost per operation must not depend on the range size: count words scanned, not time.
test('a /8 costs the same per operation as a /24', () => {
  const cost = (subnet: string) => {
    const a = new RangeAllocator({ subnet });
    for (let i = 0; i < 100; i++) a.allocate();
    for (let i = 0; i < 50; i++) a.release(a.allocate().ip);
    const before = a.wordsScanned;
    for (let i = 0; i < 50; i++) a.allocate();
    return a.wordsScanned - before;
  };
  const small = cost('10.0.0.0/24');
  const big = cost('10.0.0.0/8');
  assert.ok(small > 0);
  assert.is(big, small);
});

test('a full page of 65 536 slots is skipped in one step', () => {
  const a = new RangeAllocator({ subnet: '10.0.0.0/15' });
  for (let i = 0; i < 65535; i++) a.allocate(); // slot 0 is the gateway: the first page is now full
  a.setLastReserved(undefined); // restart the scan at the full page
  const before = a.wordsScanned;
  assert.is(a.allocate().ip, '10.1.0.1');
  assert.is(a.wordsScanned - before, 2);
  assert.is(a.allocated(), 65536n);
});

test('errors carry their kind: a bad range or the gateway is invalid, a full one exhausted, a taken address a conflict', () => {
  const range = throwsA(() => new RangeAllocator({ subnet: '10.0.0.0/31' }), InvalidRangeError);
  assert.ok(range instanceof InvalidInputError);
  assert.is(errorKind(range), 'invalid');
  const a = new RangeAllocator({ subnet: '10.0.0.0/30' });
  a.allocate();
  assert.is(errorKind(throwsA(() => a.allocate(), RangeExhaustedError)), 'exhausted');
  assert.is(errorKind(throwsA(() => a.reserve('10.0.0.2'), IpInUseError)), 'conflict');
  const gateway = throwsA(() => a.reserve('10.0.0.1'), InvalidArgumentError);
  assert.is(errorKind(gateway), 'invalid', 'asking again for the gateway can never succeed');
  for (const e of [range, gateway]) assert.ok(e instanceof NetbootError && e.name === e.constructor.name);
});

test.run();
