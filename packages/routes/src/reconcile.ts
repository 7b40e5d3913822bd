// Desired state → kernel, touching only what netboot owns (see diff.ts), in O(change).
//
// A Reconciler keeps two indexes: what is wanted (per key, and which keys each peer has) and a
// mirror of what the kernel holds for netboot's table and device. A full pass reads the kernel
// once per object kind (a route dump filtered by table, neighbour and FDB dumps filtered by device,
// all filtered by the kernel), diffs everything and applies the plan. After that:
//  - update(peer changes) diffs only the keys those peers had and have now, against the mirror, so
//    one changed peer costs a handful of operations whatever the cluster's size;
//  - observe(monitor event) folds the kernel's news into the mirror and marks the key dirty, and
//    repair() diffs only the dirty keys — an entry deleted or changed by hand comes back;
//  - a nexthop deleted by hand takes its routes along without a route event (the kernel's way): its
//    RTM_DELNEXTHOP drops them from the mirror and marks the peer's keys, so repair() writes both back;
//  - a device event makes repair() read the device back: if it is gone, recreated or not as specified,
//    and after a monitor overrun, a full pass (resync) runs again; resync() re-resolves device names,
//    so entries follow a recreated device to its new ifindex.
import {
  decodeLink,
  decodeNeigh,
  decodeNexthop,
  decodeRoute,
  DumpCache,
  isNeigh,
  isNexthop,
  isNotFound,
  isRoute,
  neighAt,
  NetlinkError,
  nexthopIdAt,
  routeDstAt,
  type MonitorEvent,
  type Neigh,
  type NexthopObject,
  type Route,
} from '@netboot/core';
import { execute, type Failure } from './apply.js';
import { deviceMatches, ensureDevice, type DeviceReport } from './device.js';
import {
  diffIndexed,
  emptyPlan,
  fdbKey,
  neighKey,
  NETBOOT_PROTOCOL,
  ownsFdb,
  ownsNexthop,
  ownsRoute,
  planSize,
  routeKey,
  toFdb,
  toNeigh,
  toNexthop,
  toRoute,
  type Conflict,
  type CurrentIndex,
  type DesiredIndex,
  type Ownership,
  type Plan,
} from './diff.js';
import type { Kernel, DesiredFdb, DesiredNeigh, DesiredNexthop, DesiredRoute, DesiredState, DeviceSpec, PeerState, Refusal } from './types.js';
import { inNexthopRange, NEXTHOP_PEERS, NexthopIds, throughNexthops, wantsNexthops, type ThroughSink } from './nexthops.js';
import { InvalidPeerError } from './errors.js';

export interface ReconcileOptions {
  /** Routing table for netboot's routes; default main (254). */
  table?: number;
  /** Route protocol that marks netboot's routes (and nexthop objects); default NETBOOT_PROTOCOL (78). */
  protocol?: number;
  /**
   * Routes through nexthop objects (`ip route … nhid N`): 'auto' (default) where the kernel has them
   * (5.3 and later) and the cluster is large enough (`nexthopPeers`), 'always' (an error where the
   * kernel has not), or 'never' (plain `via` routes).
   */
  nexthops?: 'auto' | 'always' | 'never';
  /**
   * 'auto': from this many peers on, routes go through nexthop objects; back to plain `via` routes
   * below half of it. Default NEXTHOP_PEERS (500; see nexthops.ts for the measurements).
   */
  nexthopPeers?: number;
}

/** What one pass did: the operations that took effect, what is in the way, what failed. */
export interface Report {
  pass: 'full' | 'update' | 'repair';
  device?: DeviceReport;
  changed: Plan;
  /** Operations that took effect (the size of `changed`). */
  operations: number;
  conflicts: Conflict[];
  failures: Failure[];
  refused: Refusal[];
  ms: number;
}

type Keys = { nexthops: Set<number>; routes: Set<string>; neighbours: Set<string>; fdb: Set<string> };
const noKeys = (): Keys => ({ nexthops: new Set(), routes: new Set(), neighbours: new Set(), fdb: new Set() });
// Routes go through nexthop objects (nexthops.ts) when the kernel has them — probed once, by the first
// nexthop dump, unless ReconcileOptions.nexthops says otherwise — and, for 'auto', the cluster is
// large enough; the shape is chosen at each full pass and at each update that changes the peer count.
//
// A peer's own keys: a handful each, kept for thousands of peers, so arrays rather than three Sets.
// `ids` are the peer's nexthop ids, taken in NexthopIds and released there when it goes.
type PeerKeys = {
  readonly routes: readonly string[];
  readonly neighbours: readonly string[];
  readonly fdb: readonly string[];
  readonly ids: readonly number[];
};
/** The keys of a kind a peer has none of: one shared empty list rather than one per peer. */
const NONE: readonly never[] = Object.freeze([]);
/** Per kind, the listing the mirror was built from and the device it was built under (see #rebuild). */
type Built = Partial<Record<'nexthops' | 'routes' | 'neighbours' | 'fdb', { list: readonly object[]; device: number | undefined }>>;
/** Nothing built yet, or the mirror changed since (shared: thousands of monitor events reset it). */
const UNBUILT: Built = Object.freeze({});

