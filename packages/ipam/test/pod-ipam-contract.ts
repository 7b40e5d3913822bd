// The PodIpam contract: what the CNI plugin and the node agent rely on from any pod IPAM, as one suite
// that runs against every implementation (local-pod-ipam.test.ts: LocalIpam on files; pod-ipam.test.ts: a
// ClusterIpam node on MemoryKv; etcd.test.ts: a ClusterIpam node on etcd), like libp2p's
// interface-compliance tests.
// Implementations choose their addresses; the suite checks only what the interface promises.
import * as assert from 'uvu/assert';
import { InvalidAddressError, ipToValue } from '@netboot/core/ip';
import type { NetbootError } from '@netboot/core/errors';
import { Cidr } from '../src/cidr.js';
import { IpInUseError } from '../src/allocator.js';
import type { PodIpam } from '../src/pod-ipam.js';
import { CorruptEntryError } from '../src/records.js';
import { InvalidArgumentError } from '../src/validate.js';
import { contractSuite } from './contract.js';
import type { ContractHooks } from './contract.js';
import { rejectsA } from '@netboot/core/testing/pure';

/**
 * A fresh, empty PodIpam for node `node` with one IPv4 range of at least a /26; with `dualStack`, one
 * IPv4 and one IPv6 range (each at least a /26 or /122), every allocate reserving one address of each.
 * Implementations set it up around each test, see UsePodIpam.
 */
export interface PodIpamFixture {
  ipam: PodIpam;
  node: string;
  /** A second PodIpam of the same node on the same store, as another process would open it. */
  other(): PodIpam;
  /** A PodIpam of another node, on the same store where the implementation shares one between nodes. */
  elsewhere(): PodIpam;
  /** Makes the stored entry that holds `ip` unreadable (a reservation file, a block). */
  corrupt(ip: string): Promise<void>;
}

/** Runs `fn` on a fresh PodIpamFixture of the given shape and removes it afterwards, also when `fn` fails. */
export type UsePodIpam = (shape: { dualStack?: boolean }, fn: (fixture: PodIpamFixture) => Promise<void>) => Promise<void>;

const pod = (id: string, ifname = 'eth0') => ({ containerId: id, ifname });
const familyOf = (ip: string) => ipToValue(ip).family;

// The same error class and the same kind from every implementation: callers branch on both.
async function rejectsKind<E extends NetbootError>(promise: Promise<unknown>, cls: new (...args: never[]) => E, kind: E['kind']): Promise<void> {
  const err = await rejectsA(promise, cls);
  assert.is(err.kind, kind, `${cls.name}.kind`);
}

