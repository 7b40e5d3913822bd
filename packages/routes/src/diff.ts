// The pure heart of reconcile: current kernel state + desired state → the operations that turn one
// into the other, touching only what netboot owns.
//
// Ownership:
//  - a route is netboot's when it carries netboot's route protocol (default 78, below) in netboot's
//    table; a route with another protocol at a desired destination belongs to someone else: it is
//    reported as a conflict and that destination is left exactly as it is (no add, no replace);
//  - neighbour entries are netboot's when they are permanent and sit on netboot's own overlay
//    device (the kernel's own entries there — multicast NOARP ones, resolution attempts — are not);
//  - FDB entries are netboot's when they sit on that device and name a remote (`dst`);
//  - nexthop objects are netboot's when they carry its route protocol and an id in NEXTHOP_IDS; one
//    with another protocol at a wanted id is someone else's: the routes that would use it are
//    conflicts, and it is left as it is.
// Everything else in `current` is ignored, so callers may pass a whole table or a whole dump.
import type { IpFamily } from '@netboot/core/ip';
import type { Neigh, NexthopObject, Route } from '@netboot/core';
import { inNexthopRange } from './nexthops.js';
import type { DesiredFdb, DesiredNeigh, DesiredNexthop, DesiredRoute, PeerState } from './types.js';

/**
 * netboot's route protocol: 78 (ASCII 'N'). Unused by the stacks it must coexist with: the kernel
 * (2), boot/static (3, 4), zebra/FRR (11), BIRD (12), DHCP (16), kube-router (17), keepalived (18),
 * babel (42), Calico felix (3, 80), Open/R (99), FRR's BGP/IS-IS/OSPF/RIP/EIGRP (186–192), and the
 * numbers in iproute2's rt_protos. `ip route show proto 78` lists netboot's routes.
 */
export const NETBOOT_PROTOCOL = 78;

/** Whose entries are whose: netboot's route protocol and table, and its overlay device's ifindex. */
export interface Ownership {
  protocol: number;
  table: number;
  /** ifindex of netboot's overlay device (VXLAN); without it no neighbour or FDB entry is netboot's. */
  device?: number;
}

/** What the kernel holds: a route dump (any protocols) and neighbour/FDB dumps (any devices). */
export interface CurrentState {
  routes: readonly Route[];
  neighbours: readonly Neigh[];
  fdb: readonly Neigh[];
  /** A nexthop dump (any protocols, any ids). */
  nexthops?: readonly NexthopObject[];
}

/** A desired destination held by a route that is not netboot's: left untouched, for the user to decide. */
export interface Conflict {
  peer: string;
  dst: string;
  table: number;
  /** The routes in the way (another protocol). */
  routes: Route[];
  /** The nexthop object in the way: someone else's at the id the route would use. */
  nexthop?: NexthopObject;
}

export interface RouteChange {
  from: Route;
  to: DesiredRoute;
}

export interface NeighChange {
  /** The entry being overwritten, if there was one (a failed or stale entry, another MAC). */
  from?: Neigh;
  to: DesiredNeigh;
}

export interface NexthopChange {
  /** The nexthop being overwritten (another gateway or device), if there was one. */
  from?: NexthopObject;
  to: DesiredNexthop;
}

/** The operations, by object kind; `desired` entries carry devices as ifindexes. */
export interface Plan {
  nexthops: { set: NexthopChange[]; del: NexthopObject[] };
  routes: { add: DesiredRoute[]; replace: RouteChange[]; del: Route[] };
  neighbours: { set: NeighChange[]; del: Neigh[] };
  fdb: { add: DesiredFdb[]; del: Neigh[] };
  conflicts: Conflict[];
}

export function emptyPlan(): Plan {
  return {
    nexthops: { set: [], del: [] },
    routes: { add: [], replace: [], del: [] },
    neighbours: { set: [], del: [] },
    fdb: { add: [], del: [] },
    conflicts: [],
  };
}

/** Operations in a plan (conflicts are not operations). */
export function planSize(p: Plan): number {
  return (
    p.nexthops.set.length +
    p.nexthops.del.length +
    p.routes.add.length +
    p.routes.replace.length +
    p.routes.del.length +
    p.neighbours.set.length +
    p.neighbours.del.length +
    p.fdb.add.length +
    p.fdb.del.length
  );
}

