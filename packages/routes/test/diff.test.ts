// diff(): examples for each rule, then properties over random kernels and random desires —
// applying the plan gives the desired state, only owned entries are deleted, conflicts are never
// overwritten, and a second diff after applying is empty.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import type { Neigh, NexthopObject, Route } from '@netboot/core';
import { applyPlan, diff, NETBOOT_PROTOCOL, planSize, type CurrentState, type Ownership, type Plan } from '../src/index.js';
import { ownsFdb, ownsNeigh, ownsRoute, routeKey, sameNeigh, sameRoute } from '../src/diff.js';
import type { DesiredFdb, DesiredNeigh, DesiredNexthop, DesiredRoute, PeerState } from '../src/types.js';
import { NEXTHOP_IDS } from '../src/nexthops.js';

const VX = 10;
const own: Ownership = { protocol: NETBOOT_PROTOCOL, table: 254, device: VX };
const route = (dst: string, gateway: string, extra: Partial<Route> = {}): Route => ({
  dst,
  family: dst.includes(':') ? 6 : 4,
  table: 254,
  protocol: NETBOOT_PROTOCOL,
  type: 'unicast',
  scope: 'universe',
  gateway,
  dev: 2,
  ...(dst.includes(':') ? { metric: 1024 } : {}),
  ...extra,
});
const want = (dst: string, gateway: string, extra: Partial<DesiredRoute> = {}): DesiredRoute => ({ peer: 'p', dst, gateway, dev: 2, ...extra });
const none: CurrentState = { routes: [], neighbours: [], fdb: [] };
const only = (routes: DesiredRoute[]): PeerState => ({ routes, neighbours: [], fdb: [] });

test('routes: add missing, keep equal, replace different, delete owned leftovers, ignore others', () => {
  const current: CurrentState = {
    ...none,
    routes: [
      route('10.244.2.0/24', '192.168.1.12'), // equal: kept
      route('10.244.3.0/24', '192.168.1.99'), // different gateway: replaced
      route('10.244.9.0/24', '192.168.1.19'), // owned, no longer desired: deleted
      route('10.9.0.0/16', '192.168.1.1', { protocol: 3 }), // someone else's, not desired: ignored
      route('10.244.9.0/24', '192.168.1.19', { table: 100 }), // our protocol, another table: ignored
    ],
  };
  const plan = diff(current, only([want('10.244.2.0/24', '192.168.1.12'), want('10.244.3.0/24', '192.168.1.13'), want('10.244.4.0/24', '192.168.1.14')]), own);
  assert.equal(
    plan.routes.add.map((r) => r.dst),
    ['10.244.4.0/24'],
  );
  assert.equal(
    plan.routes.replace.map((c) => [c.from.gateway, c.to.gateway]),
    [['192.168.1.99', '192.168.1.13']],
  );
  assert.equal(
    plan.routes.del.map((r) => [r.dst, r.table]),
    [['10.244.9.0/24', 254]],
  );
  assert.equal(plan.conflicts, []);
});

