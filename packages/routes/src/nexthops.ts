// Peer routes through nexthop objects (`ip nexthop add id N via GW dev D proto 78`, then
// `ip route add POD_CIDR nhid N proto 78`), the shape reconcile writes where the kernel has them.
//
// Why: the kernel hashes a plain route's fib_info by device, protocol, scope and metric but not by
// gateway, so every peer route through one uplink lands in one bucket and inserting N of them costs
// O(N²) (77 % of `ip -batch`'s CPU at 5,000 routes is fib_create_info + memcmp); a route naming a
// nexthop object skips that (5,000 routes: 63 ms instead of 285 ms of kernel time). A peer whose node
// IP changes is then one nexthop replace, whatever number of pod CIDRs it has.
//
// When: not for a small cluster. Per peer the nexthop shape is two kernel objects where the plain
// shape is one, and it only pays once the plain insert's O(N²) shows. Measured on this machine (2 cores,
// load 4–6, 2026-11-30): a full apply in a fresh namespace, in process, warm, the two shapes alternating,
// medians of 20 (9 at 2,000/5,000), process CPU (user+sys; sys sampled by the 4 ms tick, means):
//   host-gw   peers     100     250      500      700     1,000    2,000    5,000
//     plain   cpu ms   1.21    4.03  7.9–11.1    11.2   23–29       60      269
//             sys ms   0.22    2.0     2.9–3.1    5.6   10.4–12.7    35      210
//     nexthop cpu ms   2.00    4.66  10.1–15.2   20.4   25–30       49      111
//             sys ms   0.43    1.6     2.2–3.1    2.7    4.4–6.1    7.9     21.9
//   vxlan (cpu ms, plain / nexthop): 100 3.8 / 6.5, 250 7.8 / 8.0, 500 15–16 / 13–15, 700 30 / 32,
//   1,000 41–43 / 38–40, 2,000 88 / 73, 5,000 350 / 230.
// Below ~250 peers plain routes are cheaper (100 peers: 1.2 vs 2.0 ms host-gw, 3.8 vs 6.5 vxlan), from
// ~500 the kernel's share favours nexthops and grows (1,000: 4–6 vs 10–13 ms of sys), and in between
// the two cost the same. So 'auto' writes plain routes until a Network has NEXTHOP_PEERS (500) peers,
// then nexthop objects until it falls below half of that (250): the band between is where neither
// shape is dearer, so a cluster that hovers at one size does not flip back and forth. A flip is one
// pass of `ip route replace` over every route (a route is never absent: replace swaps it in place),
// and, going back to plain, the nexthops no route names any more deleted after.
//
// Ids: one nexthop per peer, family and gateway slot (host-gw: one per family, the node IP; vxlan:
// one per pod CIDR, its overlay gateway), numbered from a hash of (peer, family, slot) into a range
// netboot owns (NEXTHOP_IDS), so a peer keeps its ids across restarts and updates and a changed
// gateway is a replace at the same id. Two keys hashing to one id: the later takes the next free id.
// Ownership is the route protocol, as for routes, and the id range: a nexthop in the range with
// another protocol is someone else's, and is never touched.
import type { DesiredNexthop, DesiredRoute, PeerState } from './types.js';

/** The nexthop ids netboot may use: 0x4e000000 ('N' << 24) and the 2^24 − 1 after it. */
export const NEXTHOP_IDS = { first: 0x4e000000, last: 0x4effffff } as const;

/** From this many peers on, 'auto' routes through nexthop objects (see the top of this file). */
export const NEXTHOP_PEERS = 500;

/**
 * Whether a Network of `peers` peers routes through nexthop objects, given whether it does now
 * (`through`): from `at` peers on, and back to plain routes only below `at / 2`.
 */
export function wantsNexthops(through: boolean, peers: number, at: number): boolean {
  return peers >= (through ? at / 2 : at);
}

const SPAN = NEXTHOP_IDS.last - NEXTHOP_IDS.first + 1;

export function inNexthopRange(id: number): boolean {
  return id >= NEXTHOP_IDS.first && id <= NEXTHOP_IDS.last;
}