export class Reconciler {
  readonly own: Ownership;
  readonly #rtnl: Kernel;
  #device: DeviceSpec | undefined;
  // Each peer's entries as given (devices by name), kept to resolve again when a device is recreated.
  readonly #source = new Map<string, PeerState>();
  // Wanted entries by key, devices resolved to ifindexes, and the keys each peer owns.
  readonly #want = {
    nexthops: new Map<number, DesiredNexthop>(),
    routes: new Map<string, DesiredRoute>(),
    neighbours: new Map<string, DesiredNeigh>(),
    fdb: new Map<string, DesiredFdb>(),
  };
  readonly #peers = new Map<string, PeerKeys>();
  // throughNexthops' objects go straight into the wanted index, devices resolved in place.
  readonly #toWanted: ThroughSink = {
    nexthop: (n) => {
      n.dev = this.#ifindex(n.dev);
      this.#want.nexthops.set(n.id, n);
    },
    route: (r) => {
      r.dev = this.#ifindex(r.dev);
      this.#want.routes.set(routeKey(this.own.table, r.dst), r);
    },
  };
  // The kernel: nexthops in netboot's id range, every route of the table, the neighbour and FDB
  // entries of the device.
  readonly #nexthops = new Map<number, NexthopObject>();
  readonly #routes = new Map<string, Route[]>();
  readonly #neighbours = new Map<string, Neigh>();
  readonly #fdb = new Map<string, Neigh>();
  // A resync re-reads all of it: each dump through a cache decodes only the entries whose bytes
  // changed since the last one, and a kind whose listing is the very one the mirror was built from
  // (the same objects, nothing folded or observed since, the same device) keeps its mirror as is.
  readonly #caches = {
    nexthops: new DumpCache<NexthopObject>(),
    routes: new DumpCache<Route>(),
    neighbours: new DumpCache<Neigh>(),
    fdb: new DumpCache<Neigh>(),
  };
  #built: Built = UNBUILT;
  // The mirror records the caches' known and intern listed for themselves during the current read of the kernel.
  readonly #interned = new Set<object>();
  #dirty = noKeys();
  // A link event named the device: repair() reads it back and resyncs if it is not as specified.
  #deviceDirty = false;
  #needsFull = true;
  readonly #index = new Map<string, number>();
  readonly #ids = new NexthopIds();
  readonly #nexthopMode: NonNullable<ReconcileOptions['nexthops']>;
  readonly #nexthopPeers: number;
  // Whether the kernel has nexthop objects (false for 'never': not asked); undefined until probed.
  #hasNexthops: boolean | undefined;
  // Whether the wanted routes go through nexthop objects (the shape #want is built in).
  #through = false;
  // False while a rebuild of #want has not finished (a peer's #wantPeer threw part-way): the next full
  // pass builds it again, or its diff would delete the kernel entries of every peer not yet re-wanted.
  #wantWhole = true;

  constructor(rtnl: Kernel, opts: ReconcileOptions = {}) {
    this.#rtnl = rtnl;
    this.own = { table: opts.table ?? 254, protocol: opts.protocol ?? NETBOOT_PROTOCOL };
    this.#nexthopMode = opts.nexthops ?? 'auto';
    this.#nexthopPeers = opts.nexthopPeers ?? NEXTHOP_PEERS;
    if (this.#nexthopMode === 'never') this.#hasNexthops = false;
    // A dumped entry the mirror already holds, field for field, is listed as the mirror's own record:
    // the decoded copy dies young, and #rebuild finds the mirror confirmed rather than rebuilding it.
    // Each record is handed back once per read of the kernel and noted (#interned): #rebuild then
    // knows it mirrored without building its key again.
    const confirm = <T extends object>(x: T | undefined, n: T): T => (x === undefined || this.#interned.has(x) || !sameRecord(x, n) ? n : this.#note(x));
    this.#caches.nexthops.intern = (n) => confirm(this.#nexthops.get(n.id), n);
    this.#caches.routes.intern = (r) => {
      const list = this.#routes.get(routeKey(r.table, r.dst));
      for (let i = 0; list !== undefined && i < list.length; i++) if (confirm(list[i], r) !== r) return list[i]!;
      return r;
    };
    this.#caches.neighbours.intern = this.#caches.fdb.intern = (n) =>
      confirm(n.family === 'bridge' ? this.#fdb.get(fdbKey(n.dev, n.lladdr, n.dst)) : this.#neighbours.get(neighKey(n.dev, n.dst)), n);
    // Before that, a message that is a mirror record field for field (core's isRoute & co. compare its
    // bytes with the record) is listed as the record without being decoded at all: the first resync
    // after an apply, every entry new to the caches, then makes no object per entry, at most its key.
    const unnoted = <T extends object>(x: T | undefined): x is T => x !== undefined && !this.#interned.has(x);
    this.#caches.nexthops.known = (buf, off, end) => {
      const x = this.#nexthops.get(nexthopIdAt(buf, off, end));
      return unnoted(x) && isNexthop(x, buf, off, end) ? this.#note(x) : undefined;
    };
    this.#caches.routes.known = (buf, off, end) => {
      const dst = routeDstAt(buf, off, end);
      const list = dst === undefined ? undefined : this.#routes.get(routeKey(this.own.table, dst));
      for (let i = 0; list !== undefined && i < list.length; i++) if (unnoted(list[i]) && isRoute(list[i]!, buf, off, end)) return this.#note(list[i]!);
      return undefined;
    };
    this.#caches.neighbours.known = (buf, off, end) => {
      const k = neighAt(buf, off, end);
      const x = k === undefined || k.family === 'bridge' ? undefined : this.#neighbours.get(neighKey(k.dev, k.dst));
      return unnoted(x) && isNeigh(x, buf, off, end) ? this.#note(x) : undefined;
    };
    this.#caches.fdb.known = (buf, off, end) => {
      const k = neighAt(buf, off, end);
      const x = k?.family !== 'bridge' ? undefined : this.#fdb.get(fdbKey(k.dev, k.lladdr, k.dst));
      return unnoted(x) && isNeigh(x, buf, off, end) ? this.#note(x) : undefined;
    };
  }

  /** Notes a mirror record a dump listed for itself (see #interned). */
  #note<T extends object>(x: T): T {
    this.#interned.add(x);
    return x;
  }

  /**
   * Whether routes may go through nexthop objects here: for 'auto', one nexthop dump the first time
   * asks the kernel (EOPNOTSUPP: a kernel without them). The Network asks before it chooses monitor groups.
   */
  nexthopsAvailable(): boolean {
    if (this.#hasNexthops === undefined) this.#readNexthops();
    return this.#hasNexthops!;
  }

  /** Whether the routes of the last pass went through nexthop objects (`ip route … nhid N`) rather than `via`. */
  usesNexthops(): boolean {
    return this.#through;
  }

  /**
   * Whether only a full pass can bring the mirror back in line (start, overrun, device changed), or
   * the wanted index: a rebuild of it threw part-way, and a repair or update against half of it could
   * delete what the other half wants.
   */
  get needsFull(): boolean {
    return this.#needsFull || !this.#wantWhole;
  }

  /** Whether observed events or failed operations left keys for repair(). */
  get dirty(): boolean {
    const d = this.#dirty;
    return this.#deviceDirty || d.nexthops.size + d.routes.size + d.neighbours.size + d.fdb.size > 0;
  }

  /** Makes the kernel match `desired` exactly: device, then one dump per kind, diff, apply. */
  full(desired: DesiredState): Report {
    this.#device = desired.device;
    this.#source.clear();
    // Index loops (an iterator result per entry where the JIT has not yet optimized this), and a
    // mode lists a peer's entries together: the last peer's state is reused without a lookup.
    let last: PeerState | undefined;
    const { routes, neighbours, fdb } = desired;
    for (let i = 0; i < routes.length; i++) {
      const r = routes[i]!;
      const s = last !== undefined && r.peer === routes[i - 1]!.peer ? last : peerState(this.#source, r.peer);
      s.routes = append(s.routes, r);
      last = s;
    }
    for (let i = 0; i < neighbours.length; i++) {
      const s = peerState(this.#source, neighbours[i]!.peer);
      s.neighbours = append(s.neighbours, neighbours[i]!);
    }
    for (let i = 0; i < fdb.length; i++) {
      const s = peerState(this.#source, fdb[i]!.peer);
      s.fdb = append(s.fdb, fdb[i]!);
    }
    return this.#fullPass([...desired.refused], true);
  }

  /** A full pass against what is already wanted (the resync timer, an overrun, a repaired device). */
  resync(): Report {
    return this.#fullPass([], false);
  }

  /**
   * Peers added, changed (a new state) or removed (undefined): only their keys are diffed and
   * written. A peer whose pod CIDR another peer already holds is refused.
   */
  update(changes: ReadonlyMap<string, PeerState | undefined>, refused: Refusal[] = []): Report {
    const t0 = performance.now();
    let peers = this.#source.size;
    for (const [peer, state] of changes) peers += (state === undefined ? 0 : 1) - (this.#source.has(peer) ? 1 : 0);
    if (this.#shapeFor(peers) !== this.#through) {
      // The cluster crossed the size where the shape changes: every route moves to the other shape
      // (a replace, so never absent), against the mirror, without reading the kernel again.
      for (const [peer, state] of changes) {
        if (state === undefined) this.#source.delete(peer);
        else this.#source.set(peer, state);
      }
      this.#through = !this.#through;
      this.#rewant(refused);
      return this.#apply('update', this.#mirror(), this.#want, t0, refused);
    }
    const keys = noKeys();
    for (const [peer, state] of changes) {
      const old = this.#peers.get(peer);
      if (old !== undefined) {
        this.#addKeys(keys, old);
        this.#forget(peer, old);
      }
      const prev = this.#source.get(peer);
      this.#source.delete(peer);
      let wanted: PeerKeys | undefined;
      try {
        wanted = state === undefined ? undefined : this.#wantPeer(peer, state, refused);
      } catch (e) {
        // Its old entries were forgotten above: it keeps its previous state, and the next full pass
        // rebuilds the index from it, or its resync would delete the routes the change failed to replace.
        if (prev !== undefined) {
          this.#source.set(peer, prev);
          this.#wantWhole = false;
        }
        throw e;
      }
      if (wanted === undefined) continue;
      this.#source.set(peer, state!);
      this.#addKeys(keys, wanted);
    }
    return this.#run('update', keys, t0, refused);
  }

  /**
   * Folds a monitor event into the mirror. True when something may need repair() (a wanted or owned
   * key changed, the device) or a full pass (events lost: see needsFull).
   */
  observe(ev: MonitorEvent): boolean {
    if (ev.kind === 'overrun') return (this.#needsFull = true);
    if (ev.kind === 'nexthop' || ev.kind === 'route' || ev.kind === 'neigh') this.#built = UNBUILT;
    if (ev.kind === 'addr' || (ev.kind === 'link' && ev.message.header.ifi_index !== this.own.device)) {
      // An uplink lost or gained an address, or changed state: the kernel flushes the routes through
      // it without a word (no RTM_DELROUTE), so read everything again.
      const index = ev.kind === 'addr' ? ev.message.header.ifa_index : ev.message.header.ifi_index;
      if (!this.uplinks().has(index ?? 0)) return false;
      return (this.#needsFull = true);
    }
    if (ev.kind === 'link') {
      if (this.#device === undefined) return false;
      // The event may be an echo of an older state (the device coming up after its creation): judge
      // the device as it is now, in repair().
      const link = decodeLink(ev.message);
      if (link.index !== this.own.device && link.name !== this.#device.name) return false;
      return (this.#deviceDirty = true);
    }
    if (ev.kind === 'nexthop') {
      const n = decodeNexthop(ev.message);
      if (!inNexthopRange(n.id)) return false;
      const had = this.#nexthops.has(n.id);
      if (ev.action === 'new') this.#nexthops.set(n.id, n);
      else this.#nexthops.delete(n.id);
      const want = this.#want.nexthops.get(n.id);
      if (want === undefined && !ownsNexthop(n, this.own)) return false;
      this.#dirty.nexthops.add(n.id);
      // Gone from under its routes: the kernel dropped them too, without a word. (Our own deletes
      // were folded already, so `had` is false for their echoes and nothing is scanned.)
      if (ev.action === 'del' && had) this.#dropRoutesVia(n.id, want === undefined ? undefined : this.#peers.get(want.peer)?.routes);
      return true;
    }
    if (ev.kind === 'route') {
      const r = decodeRoute(ev.message);
      if (r.table !== this.own.table) return false;
      const key = routeKey(r.table, r.dst);
      // The kernel keys a route by (table, dst, metric): a new one replaces the one at its metric.
      const list = (this.#routes.get(key) ?? []).filter((x) => (x.metric ?? 0) !== (r.metric ?? 0) || (ev.action === 'del' && x.protocol !== r.protocol));
      if (ev.action === 'new') list.push(r);
      setList(this.#routes, key, list);
      if (!this.#want.routes.has(key) && !ownsRoute(r, this.own)) return false;
      this.#dirty.routes.add(key);
      return true;
    }
    if (ev.kind === 'neigh') {
      const n = decodeNeigh(ev.message);
      if (this.own.device === undefined || n.dev !== this.own.device) return false;
      const bridge = n.family === 'bridge';
      const key = bridge ? fdbKey(n.dev, n.lladdr, n.dst) : neighKey(n.dev, n.dst);
      const mirror = bridge ? this.#fdb : this.#neighbours;
      if (bridge && !ownsFdb(n, this.own)) return false;
      if (ev.action === 'new') mirror.set(key, n);
      else mirror.delete(key);
      const wanted = bridge ? this.#want.fdb.has(key) : this.#want.neighbours.has(key);
      if (!wanted && !(bridge || n.state.includes('permanent'))) return false;
      (bridge ? this.#dirty.fdb : this.#dirty.neighbours).add(key);
      return true;
    }
    return false;
  }

  /** Diffs and writes only the keys observe() or failed operations marked. */
  repair(): Report {
    if (this.#deviceDirty && this.#device !== undefined) {
      this.#deviceDirty = false;
      const link = this.#rtnl.link.find(this.#device.name);
      if (link === undefined || link.index !== this.own.device || !deviceMatches(this.#rtnl, link, this.#device)) return this.resync();
    }
    this.#deviceDirty = false;
    const keys = this.#dirty;
    this.#dirty = noKeys();
    return this.#run('repair', keys, performance.now(), []);
  }

  /**
   * Device, kernel read, and the wanted index (rebuilt when asked, or when a device it refers to has
   * a new ifindex — a recreated device), then a diff of every key.
   */
  #fullPass(refused: Refusal[], rebuild: boolean): Report {
    const t0 = performance.now();
    const device = this.#readKernel();
    const through = this.#shapeFor(this.#source.size);
    const moved = this.#reresolve();
    if (moved || rebuild || !this.#wantWhole || through !== this.#through) {
      this.#through = through;
      this.#rewant(refused);
    }
    this.#dirty = noKeys();
    // Every key: the whole mirror against everything wanted, both already keyed.
    return this.#apply('full', this.#mirror(), this.#want, t0, refused, device);
  }

  /** The whole mirror, as a diff's current state. */
  #mirror(): CurrentIndex {
    return { nexthops: this.#nexthops, routes: this.#routes, neighbours: this.#neighbours, fdb: this.#fdb };
  }

  /** The wanted index built again from every peer's entries, in the current shape. */
  #rewant(refused: Refusal[]): void {
    this.#wantWhole = false;
    this.#want.nexthops.clear();
    this.#want.routes.clear();
    this.#want.neighbours.clear();
    this.#want.fdb.clear();
    // Every peer's ids go: NexthopIds holds only those of the peers in #peers.
    this.#ids.clear();
    this.#peers.clear();
    this.#source.forEach((state, peer) => {
      if (this.#wantPeer(peer, state, refused) === undefined) this.#source.delete(peer);
    });
    this.#wantWhole = true;
  }

  /** The shape for a cluster of `peers` peers (nexthops.ts): the kernel's, the option's, then the size's. */
  #shapeFor(peers: number): boolean {
    if (this.#hasNexthops !== true) return false;
    return this.#nexthopMode === 'always' || wantsNexthops(this.#through, peers, this.#nexthopPeers);
  }

  /** Ensures the device, then reads the table and the device's entries into the mirror. */
  #readKernel(): DeviceReport | undefined {
    const rtnl = this.#rtnl;
    let device: DeviceReport | undefined;
    if (this.#device !== undefined) {
      device = ensureDevice(rtnl, this.#device);
      this.own.device = device.index;
    } else delete this.own.device;
    this.#interned.clear();
    this.#readNexthops();
    const routes = rtnl.route.list({ table: this.own.table }, this.#caches.routes);
    let held = 0;
    for (const list of this.#routes.values()) held += list.length;
    const mirrored = (r: Route): boolean => this.#routes.get(routeKey(r.table, r.dst))?.includes(r) === true;
    if (this.#rebuild('routes', routes, () => true, mirrored, held)) {
      this.#routes.clear();
      for (const r of routes) pushList(this.#routes, routeKey(r.table, r.dst), r);
    }
    const dev = this.own.device;
    const neighbours = dev === undefined ? NONE : rtnl.neigh.list({ dev }, this.#caches.neighbours);
    const neighMirrored = (n: Neigh): boolean => this.#neighbours.get(neighKey(n.dev, n.dst)) === n;
    if (this.#rebuild('neighbours', neighbours, (n) => n.family !== 'bridge', neighMirrored, this.#neighbours.size)) {
      this.#neighbours.clear();
      for (const n of neighbours) if (n.family !== 'bridge') this.#neighbours.set(neighKey(n.dev, n.dst), n);
    }
    const fdb = dev === undefined ? NONE : rtnl.neigh.list({ family: 'bridge', dev }, this.#caches.fdb);
    const fdbMirrored = (n: Neigh): boolean => this.#fdb.get(fdbKey(n.dev, n.lladdr, n.dst)) === n;
    if (this.#rebuild('fdb', fdb, (n) => ownsFdb(n, this.own), fdbMirrored, this.#fdb.size)) {
      this.#fdb.clear();
      for (const n of fdb) if (ownsFdb(n, this.own)) this.#fdb.set(fdbKey(n.dev, n.lladdr, n.dst), n);
    }
    this.#interned.clear();
    this.#needsFull = false;
    return device;
  }

  /**
   * Whether the mirror of `kind` must be built again from `list`: not when it was built from these
   * very objects (the dump cache hands back the same object for the same bytes) under the same
   * device, and nothing was folded or observed into it since; nor when every entry it would hold
   * (`kept`) is one it holds already (`mirrored`: the cache's intern handed the mirror's own record
   * back for an entry that was new to the cache, the first resync after an apply) and it holds
   * `held` entries, no more. Records `list` as what it is built from.
   */
  #rebuild<T extends object>(kind: keyof Built, list: readonly T[], kept: (x: T) => boolean, mirrored: (x: T) => boolean, held: number): boolean {
    const was = this.#built[kind];
    this.#built = { ...this.#built, [kind]: { list, device: this.own.device } };
    if (was !== undefined && was.device === this.own.device && was.list.length === list.length) {
      let same = true;
      for (let i = 0; same && i < list.length; i++) same = was.list[i] === list[i];
      if (same) return false;
    }
    // Each a different record: two entries the kernel keeps apart (a TOS, say) can decode alike.
    const seen = new Set<T>();
    for (const x of list) {
      if (!kept(x)) continue;
      if (!(this.#interned.has(x) || mirrored(x)) || seen.has(x)) return true;
      seen.add(x);
    }
    return seen.size !== held;
  }

  /**
   * Reads the nexthops in netboot's range into the mirror; the first read also settles #hasNexthops.
   * Read in either shape: owned nexthops left from the other one (or an earlier run) must go.
   */
  #readNexthops(): void {
    if (this.#hasNexthops === false) {
      this.#nexthops.clear();
      this.#built = { ...this.#built, nexthops: undefined };
      return;
    }
    let list: NexthopObject[];
    try {
      list = this.#rtnl.nexthop.list({}, this.#caches.nexthops);
    } catch (e) {
      // No RTM_GETNEXTHOP handler: a kernel before 5.3, or one built without nexthop objects.
      if (this.#hasNexthops !== undefined || this.#nexthopMode === 'always' || !(e instanceof NetlinkError && e.code === 'EOPNOTSUPP')) throw e;
      this.#hasNexthops = false;
      this.#nexthops.clear();
      return;
    }
    this.#hasNexthops = true;
    const mirrored = (n: NexthopObject): boolean => this.#nexthops.get(n.id) === n;
    if (!this.#rebuild('nexthops', list, (n) => inNexthopRange(n.id), mirrored, this.#nexthops.size)) return;
    this.#nexthops.clear();
    for (const n of list) if (inNexthopRange(n.id)) this.#nexthops.set(n.id, n);
  }

  /** Drops from the mirror the routes through nexthop `id` (at `keys`, or anywhere), marking their keys. */
  #dropRoutesVia(id: number, keys: readonly string[] | undefined): void {
    this.#built = UNBUILT;
    for (const key of keys ?? [...this.#routes.keys()]) {
      const list = this.#routes.get(key);
      if (list === undefined || !list.some((r) => r.nhid === id)) continue;
      setList(
        this.#routes,
        key,
        list.filter((r) => r.nhid !== id),
      );
      this.#dirty.routes.add(key);
    }
  }

  /** Looks the devices named so far up again; true if any has another ifindex (or is gone). */
  #reresolve(): boolean {
    let moved = false;
    for (const [name, was] of this.#index) {
      let now: number | undefined;
      try {
        now = this.#lookup(name);
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
      if (now === was) continue;
      moved = true;
      if (now === undefined) this.#index.delete(name);
      else this.#index.set(name, now);
    }
    return moved;
  }

  /**
   * The ifindexes of the devices netboot's routes go through, other than its own device (an address
   * or state change there is a full pass: see observe). Changes only in a pass.
   */
  uplinks(): Set<number> {
    const out = new Set(this.#index.values());
    if (this.own.device !== undefined) out.delete(this.own.device);
    return out;
  }

  #lookup(name: string): number {
    return name === this.#device?.name && this.own.device !== undefined ? this.own.device : this.#rtnl.link.index(name);
  }

  /** Records a peer's wanted entries (devices resolved); refuses it (undefined) if a route key is another peer's. */
  #wantPeer(peer: string, given: PeerState, refused: Refusal[]): PeerKeys | undefined {
    // The lists kept per peer are made at their exact length (see `append`).
    const routeKeys = new Array<string>(given.routes.length);
    for (let i = 0; i < given.routes.length; i++) {
      const r = given.routes[i]!;
      const k = routeKey(this.own.table, r.dst);
      const holder = this.#want.routes.get(k)?.peer;
      if (holder !== undefined && holder !== peer) {
        refused.push({ peer, error: new InvalidPeerError(peer, `pod CIDR ${r.dst} is already ${JSON.stringify(holder)}'s`) });
        return undefined;
      }
      routeKeys[i] = k;
    }
    // throughNexthops makes new objects and hands them to #toWanted (resolved there in place); the
    // mode's are copied. Once per peer in a full apply of thousands, often before the JIT has made it
    // fast: plain loops.
    let ids: readonly number[] = NONE;
    // Kept from their first entry on, so a throw part-way forgets the ones already wanted (the rest
    // of a list is holes: no entry is found at them).
    let neighbours: readonly string[] = NONE;
    let fdb: readonly string[] = NONE;
    try {
      if (this.#through) ids = throughNexthops(peer, given, this.#ids, this.#toWanted) ?? NONE;
      else
        for (let i = 0; i < given.routes.length; i++) {
          const r = { ...given.routes[i]! };
          r.dev = this.#ifindex(r.dev);
          this.#want.routes.set(routeKeys[i]!, r);
        }
      if (given.neighbours.length > 0) {
        const keys = new Array<string>(given.neighbours.length);
        neighbours = keys;
        for (let i = 0; i < keys.length; i++) {
          const n = given.neighbours[i]!;
          const d: DesiredNeigh = { peer: n.peer, dst: n.dst, lladdr: n.lladdr, dev: this.#ifindex(n.dev) };
          const k = neighKey(d.dev, d.dst);
          this.#want.neighbours.set(k, d);
          keys[i] = k;
        }
      }
      if (given.fdb.length > 0) {
        const keys = new Array<string>(given.fdb.length);
        fdb = keys;
        for (let i = 0; i < keys.length; i++) {
          const f = given.fdb[i]!;
          const d: DesiredFdb = { peer: f.peer, lladdr: f.lladdr, dst: f.dst, dev: this.#ifindex(f.dev) };
          const k = fdbKey(d.dev, d.lladdr, d.dst);
          this.#want.fdb.set(k, d);
          keys[i] = k;
        }
      }
      const keys: PeerKeys = { routes: routeKeys, neighbours, fdb, ids };
      this.#peers.set(peer, keys);
      return keys;
    } catch (e) {
      // A device that does not exist: the peer is not kept, so its nexthop ids go back (a retry takes
      // the same ones, and replaces the kernel's at them) with the wanted routes and nexthops naming
      // them, and the neighbour and FDB entries it already wanted. throughNexthops gave back its own
      // if it was the one that threw.
      this.#forget(peer, { routes: routeKeys, neighbours, fdb, ids });
      throw e;
    }
  }

  #forget(peer: string, keys: PeerKeys): void {
    for (const id of keys.ids) {
      if (this.#want.nexthops.get(id)?.peer === peer) this.#want.nexthops.delete(id);
      this.#ids.release(id);
    }
    for (const k of keys.routes) if (this.#want.routes.get(k)?.peer === peer) this.#want.routes.delete(k);
    for (const k of keys.neighbours) if (this.#want.neighbours.get(k)?.peer === peer) this.#want.neighbours.delete(k);
    for (const k of keys.fdb) if (this.#want.fdb.get(k)?.peer === peer) this.#want.fdb.delete(k);
    this.#peers.delete(peer);
  }

  /** A peer's keys into `into`, its nexthops by id. */
  #addKeys(into: Keys, from: PeerKeys): void {
    for (const id of from.ids) into.nexthops.add(id);
    for (const k of from.routes) into.routes.add(k);
    for (const k of from.neighbours) into.neighbours.add(k);
    for (const k of from.fdb) into.fdb.add(k);
  }

  /** A device name → ifindex, looked up once and again at each full pass (#reresolve). */
  #ifindex(dev: string | number): number {
    if (typeof dev === 'number') return dev;
    let index = this.#index.get(dev);
    if (index === undefined) this.#index.set(dev, (index = this.#lookup(dev)));
    return index;
  }

  /** Only the entries at `keys`, mirror and wanted. */
  #run(pass: Report['pass'], keys: Keys, t0: number, refused: Refusal[]): Report {
    // A route is only as good as its nexthop: diff the nexthops the routes at these keys name.
    for (const k of keys.routes) {
      const nhid = this.#want.routes.get(k)?.nhid;
      if (nhid !== undefined) keys.nexthops.add(nhid);
    }
    const current: CurrentIndex = {
      nexthops: pick(this.#nexthops, keys.nexthops),
      routes: pick(this.#routes, keys.routes),
      neighbours: pick(this.#neighbours, keys.neighbours),
      fdb: pick(this.#fdb, keys.fdb),
    };
    const desired: DesiredIndex = {
      nexthops: pick(this.#want.nexthops, keys.nexthops),
      routes: pick(this.#want.routes, keys.routes),
      neighbours: pick(this.#want.neighbours, keys.neighbours),
      fdb: pick(this.#want.fdb, keys.fdb),
    };
    return this.#apply(pass, current, desired, t0, refused);
  }

  /** Diff (the mirror is the current state), execute, fold the outcome into the mirror. */
  #apply(pass: Report['pass'], current: CurrentIndex, desired: DesiredIndex, t0: number, refused: Refusal[], device?: DeviceReport): Report {
    const plan = diffIndexed(current, desired, this.own);
    const outcome = planSize(plan) === 0 ? undefined : execute(this.#rtnl, plan, this.own);
    const changed = outcome?.done ?? emptyPlan();
    if (outcome !== undefined) this.#fold(outcome.done, outcome.conflicts);
    if (outcome?.unsure) this.#needsFull = true;
    // Whatever failed is retried by the next repair().
    for (const f of outcome?.failures ?? []) {
      const peerKeys = f.peer === undefined ? undefined : this.#peers.get(f.peer);
      if (peerKeys !== undefined) this.#addKeys(this.#dirty, peerKeys);
      else this.#needsFull = true;
    }
    const report: Report = {
      pass,
      changed,
      operations: planSize(changed),
      conflicts: [...plan.conflicts, ...(outcome?.conflicts ?? [])],
      failures: outcome?.failures ?? [],
      refused,
      ms: performance.now() - t0,
    };
    if (device !== undefined) report.device = device;
    return report;
  }

  #fold(done: Plan, conflicts: Conflict[]): void {
    this.#built = UNBUILT;
    const own = this.own;
    const dropRoute = (r: Route): void => {
      const key = routeKey(r.table, r.dst);
      setList(
        this.#routes,
        key,
        (this.#routes.get(key) ?? []).filter((x) => x !== r),
      );
    };
    // Index loops over the long lists (a full apply's thousands of adds): no iterator result each.
    for (const n of done.nexthops.del) this.#nexthops.delete(n.id);
    const nexthops = done.nexthops.set;
    for (let i = 0; i < nexthops.length; i++) this.#nexthops.set(nexthops[i]!.to.id, toNexthop(nexthops[i]!.to, own));
    for (const r of done.routes.del) dropRoute(r);
    for (const c of done.routes.replace) dropRoute(c.from);
    const adds = done.routes.add;
    for (let i = 0; i < adds.length; i++) pushList(this.#routes, routeKey(own.table, adds[i]!.dst), toRoute(adds[i]!, own));
    for (const c of done.routes.replace) pushList(this.#routes, routeKey(own.table, c.to.dst), toRoute(c.to, own));
    for (const c of conflicts) setList(this.#routes, routeKey(c.table, c.dst), c.routes);
    for (const n of done.neighbours.del) this.#neighbours.delete(neighKey(n.dev, n.dst));
    // Keyed by the very string the entry is wanted under (its peer's keys), not a new one each: two
    // joins fewer per vxlan peer, and the mirror and the wanted index share their keys.
    const neighbours = done.neighbours.set;
    for (let i = 0; i < neighbours.length; i++) {
      const to = neighbours[i]!.to;
      const key = wantedKey(this.#want.neighbours, this.#peers.get(to.peer)?.neighbours, to) ?? neighKey(to.dev, to.dst);
      this.#neighbours.set(key, toNeigh(to));
    }
    for (const n of done.fdb.del) this.#fdb.delete(fdbKey(n.dev, n.lladdr, n.dst));
    const fdb = done.fdb.add;
    for (let i = 0; i < fdb.length; i++) {
      const d = fdb[i]!;
      this.#fdb.set(wantedKey(this.#want.fdb, this.#peers.get(d.peer)?.fdb, d) ?? fdbKey(d.dev, d.lladdr, d.dst), toFdb(d));
    }
  }
}

/**
 * Makes the kernel hold exactly `desired` of what netboot owns — `ip route show table T proto P`,
 * `ip neigh show dev DEV nud permanent`, `bridge fdb show dev DEV` — in one pass. A Reconciler
 * does the same and then keeps the state for O(change) updates.
 */
export function reconcile(rtnl: Kernel, desired: DesiredState, opts: ReconcileOptions = {}): Report {
  return new Reconciler(rtnl, opts).full(desired);
}

function peerState(m: Map<string, PeerState>, peer: string): PeerState {
  let s = m.get(peer);
  // `append` never pushes to an empty list: the lists start as the one shared empty list.
  if (s === undefined) m.set(peer, (s = { routes: EMPTY, neighbours: EMPTY, fdb: EMPTY }));
  return s;
}

/** The empty list every PeerState of a full pass starts with (see `append`); never pushed to. */
const EMPTY = NONE as never[];

/**
 * `list` with `v` at its end: a new one-element list when `list` is empty. An empty list that is
 * pushed to gets room for 17 (V8's first growth) and keeps it: a dozen such lists per peer, kept
 * for thousands of peers, were megabytes of empty slots for the garbage collector to copy.
 */
function append<T>(list: T[], v: T): T[] {
  if (list.length === 0) return [v];
  list.push(v);
  return list;
}

/** Whether two records of the kernel hold the same fields: values equal, or lists of equal values (a neighbour's states). */
function sameRecord(a: object, b: object): boolean {
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let fields = 0;
  for (const k in x) {
    fields++;
    const u = x[k];
    const v = y[k];
    if (u === v) continue;
    if (!Array.isArray(u) || !Array.isArray(v) || u.length !== v.length) return false;
    for (let i = 0; i < u.length; i++) if (u[i] !== v[i]) return false;
  }
  for (const _ in y) fields--;
  return fields === 0;
}

/** Which of a peer's `keys` `want` is wanted under; undefined if none (a key is then built anew). */
function wantedKey<T>(wanted: ReadonlyMap<string, T>, keys: readonly string[] | undefined, want: T): string | undefined {
  for (let i = 0; keys !== undefined && i < keys.length; i++) if (wanted.get(keys[i]!) === want) return keys[i];
  return undefined;
}

/** The entries of `m` at `keys`. */
function pick<K, T>(m: ReadonlyMap<K, T>, keys: ReadonlySet<K>): Map<K, T> {
  const out = new Map<K, T>();
  for (const k of keys) {
    const v = m.get(k);
    if (v !== undefined) out.set(k, v);
  }
  return out;
}

function pushList<T>(m: Map<string, T[]>, key: string, v: T): void {
  const list = m.get(key);
  if (list === undefined) m.set(key, [v]);
  else list.push(v);
}

function setList<T>(m: Map<string, T[]>, key: string, list: T[]): void {
  if (list.length === 0) m.delete(key);
  else m.set(key, list);
}