// Keys are made flat strings. A string joined by `+` or a template is a rope (V8's ConsString) once
// it is 13 characters or more, and the first Map lookup that compares two equal ropes flattens both,
// allocating as it goes: a resync whose mirror was rebuilt with fresh keys paid that for all of its
// 20,000 keys at 5,000 vxlan peers. Array.prototype.join builds its result flat.
// A route's key is its destination alone: every index keyed so holds one table (the Reconciler's
// mirror is a dump of its table, diff() keeps only `own.table`'s routes), so the table part was the
// same in every key — and a joined key was two allocations per route, several times per full apply.
export const routeKey = (_table: number, dst: string): string => dst;
export const neighKey = (dev: unknown, dst: string | undefined): string => [dev, dst].join(' ');
export const fdbKey = (dev: unknown, lladdr: string | undefined, dst: string | undefined): string => [dev, lladdr, dst].join(' ');

/** The metric the kernel gives a route sent without one. */
function defaultMetric(family: IpFamily): number {
  return family === 6 ? 1024 : 0;
}

function familyOf(dst: string): IpFamily {
  return dst.includes(':') ? 6 : 4;
}

/**
 * Whether the kernel's route is exactly the desired one (and sits at the key `replace` would hit).
 * A route through a nexthop object is judged by its id: the gateway behind it is the nexthop's diff.
 */
export function sameRoute(cur: Route, want: DesiredRoute): boolean {
  const via =
    want.nhid !== undefined
      ? cur.nhid === want.nhid
      : cur.nhid === undefined && cur.gateway === want.gateway && cur.dev === want.dev && Boolean(cur.onlink) === Boolean(want.onlink);
  return (
    via &&
    cur.type === 'unicast' &&
    cur.nexthops === undefined &&
    (cur.metric ?? 0) === defaultMetric(cur.family) &&
    cur.mtu === undefined &&
    cur.src === undefined
  );
}

export function sameNeigh(cur: Neigh, want: DesiredNeigh): boolean {
  return cur.lladdr === want.lladdr && cur.state.includes('permanent');
}

function sameNexthop(cur: NexthopObject, want: DesiredNexthop): boolean {
  return cur.kind === 'single' && cur.gateway === want.gateway && cur.dev === want.dev && Boolean(cur.onlink) === Boolean(want.onlink);
}

export function ownsNexthop(n: NexthopObject, own: Ownership): boolean {
  return n.protocol === own.protocol && inNexthopRange(n.id);
}

export function ownsRoute(r: Route, own: Ownership): boolean {
  return r.protocol === own.protocol && r.table === own.table;
}

export function ownsNeigh(n: Neigh, own: Ownership): boolean {
  return own.device !== undefined && n.dev === own.device && n.family !== 'bridge' && n.state.includes('permanent');
}

export function ownsFdb(n: Neigh, own: Ownership): boolean {
  return own.device !== undefined && n.dev === own.device && n.family === 'bridge' && n.dst !== undefined && n.lladdr !== undefined;
}

function group<T>(items: readonly T[], key: (t: T) => string, keep: (t: T) => boolean): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const t of items) {
    if (!keep(t)) continue;
    const k = key(t);
    const list = m.get(k);
    if (list === undefined) m.set(k, [t]);
    else list.push(t);
  }
  return m;
}

/** The first entry per key (a desire repeated for one key counts once). */
function index<T>(items: readonly T[], key: (t: T) => string, keep: (t: T) => boolean = () => true): Map<string, T> {
  const m = new Map<string, T>();
  for (const t of items) {
    if (!keep(t)) continue;
    const k = key(t);
    if (!m.has(k)) m.set(k, t);
  }
  return m;
}

/** Current state keyed as the kernel keys it (routeKey, neighKey, fdbKey), only what `own` may see. */
export interface CurrentIndex {
  /** Nexthops in netboot's id range, by id (any protocol). */
  nexthops: ReadonlyMap<number, NexthopObject>;
  routes: ReadonlyMap<string, readonly Route[]>;
  neighbours: ReadonlyMap<string, Neigh>;
  fdb: ReadonlyMap<string, Neigh>;
}

/** Desired state keyed the same way, devices as ifindexes. */
export interface DesiredIndex {
  nexthops: ReadonlyMap<number, DesiredNexthop>;
  routes: ReadonlyMap<string, DesiredRoute>;
  neighbours: ReadonlyMap<string, DesiredNeigh>;
  fdb: ReadonlyMap<string, DesiredFdb>;
}

/**
 * The operations that make `current` into `desired` under `own`: add what is missing, replace what
 * differs, delete netboot's entries that are no longer desired, and report (never touch) desired
 * destinations held by someone else's route. Pure; devices in `desired` must be ifindexes.
 */
