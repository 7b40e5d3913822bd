// `netboot agent`: one per node. Leases this node's pod subnets from the datastore, publishes its record,
// watches its peers and keeps @netboot/routes' Network (routes, FDB, neighbours) right for them; sets
// ip_forward, masquerades egress in its own nftables table, writes the lease file for the CNI plugin, and
// answers /healthz, /readyz, /metrics on localhost. A datastore outage never touches the dataplane: the
// peers last synced stay routed until the datastore says otherwise.
import type { Server } from 'node:http';
import { Rtnl, sysctlSet } from '@netboot/core';
import { crossSubnet, discoverNode, hostGw, ipip, type Mode, Network, type Report, vtepMac, vxlan } from '@netboot/routes';
import type { Datastore, NodeRecord, PeerEvent } from '../datastore/index.js';
import type { AgentConfig } from './config.js';
import { openDatastore } from './datastore.js';
import { detectNodeIPs } from './detect.js';
import { serveHealth } from './health.js';
import { leaseOf, removeLeaseFile, writeLeaseFile } from './lease-file.js';
import type { Logger } from './log.js';
import { applyEgress, type EgressRules, egressScript, removeEgress } from './masquerade.js';
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
  #egress = '';
  #egressTimer: NodeJS.Timeout | undefined;
  #egressRules: (() => EgressRules) | undefined;
  #health: Server | undefined;

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
    if (c.healthPort !== 0) this.#health = await serveHealth(c.healthPort, { notReady: () => this.notReady(), metrics: this.metrics });
    log.info('starting', { node: c.nodeName, nodeIPs, mode: c.mode, datastore: c.datastore.type, healthPort: this.healthPort });
    const ds = this.#given ?? (await openDatastore(c));
    try {
      let podCIDRs: string[];
      // The datastore retries quietly; say every few seconds what the agent waits for.
      const waiting = setInterval(() => log.warn('still waiting for this node’s pod subnets', { datastore: c.datastore }), 5_000);
      try {
        podCIDRs = await ds.lease(signal);
      } catch (e) {
        if (signal.aborted) return; // stopped while waiting: nothing was set up
        throw e;
      } finally {
        clearInterval(waiting);
      }
      log.info('leased pod subnets', { podCIDRs });
      const mode = modeOf(c);
      const node = discoverNode(rtnl, { name: c.nodeName, nodeIPs, podCIDRs });
      // Pods' packets to other nodes and to the outside are forwarded by this node.
      if (nodeIPs.some((ip) => !ip.includes(':')) || podCIDRs.some((p) => !p.includes(':'))) sysctlSet('net.ipv4.ip_forward', 1);
      if (podCIDRs.some((p) => p.includes(':'))) sysctlSet('net.ipv6.conf.all.forwarding', 1);
      const net = new Network({
        rtnl,
        mode,
        node,
        resyncMs: c.resyncSeconds * 1000,
        onReport: (r) => this.#onReport(r),
        onError: (e) => {
          this.metrics.add('netboot_reconcile_errors_total');
          log.error('reconcile failed; retrying', { error: e });
        },
      });
      if (writeLeaseFile(c.leaseFile, leaseOf(podCIDRs, net.mtu, c.clusterCIDRs))) log.info('wrote the node lease file', { path: c.leaseFile, mtu: net.mtu });
      const record: NodeRecord = { name: c.nodeName, nodeIPs, podCIDRs, vtepMac: vtepMac(c.nodeName), mode: mode.name };
      this.#waitingFor = 'publishing this node’s record';
      try {
        await ds.publish(record, signal);
      } catch (e) {
        if (signal.aborted) return;
        throw e;
      }
      log.info('published this node', { record });
      this.#updateEgress(() => this.#egressFor(podCIDRs, nodeIPs), true);
      this.#waitingFor = 'the first datastore sync';
      // The Network starts only once the first sync gave it the peers: its first pass is a full one, and
      // with no peers yet it would delete every peer's routes (a restart would cut traffic until the sync).
      // A Network that cannot run at all (a mode this kernel lacks) ends the watch too, and run() rejects.
      const stop = new AbortController();
      const onAbort = () => stop.abort();
      signal.addEventListener('abort', onAbort, { once: true });
      let fatal: unknown;
      let running: Promise<void> = Promise.resolve();
      try {
        await this.#follow(ds, net, podCIDRs, nodeIPs, stop.signal, () => {
          running = net.run(stop.signal).catch((e: unknown) => {
            fatal = e;
            stop.abort();
          });
        });
        await running;
      } finally {
        signal.removeEventListener('abort', onAbort);
      }
      if (fatal !== undefined) throw fatal;
    } finally {
      clearTimeout(this.#egressTimer);
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
  }

  /** Folds datastore events into the Network's peers; logs and counts what happens. */
  async #follow(ds: Datastore, net: Network, podCIDRs: string[], nodeIPs: string[], signal: AbortSignal, onFirstSync: () => void): Promise<void> {
    let started = false;
    const self = this.#config.nodeName;
    const known = new Map<string, NodeRecord>();
    const refresh = () => {
      this.metrics.set('netboot_peers', known.size);
      this.#updateEgress(() => this.#egressFor(podCIDRs, [...nodeIPs, ...[...known.values()].flatMap((p) => p.nodeIPs)]), false);
    };
    for await (const e of ds.watch(signal)) {
      this.metrics.add('netboot_datastore_events_total', 1, { type: e.type });
      this.#apply(e, net, known, self);
      if (e.type === 'sync' && !started) {
        started = true;
        onFirstSync();
      }
      refresh();
    }
  }

  #apply(e: PeerEvent, net: Network, known: Map<string, NodeRecord>, self: string): void {
    const log = this.#log;
    switch (e.type) {
      case 'waiting':
        this.metrics.set('netboot_datastore_up', 0);
        log.warn('datastore unavailable; keeping the current routes and retrying', { reason: e.reason, retryMs: e.retryMs });
        return;
      case 'sync': {
        known.clear();
        for (const p of e.peers) if (p.name !== self) known.set(p.name, p);
        net.setPeers([...known.values()]);
        this.metrics.set('netboot_datastore_up', 1);
        log.info('datastore synced', { peers: known.size });
        this.#synced = true;
        if (!this.#reconciled) this.#waitingFor = 'the first reconcile';
        return;
      }
      case 'upsert':
        if (e.peer.name === self) return;
        if (e.peer.mode !== undefined && e.peer.mode !== this.#config.mode) log.warn('peer runs another mode', { peer: e.peer.name, mode: e.peer.mode });
        known.set(e.peer.name, e.peer);
        net.upsertPeer(e.peer);
        log.info('peer', { peer: e.peer });
        return;
      case 'remove':
        if (!known.delete(e.name)) return;
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
    }
  }

  /**
   * Rewrites the masquerade table when the cluster's node IPs changed. Coalesced: the rules are read
   * when the timer fires (a sync of thousands of peers is one nft run, and a steady stream of events
   * never postpones it by more than 200 ms); `now` writes at once.
   */
  #updateEgress(rules: () => EgressRules, now: boolean): void {
    if (!this.#config.natOutgoing) return;
    this.#egressRules = rules;
    if (now) {
      clearTimeout(this.#egressTimer);
      this.#applyEgress();
    } else this.#egressTimer ??= setTimeout(() => this.#applyEgress(), 200);
  }

  #egressFor(podCIDRs: string[], nodeIPs: string[]): EgressRules {
    return { natFrom: podCIDRs, clusterCIDRs: this.#config.clusterCIDRs, nodeIPs };
  }

  #applyEgress(): void {
    this.#egressTimer = undefined;
    const rules = this.#egressRules!();
    const script = egressScript(rules);
    if (script === this.#egress) return;
    try {
      applyEgress(rules);
      this.#egress = script;
      this.#log.info('masquerade rules written', { table: 'inet netboot', natFrom: rules.natFrom, exempt: rules.clusterCIDRs.length + rules.nodeIPs.length });
    } catch (e) {
      this.#log.error('nft refused the masquerade rules; retrying', { error: (e as { stderr?: Buffer }).stderr?.toString() ?? e });
      this.#egressTimer = setTimeout(() => this.#applyEgress(), 1000);
    }
  }
}
