// The etcd datastore: this node's pod subnets are blocks claimed through @netboot/ipam's ClusterIpam on
// EtcdKv (so pod IPs and node subnets share one source of truth); node records are JSON values under
// `<prefix>/nodes/<name>`, attached to an etcd lease kept alive by this process, so a node that dies
// stops renewing and its record expires after `ttlSeconds`. Peers come from a list followed by a watch
// from the list's revision; a lost watch (etcd down, a member gone, compaction) is a fresh list — a
// `sync` — after backoff, never a guess. Several endpoints: the client fails over between members.
// The client is etcd-http.ts (etcd's JSON gateway), not npm `etcd3`: see there why.
import type { IpPoolSpec } from '@netboot/ipam';
import { Backoff, pause, reasonOf } from './backoff.js';
import { type Channel, produced } from './channel.js';
import { claimLease } from './cluster-lease.js';
import { EtcdHttp, type EtcdKv } from './etcd-http.js';
import { EtcdHttpKv } from './etcd-kv.js';
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
  readonly #client: EtcdHttp;
  readonly #nodes: string;
  /** The IPAM store's key prefix (ClusterIpam's keys under `<kvPrefix>/netboot/ipam/`). */
  readonly #kvPrefix: string;
  readonly #closing = new AbortController();
  readonly #kv: EtcdHttpKv;
  /** The etcd lease holding this node's record, and what stops its keep-alive. */
  #lease: { id: string; stop: AbortController } | undefined;
  #record: NodeRecord | undefined;
  readonly #running = new Set<Promise<void>>();

  constructor(opts: EtcdDatastoreOptions) {
    this.#opts = opts;
    // A deadline on unary calls only: the watch is a stream that lives as long as it can (a deadline
    // on it ended it every few seconds, and each reconnect re-listed every node).
    this.#client = new EtcdHttp({ endpoints: opts.endpoints, callTimeoutMs: opts.callTimeoutMs ?? 5_000 });
    this.#nodes = `${opts.prefix ?? '/netboot'}/nodes/`;
    this.#kvPrefix = opts.prefix ?? '';
    this.#kv = new EtcdHttpKv(this.#client, this.#kvPrefix);
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
    const lease = this.#lease;
    this.#lease = undefined;
    lease?.stop.abort();
    if (lease !== undefined) await this.#client.revoke(lease.id).catch(() => undefined);
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
    const revision = await this.#client.revision(this.#nodes);
    return { lease: await claimLease(this.#kv, this.#opts.node, this.#opts.pools ?? []), revision };
  }

  /**
   * Resolves at the first change after `revision` to the pools or to this node's blocks (etcd watches
   * from that revision, so nothing since the claim is missed), after a minute at the latest (a watch
   * lost unnoticed must not freeze the lease), or when `signal` aborts; after a pause when a watch
   * failed (etcd unreachable: the claim is then simply tried again).
   */
  async #ipamChange(revision: string, signal: AbortSignal): Promise<void> {
    const ipam = `${this.#kvPrefix}/netboot/ipam`;
    const from = String(BigInt(revision) + 1n);
    const changed = new AbortController();
    const timer = setTimeout(() => changed.abort(), 60_000);
    const both = AbortSignal.any([signal, changed.signal]);
    try {
      const ended = await Promise.race(
        [`${ipam}/pools/`, `${ipam}/affinities/${this.#opts.node}/`].map((prefix) => this.#client.watch(prefix, from, () => changed.abort(), both)),
      );
      if (ended !== 'closed') await pause(1_000, signal);
    } finally {
      clearTimeout(timer);
      changed.abort(); // ends the other watch
    }
  }

  /** Puts the record under a fresh lease kept alive from here; when that lease is lost (etcd was down longer than the TTL), again. */
  async #put(): Promise<void> {
    const record = this.#record!;
    const ttl = this.#opts.ttlSeconds ?? 15;
    const id = await this.#client.grant(ttl);
    try {
      await this.#client.put(`${this.#nodes}${record.name}`, JSON.stringify(record), id);
    } catch (e) {
      void this.#client.revoke(id).catch(() => undefined);
      throw e;
    }
    const old = this.#lease;
    const stop = new AbortController();
    this.#lease = { id, stop };
    void this.#keepAlive(id, ttl, AbortSignal.any([stop.signal, this.#closing.signal]));
    old?.stop.abort();
    if (old !== undefined) await this.#client.revoke(old.id).catch(() => undefined);
  }

  /**
   * Renews lease `id` every third of its TTL (`etcdctl lease keep-alive`). Lost — etcd no longer has it,
   * or no renewal got through for a whole TTL — the record is put again under a new lease.
   */
  async #keepAlive(id: string, ttl: number, signal: AbortSignal): Promise<void> {
    let renewed = Date.now();
    while (await pause((ttl * 1000) / 3, signal)) {
      try {
        if ((await this.#client.keepAlive(id)) > 0) {
          renewed = Date.now();
          continue;
        }
      } catch {
        if (Date.now() - renewed < ttl * 1000) continue;
      }
      if (this.#lease?.id !== id || signal.aborted) return;
      this.#lease = undefined;
      void this.#retry(this.#closing.signal, () => this.#put()).catch(() => undefined);
      return;
    }
  }

  async #watchLoop(out: Channel<PeerEvent>, signal: AbortSignal): Promise<void> {
    const backoff = new Backoff();
    while (!signal.aborted) {
      let reason: string;
      try {
        // Its own scope: the listing (thousands of records) is not kept alive while the watch runs.
        const revision = await this.#sync(out);
        backoff.reset();
        reason = await this.#client.watch(
          this.#nodes,
          String(BigInt(revision) + 1n),
          (events) => {
            for (const e of events) {
              const name = e.kv.key.slice(this.#nodes.length);
              // A value that is not a record is as good as none: its node's old routes go.
              out.push(e.type === 'delete' ? { type: 'remove', name } : eventFor(this.#decode(e.kv) ?? { name, nodeIPs: [], podCIDRs: [] }));
            }
          },
          signal,
        );
      } catch (e) {
        reason = `cannot list ${this.#nodes} from ${this.#opts.endpoints.join(',')}: ${reasonOf(e)}`;
      }
      if (signal.aborted) break;
      const retryMs = backoff.next();
      out.push({ type: 'waiting', reason, retryMs });
      await pause(retryMs, signal);
    }
  }

  /** Lists every record into one `sync` event; the listing's revision, where the watch starts. */
  async #sync(out: Channel<PeerEvent>): Promise<string> {
    const listed = await this.#client.list(this.#nodes);
    out.push({ type: 'sync', peers: listed.kvs.map((kv) => this.#decode(kv)).filter((r): r is NodeRecord => r !== undefined && complete(r)) });
    return listed.revision;
  }

  /** A stored record, or undefined (a bad value is skipped: one broken peer must not stop the rest). */
  #decode(kv: EtcdKv): NodeRecord | undefined {
    try {
      const r = checkRecord(JSON.parse(kv.value), kv.key);
      return r.name === kv.key.slice(this.#nodes.length) ? r : undefined;
    } catch {
      return undefined;
    }
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
