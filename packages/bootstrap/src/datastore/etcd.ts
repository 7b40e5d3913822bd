// The etcd datastore: this node's pod subnets are blocks claimed through @netboot/ipam's ClusterIpam on
// EtcdKv (so pod IPs and node subnets share one source of truth); node records are JSON values under
// `<prefix>/nodes/<name>`, attached to an etcd lease kept alive by this process, so a node that dies
// stops renewing and its record expires after `ttlSeconds`. Peers come from a list followed by a watch
// from the list's revision; a lost watch (etcd down, a member gone, compaction) is a fresh list — a
// `sync` — after backoff, never a guess. Several endpoints: the client fails over between members.
import { Etcd3, type IKeyValue, type Lease, type Watcher } from 'etcd3';
import type { IpPoolSpec } from '@netboot/ipam';
import { EtcdKv } from '@netboot/ipam/etcd';
import { Backoff, pause, reasonOf } from './backoff.js';
import { type Channel, produced } from './channel.js';
import { claimLease } from './cluster-lease.js';
import { checkRecord, complete, eventFor } from './records.js';
import { abortReason, type Datastore, type NodeLease, type NodeRecord, type PeerEvent } from './types.js';

export interface EtcdDatastoreOptions {
  /** Client URLs of the etcd members, e.g. `['http://10.0.0.1:2379', 'http://10.0.0.2:2379']`. */
  endpoints: string[];
  /** This node's name. */
  node: string;
  /** Key prefix for everything netboot stores; default `/netboot` (records under `<prefix>/nodes/`). */
  prefix?: string;
  /** Pools created when missing (the first agent of a cluster creates them), e.g. the cluster CIDR. */
  pools?: IpPoolSpec[];
  /** The record's lease TTL; default 15 s (a dead node's record goes within this). */
  ttlSeconds?: number;
  /** Deadline per etcd call; default 5 s. */
  callTimeoutMs?: number;
}

export class EtcdDatastore implements Datastore {
  readonly kind = 'etcd' as const;
  readonly #opts: EtcdDatastoreOptions;
  readonly #client: Etcd3;
  readonly #nodes: string;
  /** The IPAM store's key prefix (ClusterIpam's keys under `<kvPrefix>/netboot/ipam/`). */
  readonly #kvPrefix: string;
  readonly #closing = new AbortController();
  #kv: EtcdKv | undefined;
  #lease: Lease | undefined;
  #record: NodeRecord | undefined;
  readonly #running = new Set<Promise<void>>();