test('nexthops: add, keep, replace a changed gateway, delete owned leftovers; a foreign one at a wanted id is a conflict', () => {
  const N = NEXTHOP_IDS.first;
  const nh = (id: number, gateway: string, extra: Partial<NexthopObject> = {}): NexthopObject => ({
    id,
    family: 4,
    protocol: NETBOOT_PROTOCOL,
    kind: 'single',
    gateway,
    dev: 2,
    ...extra,
  });
  const wantNh = (id: number, gateway: string): DesiredNexthop => ({ peer: `p${id - N}`, id, gateway, dev: 2 });
  const current: CurrentState = {
    ...none,
    nexthops: [
      nh(N + 1, '192.168.1.11'), // equal: kept
      nh(N + 2, '192.168.1.99'), // other gateway: replaced
      nh(N + 3, '192.168.1.13'), // owned, not wanted: deleted
      nh(N + 4, '192.168.1.14', { protocol: 3 }), // someone else's at a wanted id: conflict
      nh(5, '192.168.1.15'), // our protocol outside our range: not ours, ignored
    ],
    routes: [route('10.244.3.0/24', '192.168.1.13', { nhid: N + 3 })],
  };
  const desired: PeerState = {
    ...only([want('10.244.1.0/24', '192.168.1.11', { nhid: N + 1 }), want('10.244.4.0/24', '192.168.1.14', { peer: 'p4', nhid: N + 4 })]),
    nexthops: [wantNh(N + 1, '192.168.1.11'), wantNh(N + 2, '192.168.1.12'), wantNh(N + 4, '192.168.1.14')],
  };
  const plan = diff(current, desired, own);
  assert.equal(
    plan.nexthops.set.map((c) => [c.to.id - N, c.from?.gateway, c.to.gateway]),
    [[2, '192.168.1.99', '192.168.1.12']],
  );
  assert.equal(
    plan.nexthops.del.map((n) => n.id - N),
    [3],
  );
  assert.equal(
    plan.routes.add.map((r) => r.dst),
    ['10.244.1.0/24'],
  );
  assert.equal(
    plan.routes.del.map((r) => r.dst),
    ['10.244.3.0/24'],
  );
  assert.equal(
    plan.conflicts.map((c) => [c.peer, c.dst, c.nexthop?.id === N + 4, c.routes]),
    [['p4', '10.244.4.0/24', true, []]],
  );
  // A route that names another nexthop is replaced; one with a gateway but no nhid too (plain → nexthop).
  assert.not.ok(sameRoute(route('10.244.1.0/24', '192.168.1.11', { nhid: N + 9 }), want('10.244.1.0/24', '192.168.1.11', { nhid: N + 1 })));
  assert.not.ok(sameRoute(route('10.244.1.0/24', '192.168.1.11'), want('10.244.1.0/24', '192.168.1.11', { nhid: N + 1 })));
  assert.ok(sameRoute(route('10.244.1.0/24', '192.168.1.11', { nhid: N + 1 }), want('10.244.1.0/24', '192.168.1.11', { nhid: N + 1 })));
  // Applying the plan takes the deleted nexthop's routes along, as the kernel does.
  const after = applyPlan(current, plan, own);
  assert.equal(
    after.nexthops!.map((n) => n.id).sort((x, y) => x - y),
    [5, N + 1, N + 2, N + 4],
  );
  assert.equal(
    after.routes.map((r) => r.dst),
    ['10.244.1.0/24'],
    'the route through the deleted nexthop went with it',
  );
});

test('routes: a foreign route at a desired destination is a conflict and nothing there is touched', () => {
  const foreign = route('10.244.2.0/24', '192.168.1.200', { protocol: 3 });
  const ours = route('10.244.2.0/24', '192.168.1.77', { metric: 5 });
  const plan = diff({ ...none, routes: [foreign, ours] }, only([want('10.244.2.0/24', '192.168.1.12', { peer: 'node2' })]), own);
  assert.equal(plan.conflicts, [{ peer: 'node2', dst: '10.244.2.0/24', table: 254, routes: [foreign] }]);
  assert.is(planSize(plan), 0);
});

test('routes: an owned route at another metric is deleted and the desired one added (replace would miss it)', () => {
  const old = route('fd00:244:2::/64', 'fd00:1::12', { metric: 100 });
  const plan = diff({ ...none, routes: [old] }, only([want('fd00:244:2::/64', 'fd00:1::12')]), own);
  assert.equal([plan.routes.add.length, plan.routes.replace.length, plan.routes.del], [1, 0, [old]]);
});

