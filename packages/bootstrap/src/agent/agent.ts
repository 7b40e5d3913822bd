// `netboot agent`: one per node. Leases this node's pod subnets from the datastore, publishes its record,
// watches its peers and keeps @netboot/routes' Network (routes, FDB, neighbours) right for them; sets
// ip_forward, masquerades egress in its own nftables table, writes the lease file for the CNI plugin, and
// answers /healthz, /readyz, /metrics on localhost. A datastore outage never touches the dataplane: the
// peers last synced stay routed until the datastore says otherwise.
import type { Server } from 'node:http';
import { Rtnl, sysctlGet, sysctlSet } from '@netboot/core';
import { crossSubnet, discoverNode, hostGw, ipip, type Mode, Network, type Report, vtepMac, vxlan } from '@netboot/routes';
import type { Datastore, NodeLease, NodeRecord, PeerEvent, PoolState } from '../datastore/index.js';
import type { AgentConfig } from './config.js';
import { configuredPools, openDatastore } from './datastore.js';
import { detectNodeIPs } from './detect.js';
import { serveHealth } from './health.js';
import { settleHeap } from './heap.js';
import { leaseOf, removeLeaseFile, writeLeaseFile } from './lease-file.js';
import type { Logger } from './log.js';
import { applyEgress, type EgressRules, egressAddScript, egressFamilies, egressScript, removeEgress } from './masquerade.js';
import { Metrics } from './metrics.js';

export interface AgentDeps {
  log: Logger;
  /** Default: the one the config names. */
  datastore?: Datastore;
}

/** The routing mode the agent's settings name (`netboot doctor` judges a node by the same one). */
export function modeOf(config: Pick<AgentConfig, 'mode' | 'vni' | 'vxlanPort'>): Mode {
  const vx = { ...(config.vni !== undefined && { vni: config.vni }), ...(config.vxlanPort !== undefined && { port: config.vxlanPort }) };
  switch (config.mode) {
    case 'host-gw':
      return hostGw();
    case 'vxlan':
      return vxlan(vx);
    case 'cross-subnet':
      return crossSubnet(vx);
    case 'ipip':
      return ipip();
  }
}

export class Agent {
  readonly metrics = new Metrics();
  readonly #config: AgentConfig;
  readonly #log: Logger;
  readonly #given: Datastore | undefined;
  #waitingFor = 'leasing this node’s pod subnets';
  #synced = false;
  #reconciled = false;
  /** The last full table written (its script, and egressFamilies of its rules); script '' after adds to it. */
  #egress: { script: string } & ReturnType<typeof egressFamilies> = { script: '', nat: new Set(), sets: new Set() };
  /** Whether the next write must be the whole table, or else the node IPs to add to it. */
  #egressFull = true;
  readonly #egressAdded = new Set<string>();
  #egressTimer: NodeJS.Timeout | undefined;
  /** The nft run under way, whether the rules changed meanwhile, and whether the agent stopped. */
  #egressRun: Promise<void> | undefined;
  #egressAgain = false;
  #egressStopped = false;
  #health: Server | undefined;
  /** Peers as the datastore says (this node left out). */
  readonly #known = new Map<string, NodeRecord>();
  /** The datastore's latest lease for this node. */
  #lease: NodeLease | undefined;
  /** The Network for the current lease's subnets, and its run once the first sync started it. */
  #net: Network | undefined;
  #netRun: { stop: AbortController; done: Promise<void> } | undefined;
  #fatal: unknown;
  /** This node's addresses (configured or detected), exempt from masquerading like its peers'. */
  #nodeIPs: string[] = [];
  /** For the health summary in this node's record (NodeRecord.health). */
  #reconciledAt: string | undefined;
  #errors = 0;
  /** The health last published, and when (see #republishHealth). */
  #published: { ready: boolean; errors: number; at: number } | undefined;
  #publishing = false;

  constructor(config: AgentConfig, deps: AgentDeps) {
    this.#config = config;
    this.#log = deps.log;
    this.#given = deps.datastore;
  }

  /** What readiness waits for, or undefined when ready. */
  notReady(): string | undefined {
    return this.#synced && this.#reconciled ? undefined : this.#waitingFor;
  }

  /** The port /healthz listens on (after run() started it). */
  get healthPort(): number | undefined {
    const a = this.#health?.address();
    return typeof a === 'object' && a !== null ? a.port : undefined;
  }

