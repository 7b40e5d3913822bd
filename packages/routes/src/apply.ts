// Sends a Plan to the kernel in the order that keeps every route usable the moment it exists:
//   deletes first, routes before FDB before neighbours (nothing routes into an entry being removed);
//   then, per peer, neighbour → FDB → nexthop → route, each kind in one batch; stale nexthops last,
//   once no route of this pass names them (deleting a nexthop silently takes its routes along).
//   A peer whose neighbour, FDB or nexthop step fails gets no route, and a peer with any failure has its earlier steps of this pass rolled
//   back (deleted, or put back as they were), so a half-written peer never carries traffic.
// A route the kernel refuses as existing (EEXIST) is a route someone added at that destination since
// the dump: it becomes a conflict, read back and reported, and is not a failure.
import { isExist, isNotFound, type Neigh, type NeighSpec, type NexthopObject, type NexthopObjectSpec, type Route, type RouteSpec } from '@netboot/core';
import { emptyPlan, type Conflict, type Ownership, type Plan } from './diff.js';
import type { Kernel, DesiredFdb, DesiredNeigh, DesiredNexthop, DesiredRoute } from './types.js';

/** An operation the kernel refused, as the `ip`/`bridge` command it equals, with the kernel's error. */
export interface Failure {
  peer?: string;
  op: string;
  error: Error;
}

export interface Outcome {
  /** The operations that took effect (rolled-back ones excluded). */
  done: Plan;
  failures: Failure[];
  /** Destinations found taken by someone else's route while adding. */
  conflicts: Conflict[];
  /** A rollback failed too: what the kernel holds for that peer is unknown until the next full read. */
  unsure: boolean;
}

// The addresses go with their parsed forms where the records have them (dstParsed, gatewayParsed): core writes the
// requests from those without parsing the text again.
export function routeSpec(d: DesiredRoute, own: Ownership): RouteSpec {
  if (d.nhid !== undefined) return { dst: d.dst, nhid: d.nhid, table: own.table, protocol: own.protocol, dstParsed: d.dstParsed };
  const r: RouteSpec = {
    dst: d.dst,
    gateway: d.gateway,
    dev: d.dev,
    table: own.table,
    protocol: own.protocol,
    dstParsed: d.dstParsed,
    gatewayParsed: d.gatewayParsed,
  };
  if (d.onlink) r.onlink = true;
  return r;
}

function nexthopSpec(d: DesiredNexthop | NexthopObject, own: Ownership): NexthopObjectSpec {
  const n: NexthopObjectSpec = { id: d.id, gateway: d.gateway!, dev: d.dev!, protocol: own.protocol, gatewayParsed: (d as DesiredNexthop).gatewayParsed };
  if (d.onlink) n.onlink = true;
  return n;
}

const neighSpec = (n: DesiredNeigh | Neigh): NeighSpec => ({ dev: n.dev, dst: n.dst!, lladdr: n.lladdr!, state: 'permanent' });
// `state: 'permanent'` explicitly: an FDB entry on a VXLAN device must be PERMANENT or REACHABLE.
const fdbSpec = (n: DesiredFdb | Neigh): NeighSpec => ({ family: 'bridge', dev: n.dev, lladdr: n.lladdr!, dst: n.dst!, state: 'permanent' });

const describeRoute = (verb: string, r: RouteSpec): string =>
  `ip route ${verb} ${r.dst}${r.nhid !== undefined ? ` nhid ${r.nhid}` : ''}${r.gateway ? ` via ${r.gateway}` : ''}${r.dev !== undefined ? ` dev ${r.dev}` : ''}${r.onlink ? ' onlink' : ''}${r.protocol !== undefined ? ` proto ${r.protocol}` : ''}${r.table !== undefined ? ` table ${r.table}` : ''}`;
const describeNeigh = (verb: string, n: NeighSpec): string =>
  `ip neigh ${verb} ${n.dst}${verb === 'del' ? '' : ` lladdr ${n.lladdr} nud permanent`} dev ${n.dev}`;
const describeNexthop = (verb: string, n: NexthopObjectSpec): string =>
  `ip nexthop ${verb} id ${n.id}${verb === 'del' ? '' : ` via ${n.gateway} dev ${n.dev}${n.onlink ? ' onlink' : ''} proto ${n.protocol}`}`;
const describeFdb = (verb: string, n: NeighSpec): string =>
  `bridge fdb ${verb} ${n.lladdr} dev ${n.dev} dst ${n.dst}${verb === 'del' ? '' : ' self permanent'}`;