export function diff(current: CurrentState, desired: PeerState, own: Ownership): Plan {
  const onDevice = (n: Neigh): boolean => own.device !== undefined && n.dev === own.device && n.family !== 'bridge';
  return diffIndexed(
    {
      nexthops: new Map((current.nexthops ?? []).filter((n) => inNexthopRange(n.id)).map((n) => [n.id, n])),
      routes: group(
        current.routes,
        (r) => routeKey(r.table, r.dst),
        (r) => r.table === own.table,
      ),
      neighbours: index(current.neighbours, (n) => neighKey(n.dev, n.dst), onDevice),
      fdb: index(
        current.fdb,
        (n) => fdbKey(n.dev, n.lladdr, n.dst),
        (n) => ownsFdb(n, own),
      ),
    },
    {
      nexthops: new Map((desired.nexthops ?? []).map((n) => [n.id, n])),
      routes: index(desired.routes, (d) => routeKey(own.table, d.dst)),
      neighbours: index(desired.neighbours, (d) => neighKey(d.dev, d.dst)),
      fdb: index(desired.fdb, (d) => fdbKey(d.dev, d.lladdr, d.dst)),
    },
    own,
  );
}

/**
 * diff() over states already keyed (a Reconciler keeps both so): no key is built or hashed twice.
 * `current` must hold only netboot's table, and neighbour/FDB entries of its device (FDB: owned ones).
 */
export function diffIndexed(current: CurrentIndex, desired: DesiredIndex, own: Ownership): Plan {
  const plan = emptyPlan();
  // Every key of a resync goes through here (20,000 for a 5,000-peer vxlan node), mostly before the
  // JIT has made this function fast: so forEach (no entry array per key) and a test that settles the
  // common case, an entry exactly as wanted, before any list or closure is made.

  // Someone else's nexthop at a wanted id: the routes that would use it become conflicts below.
  const taken = new Map<number, NexthopObject>();
  desired.nexthops.forEach((want, id) => {
    const cur = current.nexthops.get(id);
    if (cur !== undefined && cur.protocol !== own.protocol) taken.set(id, cur);
    else if (cur === undefined || !sameNexthop(cur, want)) plan.nexthops.set.push(cur === undefined ? { to: want } : { from: cur, to: want });
  });
  current.nexthops.forEach((n, id) => {
    if (!desired.nexthops.has(id) && ownsNexthop(n, own)) plan.nexthops.del.push(n);
  });

  desired.routes.forEach((want, key) => {
    const here = current.routes.get(key);
    const nexthop = want.nhid === undefined || taken.size === 0 ? undefined : taken.get(want.nhid);
    // The common case of a resync: one route, netboot's, as wanted.
    if (here !== undefined && here.length === 1 && nexthop === undefined && here[0]!.protocol === own.protocol && sameRoute(here[0]!, want)) return;
    // Mostly one route of netboot's own: the list of foreign ones is made only when there are any.
    const foreign = here?.some((r) => r.protocol !== own.protocol) ? here.filter((r) => r.protocol !== own.protocol) : [];
    if (foreign.length > 0 || nexthop !== undefined) {
      const conflict: Conflict = { peer: want.peer, dst: want.dst, table: own.table, routes: foreign };
      if (nexthop !== undefined) conflict.nexthop = nexthop;
      plan.conflicts.push(conflict);
      return;
    }
    if (here === undefined) {
      plan.routes.add.push(want); // the common case of a first apply: nothing there
      return;
    }
    const keep = here.find((r) => sameRoute(r, want));
    // `replace` overwrites the route at the same (dst, metric); an owned route at another metric
    // would survive it, so that one is deleted instead and the desired one added.
    const atKey = keep ?? here.find((r) => (r.metric ?? 0) === defaultMetric(familyOf(want.dst)));
    for (const r of here) if (r !== atKey) plan.routes.del.push(r);
    if (keep !== undefined) return;
    if (atKey === undefined) plan.routes.add.push(want);
    else plan.routes.replace.push({ from: atKey, to: want });
  });
  current.routes.forEach((here, key) => {
    if (desired.routes.has(key)) return;
    for (const r of here) if (ownsRoute(r, own)) plan.routes.del.push(r);
  });

  desired.neighbours.forEach((want, key) => {
    const cur = current.neighbours.get(key);
    if (cur !== undefined && sameNeigh(cur, want)) return;
    plan.neighbours.set.push(cur === undefined ? { to: want } : { from: cur, to: want });
  });
  current.neighbours.forEach((n, key) => {
    if (!desired.neighbours.has(key) && ownsNeigh(n, own)) plan.neighbours.del.push(n);
  });

  desired.fdb.forEach((want, key) => {
    if (!current.fdb.has(key)) plan.fdb.add.push(want);
  });
  current.fdb.forEach((n, key) => {
    if (!desired.fdb.has(key)) plan.fdb.del.push(n);
  });

  return plan;
}