test('routes: onlink, dev, type and extra attributes make a route different', () => {
  const d = want('10.244.2.0/24', '10.244.2.0', { dev: VX, onlink: true });
  assert.ok(sameRoute(route('10.244.2.0/24', '10.244.2.0', { dev: VX, onlink: true }), d));
  assert.not.ok(sameRoute(route('10.244.2.0/24', '10.244.2.0', { dev: VX }), d));
  assert.not.ok(sameRoute(route('10.244.2.0/24', '10.244.2.0', { dev: 2, onlink: true }), d));
  assert.not.ok(sameRoute(route('10.244.2.0/24', '10.244.2.0', { dev: VX, onlink: true, type: 'blackhole' }), d));
  assert.not.ok(sameRoute(route('10.244.2.0/24', '10.244.2.0', { dev: VX, onlink: true, mtu: 1400 }), d));
});

test('neighbours: owned = permanent on the overlay device; the kernel entries there are overwritten only where desired', () => {
  const n = (dst: string, lladdr: string, state: Neigh['state'], dev = VX): Neigh => ({ family: 4, dev, dst, lladdr, state });
  const current: CurrentState = {
    ...none,
    neighbours: [
      n('10.244.2.0', 'aa:00:00:00:00:02', ['permanent']), // equal
      n('10.244.3.0', 'aa:00:00:00:00:33', ['permanent']), // other MAC: set
      n('10.244.4.0', 'aa:00:00:00:00:04', ['failed']), // a failed resolution at a desired key: set
      n('10.244.9.0', 'aa:00:00:00:00:09', ['permanent']), // not desired: deleted
      n('10.244.8.0', 'aa:00:00:00:00:08', ['stale']), // the kernel's, not desired: left
      n('10.244.7.0', 'aa:00:00:00:00:07', ['permanent'], 2), // another device: left
    ],
  };
  const wantN = (dst: string, lladdr: string): DesiredNeigh => ({ peer: 'p', dst, lladdr, dev: VX });
  const plan = diff(
    current,
    {
      routes: [],
      fdb: [],
      neighbours: [wantN('10.244.2.0', 'aa:00:00:00:00:02'), wantN('10.244.3.0', 'aa:00:00:00:00:03'), wantN('10.244.4.0', 'aa:00:00:00:00:04')],
    },
    own,
  );
  assert.equal(
    plan.neighbours.set.map((c) => [c.to.dst, c.from?.lladdr]),
    [
      ['10.244.3.0', 'aa:00:00:00:00:33'],
      ['10.244.4.0', 'aa:00:00:00:00:04'],
    ],
  );
  assert.equal(
    plan.neighbours.del.map((x) => x.dst),
    ['10.244.9.0'],
  );
});

test('FDB: keyed by MAC and remote; a moved remote is deleted and added; other devices ignored', () => {
  const f = (lladdr: string, dst: string | undefined, dev = VX): Neigh => ({
    family: 'bridge',
    dev,
    lladdr,
    state: ['permanent'],
    self: true,
    ...(dst ? { dst } : {}),
  });
  const current: CurrentState = {
    ...none,
    fdb: [
      f('aa:00:00:00:00:02', '192.168.1.12'),
      f('aa:00:00:00:00:03', '192.168.1.99'),
      f('aa:00:00:00:00:05', undefined),
      f('aa:00:00:00:00:06', '192.168.1.16', 2),
    ],
  };
  const wantF = (lladdr: string, dst: string): DesiredFdb => ({ peer: 'p', lladdr, dst, dev: VX });
  const plan = diff(
    current,
    { routes: [], neighbours: [], fdb: [wantF('aa:00:00:00:00:02', '192.168.1.12'), wantF('aa:00:00:00:00:03', '192.168.1.13')] },
    own,
  );
  assert.equal(
    plan.fdb.add.map((x) => x.dst),
    ['192.168.1.13'],
  );
  assert.equal(
    plan.fdb.del.map((x) => x.dst),
    ['192.168.1.99'],
  );
});

test('without an overlay device no neighbour or FDB entry is owned', () => {
  const plan = diff({ ...none, neighbours: [{ family: 4, dev: VX, dst: '10.0.0.1', lladdr: 'aa:00:00:00:00:01', state: ['permanent'] }] }, only([]), {
    protocol: 78,
    table: 254,
  });
  assert.is(planSize(plan), 0);
});