/** FNV-1a (32-bit) of a nexthop's key, the text `${peer} ${family} ${slot}`, without building it: stable across runs and Node versions. */
function keyHash(peer: string, family: 4 | 6, slot: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < peer.length; i++) h = Math.imul(h ^ peer.charCodeAt(i), 0x01000193) >>> 0;
  h = Math.imul(h ^ 32 /* space */, 0x01000193) >>> 0;
  h = Math.imul(h ^ (48 + family), 0x01000193) >>> 0;
  h = Math.imul(h ^ 32, 0x01000193) >>> 0;
  if (slot < 10) return Math.imul(h ^ (48 + slot), 0x01000193) >>> 0; // one digit: no text made
  const digits = String(slot);
  for (let i = 0; i < digits.length; i++) h = Math.imul(h ^ digits.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/**
 * The nexthop ids in use. A peer's ids are taken when its entries are wanted and released when they
 * are no longer (reconcile keeps them with the peer's keys), so no id is looked up by key: in a full
 * apply of thousands, one hash and one Set insert per nexthop, no key text to build and hash.
 */
export class NexthopIds {
  // Offsets into the range (small integers hash faster than ids above 2^31).
  readonly #taken = new Set<number>();

  /** An id for the peer's `slot`th nexthop of `family`: its key's hash in the range, or the next free one after it; held until released. */
  take(peer: string, family: 4 | 6, slot: number): number {
    let offset = keyHash(peer, family, slot) % SPAN;
    while (this.#taken.has(offset)) offset = (offset + 1) % SPAN;
    this.#taken.add(offset);
    return NEXTHOP_IDS.first + offset;
  }

  release(id: number): void {
    this.#taken.delete(id - NEXTHOP_IDS.first);
  }

  /** Every id free again. */
  clear(): void {
    this.#taken.clear();
  }
}

const familyOf = (address: string): 4 | 6 => (address.includes(':') ? 6 : 4);

/** Where throughNexthops hands its objects, as it makes them: no list or wrapper per peer. */
export interface ThroughSink {
  /** A nexthop of the peer (a new object: the caller may resolve its device in place). */
  nexthop(n: DesiredNexthop): void;
  /** One of the peer's routes, in order, naming its nexthop by `nhid` (a new object too). */
  route(r: DesiredRoute): void;
}

/**
 * A peer's routes through nexthop objects: each distinct (gateway, device, onlink) of a family
 * becomes one DesiredNexthop, and the routes (new objects) name it by `nhid`; both go to `sink`,
 * the routes in order, then the nexthops.
 * `ids` numbers them; the ids taken are returned (undefined: none) for the caller to release when
 * the peer's entries go, or released here if the sink throws. Hot (once per peer in a full pass
 * over thousands, often before the JIT has made it fast): a peer has a few routes, so a linear
 * search, plain loops, no list unless a peer has more than one nexthop, and routes built whole (each
 * shape one literal) rather than spread.
 */
export function throughNexthops(peer: string, state: PeerState, ids: NexthopIds, sink: ThroughSink): number[] | undefined {
  // The peer's first nexthop in a variable, the others (another family, another gateway) in a list.
  let first: DesiredNexthop | undefined;
  let more: DesiredNexthop[] | undefined;
  // The ids taken, kept by the caller: a list made at its length.
  let taken: number[] | undefined;
  let v4 = 0;
  let v6 = 0;
  const routes = state.routes;
  try {
    for (let i = 0; i < routes.length; i++) {
      const r = routes[i]!;
      const onlink = r.onlink === true;
      let nh = first !== undefined && sameHop(first, r, onlink) ? first : undefined;
      for (let j = 0; nh === undefined && more !== undefined && j < more.length; j++) if (sameHop(more[j]!, r, onlink)) nh = more[j];
      if (nh === undefined) {
        const id = familyOf(r.gateway) === 4 ? ids.take(peer, 4, v4++) : ids.take(peer, 6, v6++);
        // Each shape built whole: a property added after the literal is a backing store more, per peer.
        nh = onlink
          ? { peer, id, gateway: r.gateway, dev: r.dev, onlink: true, gatewayParsed: r.gatewayParsed }
          : { peer, id, gateway: r.gateway, dev: r.dev, gatewayParsed: r.gatewayParsed };
        taken = taken === undefined ? [id] : [...taken, id];
        if (first === undefined) first = nh;
        else if (more === undefined) more = [nh];
        else more.push(nh);
      }
      sink.route(
        r.onlink !== undefined
          ? { peer: r.peer, dst: r.dst, gateway: r.gateway, dev: r.dev, onlink: r.onlink, nhid: nh.id, dstParsed: r.dstParsed }
          : { peer: r.peer, dst: r.dst, gateway: r.gateway, dev: r.dev, nhid: nh.id, dstParsed: r.dstParsed },
      );
    }
    // Handed over last: the sink may resolve a nexthop's device in place, and the search above
    // compares devices as the routes give them.
    if (first !== undefined) sink.nexthop(first);
    for (let j = 0; more !== undefined && j < more.length; j++) sink.nexthop(more[j]!);
  } catch (e) {
    // The sink threw (a device that does not exist): the caller never gets these ids to keep, so
    // they go back now, or a retry would take the next ones and leave the kernel's at these.
    for (let j = 0; taken !== undefined && j < taken.length; j++) ids.release(taken[j]!);
    throw e;
  }
  return taken;
}

/** Whether route `r` (onlink or not) goes through nexthop `n`. */
function sameHop(n: DesiredNexthop, r: DesiredRoute, onlink: boolean): boolean {
  return n.gateway === r.gateway && n.dev === r.dev && (n.onlink === true) === onlink;
}