  constructor(opts: EtcdDatastoreOptions) {
    this.#opts = opts;
    const timeout = opts.callTimeoutMs ?? 5_000;
    this.#client = new Etcd3({
      hosts: opts.endpoints,
      dialTimeout: 2_000,
      // Unary calls only: a deadline on the watch and keep-alive streams ended them every `timeout`,
      // and each reconnect re-listed every node (idle CPU 4 % of a core with 5,000 peers; 0.2 % without).
      defaultCallOptions: (call) => (call.isStream ? {} : { deadline: new Date(Date.now() + timeout) }),
    });
    this.#nodes = `${opts.prefix ?? '/netboot'}/nodes/`;
    this.#kvPrefix = opts.prefix ?? '';
  }

  leases(signal: AbortSignal): AsyncIterable<NodeLease> {
    // close() waits for the loop: a watcher still attached to a closed client retries forever.
    return produced(AbortSignal.any([signal, this.#closing.signal]), (out, s) => this.#busy(this.#leaseLoop(out, s)));
  }

  async publish(record: NodeRecord, signal?: AbortSignal): Promise<void> {
    this.#record = record;
    await this.#retry(signal === undefined ? this.#closing.signal : AbortSignal.any([signal, this.#closing.signal]), () => this.#put());
  }

  watch(signal: AbortSignal): AsyncIterable<PeerEvent> {
    return produced(signal, (out, s) => this.#watchLoop(out, s));
  }

  async close(): Promise<void> {
    this.#closing.abort();
    await Promise.allSettled([...this.#running]);
    // Revoking says "gone" at once; if etcd is unreachable the record simply expires.
    await this.#lease?.revoke().catch(() => undefined);
    await this.#kv?.close();
    this.#client.close();
  }

  async #leaseLoop(out: Channel<NodeLease>, signal: AbortSignal): Promise<void> {
    let last: string | undefined;
    while (!signal.aborted) {
      const { lease, revision } = await this.#retry(signal, () => this.#claim());
      const text = JSON.stringify(lease);
      if (text !== last) out.push(lease);
      last = text;
      await this.#ipamChange(revision, signal);
    }
  }

  #busy(p: Promise<void>): Promise<void> {
    this.#running.add(p);
    void p.finally(() => this.#running.delete(p)).catch(() => undefined);
    return p;
  }

  /** The node's lease (claimLease) and the store's revision read just before it: the watch for changes starts after it. */
  async #claim(): Promise<{ lease: NodeLease; revision: string }> {
    this.#kv ??= await EtcdKv.open({ endpoints: this.#opts.endpoints, prefix: this.#kvPrefix, callTimeoutMs: this.#opts.callTimeoutMs ?? 5_000 });
    const { header } = await this.#client.get(this.#nodes).exec();
    return { lease: await claimLease(this.#kv, this.#opts.node, this.#opts.pools ?? []), revision: header.revision };
  }

  /**
   * Resolves at the first change after `revision` to the pools or to this node's blocks (an etcd watch
   * from that revision, so nothing since the claim is missed), after a minute at the latest (a watch
   * lost unnoticed must not freeze the lease), or when `signal` aborts. Watchers are made only while etcd
   * answers (a watcher left on a client that never reaches etcd keeps the process alive after close);
   * when it does not, the claim is simply tried again after a pause.
   */
  async #ipamChange(revision: string, signal: AbortSignal): Promise<void> {
    const ipam = `${this.#kvPrefix}/netboot/ipam`;
    const from = String(BigInt(revision) + 1n);
    const watchers: Watcher[] = [];
    let wake: () => void = () => undefined;
    const changed = new Promise<void>((resolve) => {
      wake = resolve;
    });
    const timer = setTimeout(wake, 60_000);
    signal.addEventListener('abort', wake, { once: true });
    try {
      for (const prefix of [`${ipam}/pools/`, `${ipam}/affinities/${this.#opts.node}/`]) {
        const creating = this.#client.watch().prefix(prefix).startRevision(from).create();
        const w = await Promise.race([creating, pause(2_000, signal).then(() => undefined)]);
        if (w === undefined) {
          // Stopped, or etcd slow: a watcher still being created is cancelled once it is (before close()
          // closes the client), so none is left attached retrying forever.
          const late = await Promise.race([creating.catch(() => undefined), pause(5_000).then(() => undefined)]);
          await late?.cancel().catch(() => undefined);
          throw new Error('etcd did not attach the watch');
        }
        watchers.push(w);
        w.on('put', wake);
        w.on('delete', wake);
        w.on('disconnected', wake);
        w.on('error', wake);
      }
      await changed;
    } catch {
      await pause(1_000, signal);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', wake);
      await Promise.all(watchers.map((w) => w.cancel().catch(() => undefined)));
    }
  }

  /** Puts the record under a fresh lease; when that lease is lost (etcd was down longer than the TTL), again. */
  async #put(): Promise<void> {
    const record = this.#record!;
    const lease = this.#client.lease(this.#opts.ttlSeconds ?? 15, { autoKeepAlive: true });
    lease.on('lost', () => {
      if (this.#lease !== lease || this.#closing.signal.aborted) return;
      this.#lease = undefined;
      void this.#retry(this.#closing.signal, () => this.#put()).catch(() => undefined);
    });
    try {
      await lease.put(`${this.#nodes}${record.name}`).value(JSON.stringify(record));
    } catch (e) {
      lease.release();
      throw e;
    }
    const old = this.#lease;
    this.#lease = lease;
    await old?.revoke().catch(() => undefined);
  }

  async #watchLoop(out: Channel<PeerEvent>, signal: AbortSignal): Promise<void> {
    const backoff = new Backoff();
    while (!signal.aborted) {
      let reason = 'the watch ended';
      try {
        const listed = await this.#client.getAll().prefix(this.#nodes).exec();
        out.push({ type: 'sync', peers: listed.kvs.map((kv) => this.#decode(kv)).filter((r): r is NodeRecord => r !== undefined && complete(r)) });
        const watcher = await this.#client
          .watch()
          .prefix(this.#nodes)
          .startRevision(String(BigInt(listed.header.revision) + 1n))
          .create();
        backoff.reset();
        reason = await new Promise<string>((resolve) => {
          // A value that is not a record is as good as none: its node's old routes go.
          watcher.on('put', (kv) => out.push(eventFor(this.#decode(kv) ?? this.#emptyRecord(kv))));
          watcher.on('delete', (kv) => out.push({ type: 'remove', name: kv.key.toString().slice(this.#nodes.length) }));
          watcher.on('disconnected', (e) => resolve(`lost the watch: ${reasonOf(e)}`));
          watcher.on('error', (e) => resolve(`the watch failed: ${reasonOf(e)}`));
          signal.addEventListener('abort', () => resolve('closed'), { once: true });
          if (signal.aborted) resolve('closed'); // aborted while the watch was being created
        });
        await watcher.cancel().catch(() => undefined);
      } catch (e) {
        reason = `cannot list ${this.#nodes} from ${this.#opts.endpoints.join(',')}: ${reasonOf(e)}`;
      }
      if (signal.aborted) break;
      const retryMs = backoff.next();
      out.push({ type: 'waiting', reason, retryMs });
      await pause(retryMs, signal);
    }
  }

  /** A stored record, or undefined (a bad value is skipped: one broken peer must not stop the rest). */
  #decode(kv: IKeyValue): NodeRecord | undefined {
    const key = kv.key.toString();
    try {
      const r = checkRecord(JSON.parse(kv.value.toString()), key);
      return r.name === key.slice(this.#nodes.length) ? r : undefined;
    } catch {
      return undefined;
    }
  }

  #emptyRecord(kv: IKeyValue): NodeRecord {
    return { name: kv.key.toString().slice(this.#nodes.length), nodeIPs: [], podCIDRs: [] };
  }

  /** Runs `fn` until it succeeds, backing off while etcd is unreachable; rejects with the signal's reason when it aborts. */
  async #retry<T>(signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    const backoff = new Backoff();
    for (;;) {
      try {
        return await fn();
      } catch (e) {
        if (!isTransient(e)) throw e;
        if (!(await pause(backoff.next(), signal))) throw abortReason(signal, `etcd at ${this.#opts.endpoints.join(',')}: ${reasonOf(e)}`);
      }
    }
  }
}

/** Errors worth retrying: the store unreachable or a race lost; bad input and refusals are not. */
function isTransient(e: unknown): boolean {
  const kind = (e as { kind?: string }).kind;
  if (kind !== undefined) return kind === 'unavailable' || kind === 'conflict';
  return /unavailable|deadline|circuit|ECONNREFUSED|connect/i.test(reasonOf(e)) || (e instanceof Error && e.constructor.name === 'BrokenCircuitError');
}