// ---- properties ----

const DSTS = ['10.244.1.0/24', '10.244.2.0/24', '10.244.3.0/24', 'fd00:244:1::/64', 'fd00:244:2::/64'];
const GWS4 = ['192.168.1.11', '192.168.1.12', '10.244.2.0'];
const GWS6 = ['fd00:1::11', 'fd00:1::12'];
const MACS = ['aa:00:00:00:00:01', 'aa:00:00:00:00:02', 'aa:00:00:00:00:03'];
const IPS = ['10.244.1.0', '10.244.2.0', 'fd00:244:1::'];
const UNDERLAY = ['192.168.1.11', '192.168.1.12'];

const gatewayFor = (dst: string, i: number): string => (dst.includes(':') ? GWS6[i % GWS6.length]! : GWS4[i % GWS4.length]!);
const arbRoute: fc.Arbitrary<Route> = fc
  .record({
    dst: fc.constantFrom(...DSTS),
    g: fc.nat(5),
    table: fc.constantFrom(254, 254, 100),
    protocol: fc.constantFrom(NETBOOT_PROTOCOL, NETBOOT_PROTOCOL, 3, 17),
    dev: fc.constantFrom(2, VX),
    onlink: fc.boolean(),
    metric: fc.constantFrom(undefined, 5),
  })
  .map(({ dst, g, table, protocol, dev, onlink, metric }) =>
    route(dst, gatewayFor(dst, g), { table, protocol, dev, ...(onlink ? { onlink } : {}), ...(metric !== undefined ? { metric } : {}) }),
  );
const arbNeigh: fc.Arbitrary<Neigh> = fc
  .record({
    dst: fc.constantFrom(...IPS),
    lladdr: fc.constantFrom(...MACS),
    dev: fc.constantFrom(2, VX),
    state: fc.constantFrom<Neigh['state']>(['permanent'], ['stale'], ['noarp'], ['failed']),
  })
  .map(({ dst, lladdr, dev, state }) => ({ family: dst.includes(':') ? 6 : 4, dst, lladdr, dev, state }));
const arbFdb: fc.Arbitrary<Neigh> = fc
  .record({ lladdr: fc.constantFrom(...MACS), dst: fc.constantFrom(undefined, ...UNDERLAY), dev: fc.constantFrom(2, VX) })
  .map(({ lladdr, dst, dev }) => ({ family: 'bridge', lladdr, dev, state: ['permanent'], self: true, ...(dst ? { dst } : {}) }));
// The kernel holds one route per (table, dst, metric), one neighbour per (dev, dst), one FDB remote per (dev, MAC, dst).
const arbCurrent: fc.Arbitrary<CurrentState> = fc.record({
  routes: fc.uniqueArray(arbRoute, { selector: (r) => `${r.table} ${r.dst} ${r.metric}`, maxLength: 8 }),
  neighbours: fc.uniqueArray(arbNeigh, { selector: (n) => `${n.dev} ${n.dst}`, maxLength: 6 }),
  fdb: fc.uniqueArray(arbFdb, { selector: (n) => `${n.dev} ${n.lladdr} ${n.dst}`, maxLength: 6 }),
});
const arbDesired: fc.Arbitrary<PeerState> = fc.record({
  routes: fc.uniqueArray(
    fc
      .record({ dst: fc.constantFrom(...DSTS), g: fc.nat(5), dev: fc.constantFrom(2, VX), onlink: fc.boolean() })
      .map(({ dst, g, dev, onlink }) => want(dst, gatewayFor(dst, g), { dev, ...(onlink ? { onlink } : {}) })),
    { selector: (r) => r.dst, maxLength: 5 },
  ),
  neighbours: fc.uniqueArray(
    fc.record({ dst: fc.constantFrom(...IPS), lladdr: fc.constantFrom(...MACS) }).map((n): DesiredNeigh => ({ peer: 'p', dev: VX, ...n })),
    { selector: (n) => n.dst },
  ),
  fdb: fc.uniqueArray(
    fc.record({ lladdr: fc.constantFrom(...MACS), dst: fc.constantFrom(...UNDERLAY) }).map((n): DesiredFdb => ({ peer: 'p', dev: VX, ...n })),
    { selector: (n) => `${n.lladdr} ${n.dst}` },
  ),
});