  /** Runs until `signal` aborts; rejects only for what no retry can fix (a mode this kernel lacks, bad config). */
  async run(signal: AbortSignal): Promise<void> {
    const c = this.#config;
    const log = this.#log;
    using rtnl = Rtnl.open();
    const nodeIPs = c.nodeIPs ?? detectNodeIPs(rtnl);
    this.#nodeIPs = nodeIPs;
    if (c.healthPort !== 0) this.#health = await serveHealth(c.healthPort, { notReady: () => this.notReady(), metrics: this.metrics });
    log.info('starting', { node: c.nodeName, nodeIPs, mode: c.mode, datastore: c.datastore.type, healthPort: this.healthPort });
    const ds = this.#given ?? (await openDatastore(c));
    // Ends everything below: the caller's signal, or a fatal error (a Network that cannot run, a lease
    // the datastore refuses for good).
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    if (signal.aborted) stop.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await this.#serve({ rtnl, nodeIPs, mode: modeOf(c), ds, stop });
    } finally {
      signal.removeEventListener('abort', onAbort);
      stop.abort();
      await this.#netRun?.done;
      await this.#stopEgress();
      await ds.close().catch((e: unknown) => log.warn('closing the datastore failed', { error: e }));
      await new Promise((r) => (this.#health ? this.#health.close(r) : r(undefined)));
      if (c.cleanup) {
        try {
          removeEgress();
        } catch (e) {
          log.warn('could not remove the nftables table', { error: e });
        }
        removeLeaseFile(c.leaseFile);
        log.info('cleaned up', { table: 'inet netboot', leaseFile: c.leaseFile });
      }
      log.info('stopped');
    }
    if (this.#fatal !== undefined) throw this.#fatal;
  }

  /** Lease, publish, follow the peers and the lease; returns when `s.stop` aborts. */
  async #serve(s: Session): Promise<void> {
    const log = this.#log;
    const leases = s.ds.leases(s.stop.signal)[Symbol.asyncIterator]();
    // The datastore retries quietly; say every few seconds what the agent waits for.
    const waiting = setInterval(() => log.warn('still waiting for this node’s pod subnets', { datastore: this.#config.datastore }), 5_000);
    let first: IteratorResult<NodeLease>;
    try {
      first = await leases.next();
    } catch (e) {
      if (s.stop.signal.aborted) return; // stopped while waiting: nothing was set up
      throw e;
    } finally {
      clearInterval(waiting);
    }
    if (first.done) return;
    const lease = first.value;
    this.#lease = lease;
    log.info('leased pod subnets', { podCIDRs: lease.podCIDRs, disabled: lease.disabled });
    this.#forward(s.nodeIPs, lease.podCIDRs);
    this.#net = this.#network(s, lease.podCIDRs);
    this.#writeLease();
    this.#waitingFor = 'publishing this node’s record';
    if (!(await this.#publish(s))) return;
    this.#updateEgress(true);
    this.#waitingFor = 'the first datastore sync';
    const relets = this.#followLeases(s, leases);
    await this.#follow(s);
    await relets;
  }

  /** Pods' packets to other nodes and to the outside are forwarded by this node. */
  #forward(nodeIPs: string[], podCIDRs: string[]): void {
    // Written only when off: /proc/sys is read-only in the DaemonSet's unprivileged container (kubeadm's
    // preflight demands it on).
    const forward = (key: string) => {
      if (sysctlGet(key) !== '1') sysctlSet(key, 1);
    };
    if (nodeIPs.some((ip) => !ip.includes(':')) || podCIDRs.some((p) => !p.includes(':'))) forward('net.ipv4.ip_forward');
    if (podCIDRs.some((p) => p.includes(':'))) forward('net.ipv6.conf.all.forwarding');
  }

  /** A Network for this node with `podCIDRs`, holding the peers known so far (not running yet). */
  #network(s: Session, podCIDRs: string[]): Network {
    return new Network({
      rtnl: s.rtnl,
      mode: s.mode,
      node: discoverNode(s.rtnl, { name: this.#config.nodeName, nodeIPs: s.nodeIPs, podCIDRs }),
      peers: [...this.#known.values()],
      resyncMs: this.#config.resyncSeconds * 1000,
      // A datastore delivers a change as one event (a re-list as one batch, folded in one go before any
      // timer fires), so there is nothing to wait for: 0, not routes' 100 ms default. 10 ms here was
      // most of a new peer's ~16 ms to its route, flanneld's ~6 ms (bench/agent).
      debounceMs: 0,
      // An idle agent's monitor read its socket 5 times a second, each a wakeup costing ~0.1-1 ms of CPU
      // on a busy 2-core node: once all is quiet, the wait is on a worker thread instead.
      monitorWait: 'worker',
      onReport: (r) => {
        this.#onReport(r);
        this.#republishHealth(s);
      },
      onError: (e) => {
        this.#errors++;
        this.metrics.add('netboot_reconcile_errors_total');
        this.#log.error('reconcile failed; retrying', { error: e });
      },
    });
  }

  /**
   * Runs the current Network. It starts only once the first sync gave it the peers: its first pass is a
   * full one, and with no peers yet it would delete every peer's routes (a restart would cut traffic
   * until the sync). A Network that cannot run at all (a mode this kernel lacks) stops the agent.
   */
  #startNetwork(s: Session): void {
    const stop = new AbortController();
    const done = this.#net!.run(AbortSignal.any([s.stop.signal, stop.signal])).catch((e: unknown) => this.#fail(s, e));
    this.#netRun = { stop, done };
  }

  #fail(s: Session, e: unknown): void {
    this.#fatal ??= e;
    s.stop.abort();
  }

  /** Publishes this node's record for the current lease; false when stopped first. */
  async #publish(s: Session): Promise<boolean> {
    const c = this.#config;
    const waitingFor = this.notReady();
    const health = {
      ready: waitingFor === undefined,
      ...(this.#reconciledAt !== undefined && { reconciledAt: this.#reconciledAt }),
      errors: this.#errors,
      ...(waitingFor !== undefined && { waitingFor }),
    };
    const record: NodeRecord = {
      name: c.nodeName,
      nodeIPs: s.nodeIPs,
      podCIDRs: this.#lease!.podCIDRs,
      vtepMac: vtepMac(c.nodeName),
      mode: s.mode.name,
      health,
    };
    this.#published = { ready: health.ready, errors: health.errors, at: Date.now() };
    try {
      await s.ds.publish(record, s.stop.signal);
    } catch (e) {
      if (s.stop.signal.aborted) return false;
      throw e;
    }
    this.#log.info('published this node', { record });
    return true;
  }

  /**
   * Republishes the record's health summary after a reconcile pass when readiness changed, or when the
   * error count did and a resync period has passed since the last publish. No heartbeat: every peer
   * watches this record, so a periodic write would cost each of N agents N/period events (166/s at
   * 5,000 nodes) for nothing it routes by. Liveness is the record itself (etcd lease, Node object).
   */
  #republishHealth(s: Session): void {
    const last = this.#published;
    if (last === undefined || this.#publishing || s.stop.signal.aborted) return;
    const ready = this.notReady() === undefined;
    const errorsDue = this.#errors !== last.errors && Date.now() - last.at >= this.#config.resyncSeconds * 1000;
    if (ready === last.ready && !errorsDue) return;
    this.#publishing = true;
    this.#publish(s)
      .catch((e: unknown) => this.#log.warn('could not republish this node’s health', { error: e }))
      .finally(() => {
        this.#publishing = false;
      });
  }

  #writeLease(): void {
    const c = this.#config;
    const file = leaseOf(this.#lease!, this.#net!.mtu, c.clusterCIDRs);
    if (writeLeaseFile(c.leaseFile, file)) this.#log.info('wrote the node lease file', { path: c.leaseFile, subnets: file.subnets, mtu: file.mtu });
  }

  /** Every lease after the first: this node's subnets or their pools changed. */
  async #followLeases(s: Session, leases: AsyncIterator<NodeLease>): Promise<void> {
    try {
      for (;;) {
        const next = await leases.next();
        if (next.done) return;
        await this.#relet(s, next.value);
      }
    } catch (e) {
      if (!s.stop.signal.aborted) this.#fail(s, e);
    }
  }

  /**
   * Takes a new lease without a restart: a Network for the new subnets (its first pass finds the peers'
   * state in place and leaves it), the lease file rewritten (the CNI plugin allocates from the new open
   * subnets at once), the record republished (peers route the new subnets), the egress rules redone.
   */
  async #relet(s: Session, lease: NodeLease): Promise<void> {
    const before = this.#lease!;
    this.#lease = lease;
    const moved = before.podCIDRs.join() !== lease.podCIDRs.join();
    this.metrics.add('netboot_lease_changes_total');
    this.#log.info('pod subnets changed', { podCIDRs: lease.podCIDRs, disabled: lease.disabled, before: before.podCIDRs });
    if (moved) {
      this.#forward(s.nodeIPs, lease.podCIDRs);
      const old = this.#netRun;
      this.#net = this.#network(s, lease.podCIDRs);
      this.#netRun = undefined;
      if (old !== undefined) {
        old.stop.abort();
        await old.done;
        if (s.stop.signal.aborted) return;
        this.#startNetwork(s);
      }
    }
    this.#writeLease();
    if (moved && !(await this.#publish(s))) return;
    this.#updateEgress(true);
  }

  /** Folds datastore events into the Network's peers; logs and counts what happens. */
  async #follow(s: Session): Promise<void> {
    let started = false;
    for await (const e of s.ds.watch(s.stop.signal)) {
      this.metrics.add('netboot_datastore_events_total', 1, { type: e.type });
      this.#apply(e);
      if (e.type === 'sync' && !started) {
        started = true;
        this.#startNetwork(s);
      }
      this.metrics.set('netboot_peers', this.#known.size);
      this.#updateEgress(false);
    }
  }

  #apply(e: PeerEvent): void {
    const log = this.#log;
    const known = this.#known;
    const net = this.#net!;
    const self = this.#config.nodeName;
    switch (e.type) {
      case 'waiting':
        this.metrics.set('netboot_datastore_up', 0);
        log.warn('datastore unavailable; keeping the current routes and retrying', { reason: e.reason, retryMs: e.retryMs });
        return;
      case 'sync': {
        this.#egressFull = true;
        known.clear();
        for (const p of e.peers) if (p.name !== self) known.set(p.name, p);
        net.setPeers([...known.values()]);
        this.metrics.set('netboot_datastore_up', 1);
        log.info('datastore synced', { peers: known.size });
        this.#synced = true;
        if (!this.#reconciled) this.#waitingFor = 'the first reconcile';
        return;
      }
      case 'upsert': {
        if (e.peer.name === self) return;
        // A Node's every status write (kubelet's conditions, other fields netboot does not read) arrives
        // as the same record again: nothing to route, rewrite or log.
        const had = known.get(e.peer.name);
        if (had !== undefined && JSON.stringify(had) === JSON.stringify(e.peer)) return;
        if (e.peer.mode !== undefined && e.peer.mode !== this.#config.mode) log.warn('peer runs another mode', { peer: e.peer.name, mode: e.peer.mode });
        this.#egressChange(had?.nodeIPs ?? [], e.peer.nodeIPs);
        known.set(e.peer.name, e.peer);
        net.upsertPeer(e.peer);
        log.info('peer', { peer: e.peer });
        return;
      }
      case 'remove':
        if (!known.delete(e.name)) return;
        this.#egressFull = true;
        net.removePeer(e.name);
        log.info('peer gone', { peer: e.name });
    }
  }

  #onReport(r: Report): void {
    this.metrics.add('netboot_reconcile_passes_total', 1, { pass: r.pass });
    this.metrics.add('netboot_reconcile_duration_seconds_sum', r.ms / 1000);
    this.metrics.set('netboot_reconcile_last_duration_seconds', r.ms / 1000);
    const p = r.changed;
    const ops = {
      nexthop: p.nexthops.set.length + p.nexthops.del.length,
      route: p.routes.add.length + p.routes.replace.length + p.routes.del.length,
      neigh: p.neighbours.set.length + p.neighbours.del.length,
      fdb: p.fdb.add.length + p.fdb.del.length,
    };
    for (const [kind, n] of Object.entries(ops)) if (n > 0) this.metrics.add('netboot_operations_total', n, { kind });
    this.#reconciledAt = new Date().toISOString();
    this.#errors += r.failures.length;
    if (r.failures.length > 0) this.metrics.add('netboot_reconcile_errors_total', r.failures.length);
    if (r.operations > 0 || r.failures.length > 0 || r.refused.length > 0 || r.conflicts.length > 0)
      this.#log.info('reconciled', {
        pass: r.pass,
        operations: r.operations,
        ms: r.ms,
        failures: r.failures.map((f) => `${f.op}: ${f.error.message}`),
        refused: r.refused.map((x) => ({ peer: x.peer, reason: x.error.message })),
        conflicts: r.conflicts.length,
      });
    if (this.#synced && !this.#reconciled) {
      this.#reconciled = true;
      this.metrics.set('netboot_ready', 1);
      this.#log.info('ready');
      // Once the first pass's echoes and repair are through (well within a second).
      setTimeout(() => {
        const t0 = performance.now();
        settleHeap();
        // (RSS is not logged: the freed pages go back to the OS over the next moments, not by now.)
        this.#log.info('heap settled', { ms: Math.round(performance.now() - t0), heapMB: Math.round(process.memoryUsage().heapUsed / 2 ** 20) });
      }, 1_000).unref();
    }
  }

  /**
   * Rewrites the masquerade table when the pools or the cluster's node IPs changed. Coalesced: the
   * rules are read when the timer fires (a sync of thousands of peers is one nft run, and a steady
   * stream of events never postpones it by more than 200 ms); `now` writes at once.
   */
  #updateEgress(now: boolean): void {
    if (this.#lease === undefined) return; // nothing leased yet: no rules to write
    if (now) {
      this.#egressFull = true; // the lease or its pools changed
      clearTimeout(this.#egressTimer);
      this.#applyEgress();
    } else this.#egressTimer ??= setTimeout(() => this.#applyEgress(), 200);
  }

  /** The pools: the datastore's where it keeps them, else the configured ones. */
  #pools(): PoolState[] {
    return this.#lease?.pools ?? configuredPools(this.#config).map((p) => ({ ...p, disabled: false }));
  }

  #egressRules(): EgressRules {
    const pools = this.#pools();
    const nodeIPs = [...this.#nodeIPs, ...[...this.#known.values()].flatMap((p) => p.nodeIPs)];
    return {
      natFrom: pools.filter((p) => p.natOutgoing).map((p) => p.cidr),
      clusterCIDRs: [...this.#config.clusterCIDRs, ...pools.map((p) => p.cidr)],
      nodeIPs,
    };
  }

  /** A peer's node IPs went from `before` to `after`: new ones are added to the table, a lost one rewrites it. */
  #egressChange(before: readonly string[], after: readonly string[]): void {
    if (before.some((ip) => !after.includes(ip))) this.#egressFull = true;
    for (const ip of after) if (!before.includes(ip)) this.#egressAdded.add(ip);
  }

  /**
   * Writes what changed, one nft at a time (a change meanwhile is written after it): new node IPs only
   * (their sets exist) as elements added to the table, anything else as the whole table again.
   */
  #applyEgress(): void {
    this.#egressTimer = undefined;
    if (this.#egressStopped) return;
    if (this.#egressRun !== undefined) {
      this.#egressAgain = true;
      return;
    }
    if (!this.#egressFull && this.#egressAdded.size === 0) return;
    const last = this.#egress;
    const added = [...this.#egressAdded].filter((ip) => last.nat.has(ip.includes(':') ? '6' : '4')); // others are never masqueraded
    const incremental = !this.#egressFull && added.every((ip) => last.sets.has(ip.includes(':') ? '6' : '4'));
    this.#egressFull = false;
    this.#egressAdded.clear();
    let next: typeof last;
    let fields: Record<string, unknown>;
    if (incremental) {
      if (added.length === 0) return;
      // The table no longer equals last.script: the next full write must not be skipped as unchanged.
      next = { ...last, script: '' };
      fields = { added };
    } else {
      const rules = this.#egressRules();
      next = { script: egressScript(rules), ...egressFamilies(rules) };
      if (next.script === last.script) return;
      fields = { natFrom: rules.natFrom, exempt: rules.clusterCIDRs.length + rules.nodeIPs.length };
    }
    this.#egressRun = applyEgress(incremental ? egressAddScript(added) : next.script)
      .then(
        () => {
          this.#egress = next;
          this.#log.info('masquerade rules written', { table: 'inet netboot', ...fields });
        },
        (e: unknown) => {
          this.#log.error('nft refused the masquerade rules; retrying', { error: e });
          this.#egressFull = true;
          if (!this.#egressStopped) this.#egressTimer = setTimeout(() => this.#applyEgress(), 1000);
        },
      )
      .finally(() => {
        this.#egressRun = undefined;
        if (this.#egressAgain) {
          this.#egressAgain = false;
          this.#applyEgress();
        }
      });
  }

  /** No more nft runs; resolves once the one under way (if any) ended, so a cleanup's delete comes last. */
  async #stopEgress(): Promise<void> {
    this.#egressStopped = true;
    clearTimeout(this.#egressTimer);
    await this.#egressRun;
  }
}

/** What one run of the agent works with. */
interface Session {
  rtnl: Rtnl;
  nodeIPs: string[];
  mode: Mode;
  ds: Datastore;
  /** Aborted when the agent stops (its signal, or a fatal error). */
  stop: AbortController;
}