export function podIpamContract(name: string, use: UsePodIpam, hooks: ContractHooks = {}): void {
  const { test, withFixture: withIpam } = contractSuite<PodIpamFixture>(`PodIpam contract: ${name}`, (fn) => use({}, fn), hooks);
  const withDualStack = (fn: (fixture: PodIpamFixture) => Promise<void>) => () => use({ dualStack: true }, fn);

  test(
    'allocate: an address inside its subnet, never the gateway, with what the CNI result needs; idempotent',
    withIpam(async ({ ipam }) => {
      const [a, ...more] = await ipam.allocate(pod('c1'));
      assert.equal(more, []);
      const subnet = Cidr.parse(a!.subnet);
      assert.ok(subnet.contains(a!.ip), `${a!.ip} in ${a!.subnet}`);
      assert.ok(subnet.contains(a!.gateway));
      assert.is.not(a!.ip, a!.gateway);
      assert.is(a!.prefixLen, subnet.prefixLen);
      assert.equal([a!.containerId, a!.ifname], ['c1', 'eth0']);
      assert.equal(await ipam.allocate(pod('c1')), [a], 'the same attachment gets the same address');
      const [b] = await ipam.allocate(pod('c1', 'net1'));
      assert.is.not(b!.ip, a!.ip, 'another interface of the pod is another attachment');
    }),
  );

  test(
    'release frees every address of the attachment; unknown attachments are not an error',
    withIpam(async ({ ipam }) => {
      const [a] = await ipam.allocate(pod('c1'));
      const { released, skipped } = await ipam.release(pod('c1'));
      assert.equal(
        released.map((r) => [r.ip, r.containerId, r.ifname]),
        [[a!.ip, 'c1', 'eth0']],
      );
      assert.equal(skipped, []);
      assert.equal(await ipam.release(pod('c1')), { released: [], skipped: [] });
      assert.equal(await ipam.release(pod('nobody')), { released: [], skipped: [] });
      assert.is(await ipam.holder(a!.ip), undefined);
    }),
  );

  test(
    'releaseIp frees one address whoever holds it; a free one gives undefined',
    withIpam(async ({ ipam }) => {
      const [a] = await ipam.allocate(pod('c1'));
      const r = await ipam.releaseIp(a!.ip);
      assert.equal([r?.ip, r?.containerId, r?.ifname], [a!.ip, 'c1', 'eth0']);
      assert.is(await ipam.releaseIp(a!.ip), undefined);
      assert.equal((await ipam.release(pod('c1'))).released, [], 'the attachment holds nothing any more');
    }),
  );

  test(
    'static requests: honoured, refused when taken or when the attachment holds another address',
    withIpam(async ({ ipam }) => {
      const [a] = await ipam.allocate(pod('c1'));
      const wanted = Cidr.parse(a!.subnet).addressAt(40n);
      const [s] = await ipam.allocate(pod('s1'), { ips: [wanted] });
      assert.is(s!.ip, wanted);
      assert.equal(await ipam.allocate(pod('s1'), { ips: [wanted] }), [s], 'idempotent');
      await rejectsKind(ipam.allocate(pod('s2'), { ips: [wanted] }), IpInUseError, 'conflict');
      await rejectsKind(ipam.allocate(pod('c1'), { ips: [wanted] }), IpInUseError, 'conflict');
      // The gateway is never handed out: asking again cannot help, so the request is invalid, not a conflict.
      await rejectsKind(ipam.allocate(pod('s3'), { ips: [a!.gateway] }), InvalidArgumentError, 'invalid');
      assert.equal((await ipam.reservations()).map((r) => r.containerId).sort(), ['c1', 's1']);
    }),
  );

  test(
    'static requests outside the ranges, or two of one family, are invalid and reserve nothing',
    withIpam(async ({ ipam }) => {
      const [a] = await ipam.allocate(pod('c1'));
      const subnet = Cidr.parse(a!.subnet);
      await rejectsKind(ipam.allocate(pod('s1'), { ips: ['192.0.2.7'] }), InvalidArgumentError, 'invalid');
      const [x, y] = [subnet.addressAt(40n), subnet.addressAt(41n)];
      await rejectsKind(ipam.allocate(pod('s2'), { ips: [x, y] }), InvalidArgumentError, 'invalid');
      assert.equal(
        (await ipam.reservations()).map((r) => r.containerId),
        ['c1'],
      );
    }),
  );

  test(
    'dual-stack: every allocate reserves one address of each family; a requested IP fixes only its own',
    withDualStack(async ({ ipam }) => {
      const both = await ipam.allocate(pod('c1'));
      assert.equal(both.map((a) => familyOf(a.ip)).sort(), [4, 6]);
      for (const a of both) assert.ok(Cidr.parse(a.subnet).contains(a.ip), `${a.ip} in ${a.subnet}`);
      const subnetOf = (family: number) => Cidr.parse(both.find((a) => familyOf(a.ip) === family)!.subnet);
      const [v4, v6] = [subnetOf(4).addressAt(40n), subnetOf(6).addressAt(40n)];
      const s1 = await ipam.allocate(pod('s1'), { ips: [v4] });
      assert.equal(s1.map((a) => familyOf(a.ip)).sort(), [4, 6], 'the IPv6 address comes automatically');
      assert.ok(s1.some((a) => a.ip === v4));
      const s2 = await ipam.allocate(pod('s2'), { ips: [v6] });
      assert.equal(s2.map((a) => familyOf(a.ip)).sort(), [4, 6], 'the IPv4 address comes automatically');
      assert.ok(s2.some((a) => a.ip === v6));
      assert.equal(await ipam.allocate(pod('s2'), { ips: [v6] }), s2, 'idempotent');
      await rejectsKind(ipam.allocate(pod('s3'), { ips: [subnetOf(6).addressAt(41n), subnetOf(6).addressAt(42n)] }), InvalidArgumentError, 'invalid');
      await rejectsKind(ipam.allocate(pod('s4'), { ips: [subnetOf(4).addressAt(41n), '2001:db8::1'] }), InvalidArgumentError, 'invalid');
      assert.is((await ipam.reservations()).length, 6);
      assert.is((await ipam.release(pod('s1'))).released.length, 2);
    }),
  );

  test(
    'bad input is refused as invalid before anything is reserved',
    withIpam(async ({ ipam }) => {
      await rejectsA(ipam.allocate(pod('../x')), InvalidArgumentError);
      await rejectsA(ipam.allocate(pod('ok', 'a/b')), InvalidArgumentError);
      await rejectsA(ipam.release(pod('../x')), InvalidArgumentError);
      await rejectsA(ipam.gc([{ containerId: 'c1' } as never]), InvalidArgumentError);
      await rejectsKind(ipam.releaseIp('10.0.0.300'), InvalidAddressError, 'invalid');
      assert.equal(await ipam.reservations(), []);
    }),
  );

  test(
    'gc releases exactly the reservations not in the valid list',
    withIpam(async ({ ipam }) => {
      for (const id of ['a', 'b', 'c']) await ipam.allocate(pod(id));
      const { released, skipped } = await ipam.gc([pod('b')]);
      assert.equal(released.map((r) => r.containerId).sort(), ['a', 'c']);
      assert.equal(skipped, []);
      assert.equal(
        (await ipam.reservations()).map((r) => r.containerId),
        ['b'],
      );
      assert.equal((await ipam.gc([pod('b')])).released, []);
    }),
  );

  test(
    'check reports unknown attachments; releaseReport frees them only while the same holder has them',
    withIpam(async ({ ipam }) => {
      await ipam.allocate(pod('live'));
      const [dead] = await ipam.allocate(pod('dead'));
      const [gone] = await ipam.allocate(pod('gone'));
      assert.equal((await ipam.check()).problems, [], 'without a valid list, attachments are not judged');
      const report = await ipam.check({ valid: [pod('live')] });
      assert.equal(
        report.problems.map((p) => [p.kind, p.ip, p.containerId]).sort(),
        [
          ['invalid-attachment', dead!.ip, 'dead'],
          ['invalid-attachment', gone!.ip, 'gone'],
        ].sort(),
      );
      // Between check and release, 'gone' leaves and a new pod gets its address: the report is stale for it.
      await ipam.release(pod('gone'));
      await ipam.allocate(pod('newer'), { ips: [gone!.ip] });
      const { released, skipped } = await ipam.releaseReport(report);
      assert.equal(
        released.map((r) => [r.ip, r.containerId]),
        [[dead!.ip, 'dead']],
      );
      assert.equal(skipped, []);
      assert.equal((await ipam.holder(gone!.ip))?.containerId, 'newer', 'a reused address is left alone');
      assert.equal((await ipam.check({ valid: [pod('live'), pod('newer')] })).problems, []);
    }),
  );

  test(
    'holder, reservations and usage show who holds what',
    withIpam(async ({ ipam, node }) => {
      const held = [];
      for (let i = 0; i < 12; i++) held.push(...(await ipam.allocate(pod(`p${i}`))));
      const subnet = held[0]!.subnet;
      const h = await ipam.holder(held[3]!.ip);
      assert.equal([h?.ip, h?.containerId, h?.ifname], [held[3]!.ip, 'p3', 'eth0']);
      assert.is(await ipam.holder(held[0]!.gateway), undefined);
      const all = await ipam.reservations();
      assert.equal(
        all.map((r) => r.ip),
        held.map((a) => a.ip),
        'sorted by address, like the allocation order here',
      );
      assert.equal((await ipam.reservations({ cidr: subnet })).length, 12);
      assert.equal(await ipam.reservations({ cidr: '192.0.2.0/24' }), []);
      assert.equal((await ipam.reservations({ node })).length, 12);
      assert.equal(await ipam.reservations({ node: 'elsewhere' }), []);
      const usage = await ipam.usage();
      assert.is(
        usage.pools.reduce((n, p) => n + p.allocated, 0),
        12,
      );
      assert.equal(usage.skipped, []);
    }),
  );

  test(
    "another node's reservations are outside this node's view: holder, releaseIp, gc, reservations, usage",
    withIpam(async ({ ipam, elsewhere }) => {
      const other = elsewhere();
      const [theirs] = await other.allocate(pod('e1'));
      await other.allocate(pod('e2'));
      const [mine] = await ipam.allocate(pod('m1'));
      assert.is.not(theirs!.ip, mine!.ip);
      assert.is(await ipam.holder(theirs!.ip), undefined);
      assert.is(await ipam.releaseIp(theirs!.ip), undefined);
      assert.is((await other.holder(theirs!.ip))?.containerId, 'e1', 'still held');
      assert.equal(
        (await ipam.reservations()).map((r) => r.ip),
        [mine!.ip],
      );
      assert.is(
        (await ipam.usage()).pools.reduce((n, p) => n + p.allocated, 0),
        1,
      );
      assert.equal(
        (await ipam.gc([])).released.map((r) => r.containerId),
        ['m1'],
      );
      assert.equal((await other.reservations()).map((r) => r.containerId).sort(), ['e1', 'e2']);
    }),
  );

  test(
    'a corrupt entry: holder and releaseIp refuse with CorruptEntryError (internal), gc skips it, check reports it',
    withIpam(async ({ ipam, corrupt }) => {
      const [a] = await ipam.allocate(pod('c1'));
      await corrupt(a!.ip);
      await rejectsKind(ipam.holder(a!.ip), CorruptEntryError, 'internal');
      await rejectsKind(ipam.releaseIp(a!.ip), CorruptEntryError, 'internal');
      const { released, skipped } = await ipam.gc([]);
      assert.equal(released, []);
      assert.equal(
        skipped.map((p) => p.kind),
        ['corrupt-entry'],
      );
      assert.equal(
        (await ipam.check()).problems.map((p) => p.kind),
        ['corrupt-entry'],
      );
    }),
  );

  test(
    'two PodIpams on one store never hand out one address twice',
    withIpam(async (f) => {
      const [x, y] = [f.ipam, f.other()];
      const got = await Promise.all(Array.from({ length: 24 }, (_, i) => (i % 2 ? x : y).allocate(pod(`r${i}`))));
      const ips = got.flat().map((a) => a.ip);
      assert.is(new Set(ips).size, 24);
      assert.equal((await y.reservations()).map((r) => r.ip).sort(), [...ips].sort());
    }),
  );

  test.run();
}