/** The route the kernel reports after `ip route replace` of `d` under `own`. */
export function toRoute(d: DesiredRoute, own: Ownership): Route {
  const family = familyOf(d.dst);
  // The IPv4 shapes (each of the mirror's thousands of records) built whole: a property added to a
  // built object lands in a backing store of its own, one more object per record for the collector.
  if (family === 4) {
    const { dst, gateway, nhid } = d;
    const { table, protocol } = own;
    const dev = d.dev as number;
    if (nhid !== undefined) {
      return d.onlink
        ? { dst, family, table, protocol, type: 'unicast', scope: 'universe', gateway, dev, onlink: true, nhid }
        : { dst, family, table, protocol, type: 'unicast', scope: 'universe', gateway, dev, nhid };
    }
    return d.onlink
      ? { dst, family, table, protocol, type: 'unicast', scope: 'universe', gateway, dev, onlink: true }
      : { dst, family, table, protocol, type: 'unicast', scope: 'universe', gateway, dev };
  }
  const r: Route = {
    dst: d.dst,
    family,
    table: own.table,
    protocol: own.protocol,
    type: 'unicast',
    scope: 'universe',
    gateway: d.gateway,
    dev: d.dev as number,
  };
  if (d.onlink) r.onlink = true;
  if (d.nhid !== undefined) r.nhid = d.nhid;
  if (family === 6) r.metric = defaultMetric(6);
  return r;
}

/** The nexthop the kernel reports after `ip nexthop replace` of `d` under `own`. */
export function toNexthop(d: DesiredNexthop, own: Ownership): NexthopObject {
  // Built whole, as toRoute's records are.
  const { id, gateway } = d;
  const family = familyOf(gateway);
  const dev = d.dev as number;
  return d.onlink
    ? { id, family, protocol: own.protocol, kind: 'single', gateway, dev, onlink: true }
    : { id, family, protocol: own.protocol, kind: 'single', gateway, dev };
}

// The state of every entry netboot writes: one frozen list the mirror's thousands of records share
// (as a cached dump's do), not a list each.
const PERMANENT = Object.freeze(['permanent']) as Neigh['state'];

/** The neighbour the kernel reports after `ip neigh replace … nud permanent` of `d`. */
export function toNeigh(d: DesiredNeigh): Neigh {
  return { family: familyOf(d.dst), dev: d.dev as number, dst: d.dst, lladdr: d.lladdr, state: PERMANENT };
}

/** The FDB entry the kernel reports after `bridge fdb append … dst IP self permanent` of `d`. */
export function toFdb(d: DesiredFdb): Neigh {
  return { family: 'bridge', dev: d.dev as number, lladdr: d.lladdr, dst: d.dst, state: PERMANENT, self: true };
}

/** `current` with `plan` applied, as the kernel would then report it (what a successful apply leaves). */
export function applyPlan(current: CurrentState, plan: Plan, own: Ownership): CurrentState {
  const gone = new Set<object>([...plan.routes.del, ...plan.routes.replace.map((c) => c.from), ...plan.neighbours.del, ...plan.fdb.del, ...plan.nexthops.del]);
  for (const c of [...plan.neighbours.set, ...plan.nexthops.set]) if (c.from !== undefined) gone.add(c.from);
  // Deleting a nexthop takes the routes through it along.
  const dropped = new Set(plan.nexthops.del.map((n) => n.id));
  return {
    nexthops: [...(current.nexthops ?? []).filter((n) => !gone.has(n)), ...plan.nexthops.set.map((c) => toNexthop(c.to, own))],
    routes: [
      ...current.routes.filter((r) => !gone.has(r) && (r.nhid === undefined || !dropped.has(r.nhid))),
      ...plan.routes.add.map((d) => toRoute(d, own)),
      ...plan.routes.replace.map((c) => toRoute(c.to, own)),
    ],
    neighbours: [...current.neighbours.filter((n) => !gone.has(n)), ...plan.neighbours.set.map((c) => toNeigh(c.to))],
    fdb: [...current.fdb.filter((n) => !gone.has(n)), ...plan.fdb.add.map(toFdb)],
  };
}
