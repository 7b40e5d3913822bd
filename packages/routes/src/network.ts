// The loop that keeps a node's routes right while the cluster changes: a Network owns one
// Reconciler and runs passes when
//  - peers change (setPeers/upsertPeer/removePeer, coalesced for `debounceMs`): an update of those
//    peers only;
//  - the kernel reports a change to netboot's routes, nexthop objects, neighbour or FDB entries or
//    device (core's monitor): a repair of those keys `repairMs` later, so a hand-deleted route is back well within a
//    second; a device that no longer matches, an uplink that lost an address or changed state (the
//    kernel flushes routes through it without telling), or lost events (overrun) get a full pass;
//  - the resync timer fires (`resyncMs`, default 30 s): a full pass, whatever happened.
// The monitor hands over only the events that can concern those (see #concerns): a node's pods come and
// go with dozens of link, address, route and neighbour events each, which are told apart by their
// headers and never decoded.
// Every pass is synchronous (core's calls block for microseconds), so passes never overlap. A pass
// that throws, operations the kernel refused, or a monitor that failed are reported and retried
// `retryMs` later; nothing but the abort signal ends the loop — except a mode this kernel cannot run
// at all (ipip here), which the first pass reports by rejecting run() before anything was written.
import { setTimeout as sleep } from 'node:timers/promises';
import { monitor, type NetnsRef, type RawEvent } from '@netboot/core';
import { AlreadyRunningError, ModeUnavailableError } from './errors.js';
import type { Mode } from './mode.js';
import { Reconciler, type ReconcileOptions, type Report } from './reconcile.js';
import type { Kernel, LocalNode, Peer, PeerState, Refusal } from './types.js';

export interface NetworkOptions extends ReconcileOptions {
  /** An Rtnl in the node's namespace. */
  rtnl: Kernel;
  /** That namespace, for the monitor's socket; default the caller's. */
  netns?: NetnsRef;
  mode: Mode;
  /** The local node, with its underlay (`discoverNode(rtnl, peer)`). */
  node: LocalNode;
  peers?: readonly Peer[];
  /** Full pass period; default 30 000 ms. */
  resyncMs?: number;
  /** Peer changes within this window go in one pass; default 100 ms. */
  debounceMs?: number;
  /** Delay between a monitor event and its repair (coalesces a burst); default 50 ms. */
  repairMs?: number;
  /** Delay before retrying failed operations or a failed pass; default 1000 ms. */
  retryMs?: number;
  /**
   * How the monitor waits for the kernel (core's monitor `wait`): 'timer' (default) reads its socket
   * every `pollMs`; 'worker' too while events come, but waits on a worker thread once all is quiet,
   * waking this thread for nothing (it then holds one thread of libuv's pool: for a daemon running one
   * Network, like the node agent).
   */
  monitorWait?: 'timer' | 'worker';
  /** How often the monitor reads its socket when idle; default 200 ms (each read is a wakeup of this thread, ~0.1-1 ms of CPU here). */
  pollMs?: number;
  /**
   * The monitor's receive buffer; default 16 MiB. A full pass over thousands of peers echoes one
   * event per entry (~1 KiB of buffer each); a smaller buffer overruns and costs a second full pass.
   */
  monitorBufferBytes?: number;
  /** Every pass's report (what changed, conflicts, failures, refused peers). */
  onReport?: (report: Report) => void;
  /** A pass that threw (it is retried). */
  onError?: (error: Error) => void;
}

type Pass = 'full' | 'update' | 'repair';

// The route header's fields #concerns reads (linux/rtnetlink.h): rtmsg's size, RTA_DST, the table
// rtm_table names for one above 255, and AF_INET6.
const RTMSG_SIZE = 12;
const RTA_DST = 1;
const RT_TABLE_COMPAT = 252;
const AF_INET6 = 10;

export class Network {
  readonly mode: Mode;
  readonly node: LocalNode;
  /** The pod MTU for this mode on this node (for the CNI plugin and the lease file). */
  readonly mtu: number;
  readonly #opts: NetworkOptions;
  readonly #reconciler: Reconciler;
  readonly #peers = new Map<string, Peer>();
  readonly #pending = new Map<string, Peer | undefined>();
  /** The scheduled passes, each with what cancels it. */
  readonly #timers = new Map<Pass, () => void>();
  #running = false;
  #started = false;
  /**
   * What the monitor's events are judged by before they are decoded (#concerns): the device and the
   * uplinks as of the last pass, the only place the reconciler changes them. Undefined before the first.
   */
  #scope: { device: number | undefined; uplinks: ReadonlySet<number> } | undefined;
  #last: Report | undefined;