const conflicted = (plan: Plan): Set<string> => new Set(plan.conflicts.map((c) => routeKey(c.table, c.dst)));

test('property: applying the plan gives the desired state (conflicted destinations aside), and a second diff is empty', () => {
  fc.assert(
    fc.property(arbCurrent, arbDesired, (current, desired) => {
      const plan = diff(current, desired, own);
      const after = applyPlan(current, plan, own);
      const skip = conflicted(plan);
      for (const d of desired.routes) {
        if (skip.has(routeKey(own.table, d.dst))) continue;
        const owned = after.routes.filter((r) => r.table === own.table && r.dst === d.dst);
        assert.is(owned.length, 1, `one route at ${d.dst}`);
        assert.ok(sameRoute(owned[0]!, d), `route at ${d.dst} is the desired one`);
      }
      for (const r of after.routes)
        if (ownsRoute(r, own))
          assert.ok(
            desired.routes.some((d) => d.dst === r.dst),
            `owned ${r.dst} is desired`,
          );
      for (const d of desired.neighbours)
        assert.ok(
          after.neighbours.some((n) => n.dev === VX && n.dst === d.dst && sameNeigh(n, d)),
          `neighbour ${d.dst}`,
        );
      for (const n of after.neighbours)
        if (ownsNeigh(n, own))
          assert.ok(
            desired.neighbours.some((d) => d.dst === n.dst),
            `owned neighbour ${n.dst} is desired`,
          );
      for (const n of after.fdb)
        if (ownsFdb(n, own))
          assert.ok(
            desired.fdb.some((d) => d.lladdr === n.lladdr && d.dst === n.dst),
            `owned FDB ${n.lladdr} ${n.dst} is desired`,
          );
      for (const d of desired.fdb)
        assert.ok(
          after.fdb.some((n) => ownsFdb(n, own) && n.lladdr === d.lladdr && n.dst === d.dst),
          `FDB ${d.lladdr}`,
        );
      const again = diff(after, desired, own);
      assert.is(planSize(again), 0, 'nothing left to do');
      assert.equal(conflicted(again), skip, 'the same conflicts');
    }),
    { numRuns: 500 },
  );
});

test('property: only owned entries are deleted or overwritten; conflicts are never touched', () => {
  fc.assert(
    fc.property(arbCurrent, arbDesired, (current, desired) => {
      const plan = diff(current, desired, own);
      for (const r of [...plan.routes.del, ...plan.routes.replace.map((c) => c.from)])
        assert.ok(ownsRoute(r, own), `deletes/replaces only owned routes (${r.dst} proto ${r.protocol})`);
      for (const n of plan.neighbours.del) assert.ok(ownsNeigh(n, own));
      for (const c of plan.neighbours.set) if (c.from !== undefined) assert.is(c.from.dev, VX, 'overwrites neighbours on its own device only');
      for (const n of plan.fdb.del) assert.ok(ownsFdb(n, own));
      const skip = conflicted(plan);
      const touched = [
        ...plan.routes.add.map((d) => d.dst),
        ...plan.routes.replace.map((c) => c.to.dst),
        ...plan.routes.del.filter((r) => r.table === own.table).map((r) => r.dst),
      ];
      for (const dst of touched) assert.not.ok(skip.has(routeKey(own.table, dst)), `conflicted ${dst} untouched`);
      for (const c of plan.conflicts) for (const r of c.routes) assert.is.not(r.protocol, own.protocol);
    }),
    { numRuns: 500 },
  );
});

test.run();