export function execute(rtnl: Kernel, plan: Plan, own: Ownership): Outcome {
  const out: Outcome = { done: emptyPlan(), failures: [], conflicts: [], unsure: false };
  const { done, failures } = out;
  const fail = (op: string, error: Error, peer?: string): void => void failures.push(peer === undefined ? { op, error } : { peer, op, error });
  const gone = (e: Error | undefined): boolean => e === undefined || isNotFound(e);

  // Deletes: routes, then FDB, then neighbours.
  rtnl.route.delMany(plan.routes.del).forEach((e, i) => {
    const r = plan.routes.del[i]!;
    if (gone(e)) done.routes.del.push(r);
    else fail(describeRoute('del', r), e!);
  });
  rtnl.neigh.delMany(plan.fdb.del.map(fdbSpec)).forEach((e, i) => {
    const n = plan.fdb.del[i]!;
    if (gone(e)) done.fdb.del.push(n);
    else fail(describeFdb('del', fdbSpec(n)), e!);
  });
  rtnl.neigh.delMany(plan.neighbours.del.map((n) => ({ dev: n.dev, dst: n.dst! }))).forEach((e, i) => {
    const n = plan.neighbours.del[i]!;
    if (gone(e)) done.neighbours.del.push(n);
    else fail(describeNeigh('del', neighSpec(n)), e!);
  });

  // Adds, per peer in order neighbour → FDB → route; a list is copied only to leave out a peer that failed.
  const failed = new Set<string>();
  const stepFailed = (peer: string, op: string, e: Error): void => {
    failed.add(peer);
    fail(op, e, peer);
  };
  // What took effect is the plan's own list where every operation of a batch did (a full apply's
  // thousands: no copy pushed one by one), else a new one without the failures.
  const neighbours = plan.neighbours.set;
  done.neighbours.set = succeeded(neighbours, rtnl.neigh.setMany(neighbours.map((c) => neighSpec(c.to))), (c, e) =>
    stepFailed(c.to.peer, describeNeigh('replace', neighSpec(c.to)), e),
  );
  const fdbAdds = failed.size === 0 ? plan.fdb.add : plan.fdb.add.filter((d) => !failed.has(d.peer));
  done.fdb.add = succeeded(fdbAdds, rtnl.neigh.setMany(fdbAdds.map(fdbSpec)), (d, e) => stepFailed(d.peer, describeFdb('replace', fdbSpec(d)), e));
  const nexthops = failed.size === 0 ? plan.nexthops.set : plan.nexthops.set.filter((c) => !failed.has(c.to.peer));
  done.nexthops.set = succeeded(nexthops, rtnl.nexthop.replaceMany(nexthops.map((c) => nexthopSpec(c.to, own))), (c, e) =>
    stepFailed(c.to.peer, describeNexthop('replace', nexthopSpec(c.to, own)), e),
  );
  const adds = failed.size === 0 ? plan.routes.add : plan.routes.add.filter((d) => !failed.has(d.peer));
  done.routes.add = succeeded(adds, rtnl.route.addMany(adds.map((d) => routeSpec(d, own))), (d, e) => {
    if (isExist(e)) out.conflicts.push(lateConflict(rtnl, d, own));
    else stepFailed(d.peer, describeRoute('add', routeSpec(d, own)), e);
  });
  const replaces = failed.size === 0 ? plan.routes.replace : plan.routes.replace.filter((c) => !failed.has(c.to.peer));
  done.routes.replace = succeeded(replaces, rtnl.route.replaceMany(replaces.map((c) => routeSpec(c.to, own))), (c, e) =>
    stepFailed(c.to.peer, describeRoute('replace', routeSpec(c.to, own)), e),
  );

  if (failed.size > 0) rollback(rtnl, out, failed, own);

  // Stale nexthops, now that no route of this pass goes through them.
  if (plan.nexthops.del.length > 0) {
    rtnl.nexthop.delMany(plan.nexthops.del.map((n) => n.id)).forEach((e, i) => {
      const n = plan.nexthops.del[i]!;
      if (gone(e)) done.nexthops.del.push(n);
      else fail(describeNexthop('del', nexthopSpec(n, own)), e!);
    });
  }
  return out;
}

/**
 * The items of `list` whose operation took effect (`errors[i]` undefined), in order: `list` itself
 * when every one did, else a new list; `failed` sees each of the others, in order.
 */
function succeeded<T>(list: T[], errors: readonly (Error | undefined)[], failed: (t: T, e: Error) => void): T[] {
  let out: T[] | undefined;
  for (let i = 0; i < list.length; i++) {
    const e = errors[i];
    if (e === undefined) out?.push(list[i]!);
    else {
      out ??= list.slice(0, i);
      failed(list[i]!, e);
    }
  }
  return out ?? list;
}

/** The routes now at `d.dst` that are not netboot's (someone added one between the dump and the add). */
function lateConflict(rtnl: Kernel, d: DesiredRoute, own: Ownership): Conflict {
  const routes = rtnl.route.list({ table: own.table, dst: d.dst }).filter((r: Route) => r.protocol !== own.protocol);
  return { peer: d.peer, dst: d.dst, table: own.table, routes };
}

/** Undoes this pass's additions for the failed peers, newest first, and drops them from `done`. */
function rollback(rtnl: Kernel, out: Outcome, failed: ReadonlySet<string>, own: Ownership): void {
  const { done } = out;
  const undo = (op: () => void): void => {
    try {
      op();
    } catch (e) {
      if (!isNotFound(e)) out.unsure = true;
    }
  };
  const mine = <T>(list: T[], peer: (t: T) => string): T[] => {
    const hit = list.filter((t) => failed.has(peer(t)));
    list.splice(0, list.length, ...list.filter((t) => !failed.has(peer(t))));
    return hit;
  };
  for (const c of mine(done.routes.replace, (c) => c.to.peer)) undo(() => rtnl.route.replace(c.from));
  for (const d of mine(done.routes.add, (d) => d.peer)) undo(() => rtnl.route.del(routeSpec(d, own)));
  for (const c of mine(done.nexthops.set, (c) => c.to.peer)) {
    const from = c.from;
    undo(() => (from !== undefined ? rtnl.nexthop.replace(nexthopSpec(from, own)) : rtnl.nexthop.del(c.to.id)));
  }
  for (const d of mine(done.fdb.add, (d) => d.peer)) undo(() => rtnl.neigh.del(fdbSpec(d)));
  for (const c of mine(done.neighbours.set, (c) => c.to.peer)) {
    const from = c.from;
    undo(() => (from?.state.includes('permanent') ? rtnl.neigh.set(neighSpec(from)) : rtnl.neigh.del({ dev: c.to.dev, dst: c.to.dst })));
  }
}