  constructor(opts: NetworkOptions) {
    this.#opts = opts;
    this.mode = opts.mode;
    this.node = opts.node;
    this.mtu = opts.mode.mtu(opts.node);
    this.#reconciler = new Reconciler(opts.rtnl, opts);
    for (const p of opts.peers ?? []) this.#peers.set(p.name, p);
  }

  /** The last pass's report. */
  get lastReport(): Report | undefined {
    return this.#last;
  }

  /** The peers as of now (pending changes included). */
  get peers(): Peer[] {
    return [...this.#peers.values()];
  }

  /** Replaces the whole peer list: only the peers that were added, changed or removed are written. */
  setPeers(peers: readonly Peer[]): void {
    const next = new Map(peers.map((p) => [p.name, p]));
    for (const name of this.#peers.keys()) if (!next.has(name)) this.removePeer(name);
    for (const p of next.values()) this.upsertPeer(p);
  }

  /** Adds a peer or changes one (same name); a no-op when nothing about it changed. */
  upsertPeer(peer: Peer): void {
    const old = this.#peers.get(peer.name);
    if (old !== undefined && samePeer(old, peer)) return;
    this.#peers.set(peer.name, peer);
    this.#pending.set(peer.name, peer);
    this.#schedule('update', this.#opts.debounceMs ?? 100);
  }

  /** Removes a peer: its routes, FDB and neighbour entries go at the next pass. */
  removePeer(name: string): void {
    if (!this.#peers.delete(name)) return;
    this.#pending.set(name, undefined);
    this.#schedule('update', this.#opts.debounceMs ?? 100);
  }

  /**
   * Runs until `signal` aborts: a full pass now, then passes as described at the top of this file.
   * Rejects only if the first pass finds the mode unavailable (ModeUnavailableError).
   */
  async run(signal: AbortSignal): Promise<void> {
    if (this.#running) throw new AlreadyRunningError('Network.run: this Network is already running');
    this.#running = true;
    // Its own controller, so a fatal first pass can stop the monitor without the caller's signal.
    const stop = new AbortController();
    const onAbort = (): void => stop.abort();
    if (signal.aborted) stop.abort();
    else signal.addEventListener('abort', onAbort, { once: true });
    const watch = () =>
      monitor({
        groups: ['link', 'ipv4-addr', 'ipv6-addr', 'ipv4-route', 'ipv6-route', 'neigh', ...(this.#watchNexthops() ? (['nexthop'] as const) : [])],
        signal: stop.signal,
        ...(this.#opts.monitorWait !== undefined && { wait: this.#opts.monitorWait }),
        pollMs: this.#opts.pollMs ?? 200,
        receiveBufferBytes: this.#opts.monitorBufferBytes ?? 16 << 20,
        accept: (e) => this.#concerns(e),
        ...(this.#opts.netns !== undefined ? { netns: this.#opts.netns } : {}),
      })[Symbol.asyncIterator]();
    const resync = setInterval(() => this.#schedule('full', 0), this.#opts.resyncMs ?? 30_000);
    try {
      for (let round = 0; !stop.signal.aborted; round++) {
        const events = watch();
        // Listen before reading the kernel, so no change between the dump and the monitor is missed.
        let next = events.next();
        if (round === 0) {
          const first = this.#pass('full');
          if (first instanceof ModeUnavailableError) {
            stop.abort();
            await next.catch(() => undefined);
            throw first;
          }
        } else this.#schedule('full', 0); // events were lost while the monitor was down
        try {
          for (;;) {
            const step = await next;
            if (step.done) break;
            if (this.#reconciler.observe(step.value)) this.#schedule(this.#reconciler.needsFull ? 'full' : 'repair', this.#opts.repairMs ?? 50);
            next = events.next();
          }
        } catch (e) {
          // The monitor failed (its socket, a namespace gone): report it, and listen again shortly.
          this.#opts.onError?.(e instanceof Error ? e : new Error(String(e)));
          await sleep(this.#opts.retryMs ?? 1000, undefined, { signal: stop.signal }).catch(() => undefined);
        }
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      clearInterval(resync);
      for (const cancel of this.#timers.values()) cancel();
      this.#timers.clear();
      this.#running = false;
      this.#started = false;
      this.#scope = undefined;
    }
  }

  /**
   * Whether a kernel event can matter to the reconciler, from its header alone: exactly the events its
   * observe() would act on or fold into the mirror of what it reads (an uplink's link or address, the
   * device's link, neighbour and FDB entries, the routes of its table, nexthops), less the routes to
   * IPv6 link-local destinations (fe80::/10: never a pod CIDR, so never wanted or owned; the kernel adds
   * one per IPv6 device, each pod's veth among them). Events are read between passes, so the scope of
   * the last pass is the reconciler's as observe() will see it.
   */
  #concerns(e: RawEvent): boolean {
    const scope = this.#scope;
    if (scope === undefined) return true;
    switch (e.kind) {
      case 'link':
        return e.ifindex === scope.device || scope.uplinks.has(e.ifindex);
      case 'addr':
        return scope.uplinks.has(e.ifindex);
      case 'neigh':
        return e.ifindex === scope.device;
      case 'route': {
        const table = this.#reconciler.own.table;
        if (e.table !== (table > 255 ? RT_TABLE_COMPAT : table)) return false;
        if (e.family !== AF_INET6 || e.dstLen < 10) return true;
        const dst = e.attr(RTMSG_SIZE, RTA_DST);
        return dst < 0 || (e.buf.readUInt16BE(dst) & 0xffc0) !== 0xfe80;
      }
      default:
        return true;
    }
  }

  /**
   * Whether to join the nexthop group: where routes go through nexthop objects. A kernel without
   * them has no such group to join; a probe that failed otherwise errs on the side of listening.
   */
  #watchNexthops(): boolean {
    try {
      return this.#reconciler.nexthopsAvailable();
    } catch {
      return this.#opts.nexthops !== 'never';
    }
  }

  /** Runs `pass` after `ms` unless one is already scheduled (a burst of triggers is one pass). */
  #schedule(pass: Pass, ms: number): void {
    if (!this.#running || this.#timers.has(pass)) return;
    const fire = (): void => {
      this.#timers.delete(pass);
      this.#pass(pass);
    };
    // 0: after the events already read (a burst is still one pass), without setTimeout's 1 ms floor.
    if (ms === 0) {
      const i = setImmediate(fire);
      this.#timers.set(pass, () => clearImmediate(i));
    } else {
      const t = setTimeout(fire, ms);
      this.#timers.set(pass, () => clearTimeout(t));
    }
  }

  /** One pass; errors are reported and retried, never thrown. Returns the error, if any. */
  #pass(pass: Pass): Error | undefined {
    try {
      return this.#passOnce(pass);
    } finally {
      this.#scope = { device: this.#reconciler.own.device, uplinks: this.#reconciler.uplinks() };
    }
  }

  #passOnce(pass: Pass): Error | undefined {
    const r = this.#reconciler;
    const retryMs = this.#opts.retryMs ?? 1000;
    try {
      let report: Report;
      if (!this.#started) {
        // The first pass: every peer's entries from the mode.
        this.#pending.clear();
        report = r.full(this.mode.desired(this.node, [...this.#peers.values()]));
        this.#started = true;
      } else if (pass === 'full' || r.needsFull) {
        report = r.resync(); // re-read the kernel against what is wanted; pending peers follow in their update
      } else if (pass === 'update') {
        const refused: Refusal[] = [];
        const changes = new Map<string, PeerState | undefined>();
        for (const [name, peer] of this.#pending) changes.set(name, peer === undefined ? undefined : this.#forPeer(peer, refused));
        // Cleared only once applied: an update that throws part-way (a peer naming a device that does
        // not exist) leaves every change to be retried after the resync the catch schedules.
        report = r.update(changes, refused);
        this.#pending.clear();
      } else {
        report = r.repair();
      }
      this.#last = report;
      this.#opts.onReport?.(report);
      // A resync ran instead of an update: the peer changes still wait for theirs.
      if (this.#pending.size > 0) this.#schedule('update', 0);
      if (r.needsFull) this.#schedule('full', retryMs);
      else if (r.dirty) this.#schedule('repair', report.failures.length > 0 ? retryMs : (this.#opts.repairMs ?? 50));
      return undefined;
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e));
      this.#opts.onError?.(error);
      if (!(error instanceof ModeUnavailableError)) this.#schedule('full', retryMs);
      return error;
    }
  }

  /** A peer's entries, or undefined (its old entries go) with the refusal recorded. */
  #forPeer(peer: Peer, refused: Refusal[]): PeerState | undefined {
    if (peer.name === this.node.name) return undefined;
    try {
      return this.mode.forPeer(this.node, peer);
    } catch (e) {
      refused.push({ peer: peer.name, error: e as Error });
      return undefined;
    }
  }
}

function samePeer(a: Peer, b: Peer): boolean {
  return a.vtepMac === b.vtepMac && a.nodeIPs.join() === b.nodeIPs.join() && a.podCIDRs.join() === b.podCIDRs.join();
}
