// The cluster IPAM's KvStore on etcd v3 (npm `etcd3` over gRPC). Each commit is one etcd transaction:
// the compares are the ops' expected revisions (mod_revision, or create_revision 0 for "must not exist"),
// so CAS is etcd's own and never a read-then-write on our side.
import { Etcd3, GRPCDeadlineExceededError, GRPCUnavailableError } from 'etcd3';
import type { ICompare, IKeyValue, IRangeRequest, IRequestOp } from 'etcd3';
import { NetbootError } from '@netboot/core/errors';
import { KvConflictError, KvUnavailableError, MAX_READS_PER_TXN, readInTransactions } from './kv.js';
import type { KvEntry, KvOp, KvRead, KvStore } from './kv.js';
import { InvalidArgumentError } from '../validate.js';

export interface EtcdKvOptions {
  /** Client URLs, e.g. `http://127.0.0.1:2379`. */
  endpoints: string | readonly string[];
  /** Prepended to every key, so several clusters (or tests) can share one etcd. */
  prefix?: string;
  /** How long to wait for a connection before reporting the store unavailable (default 2 s). */
  dialTimeoutMs?: number;
  /** Deadline for each call (default 10 s): a hung etcd becomes an error instead of a hung CNI ADD. */
  callTimeoutMs?: number;
}

// Failing to connect shows up as UNAVAILABLE, a missed deadline, or (after repeated failures) the
// client's circuit breaker refusing to try; cockatiel's error class is not ours to import, so match its name.
function isUnreachable(e: unknown): boolean {
  return e instanceof GRPCUnavailableError || e instanceof GRPCDeadlineExceededError || (e instanceof Error && e.constructor.name === 'BrokenCircuitError');
}

/**
 * etcd answered with an error of its own (a transaction over --max-txn-ops, a request too large, auth
 * refused…): not a lost race and not worth a retry, so `internal`; the etcd client's error is the cause.
 */
export class EtcdRequestError extends NetbootError {
  readonly kind = 'internal' as const;

  constructor(
    readonly endpoint: string,
    cause: unknown,
  ) {
    super(`etcd at ${endpoint} refused the request: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** The key range that holds every key starting with `prefix` (etcd's `range_end`). */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]); // all 0xff: to the end of the keyspace
}

/** {@link KvStore} on etcd v3. Create it with {@link openEtcdKv}, which checks that etcd answers. */
export class EtcdKv implements KvStore {
  private constructor(
    private readonly client: Etcd3,
    readonly endpoint: string,
    readonly prefix: string,
  ) {}

  /** Connects and asks etcd for its status once, so a wrong endpoint fails here, quickly. */
  static async open(opts: EtcdKvOptions): Promise<EtcdKv> {
    const hosts = typeof opts.endpoints === 'string' ? [opts.endpoints] : [...opts.endpoints];
    // A configuration mistake, not an outage: retrying cannot help.
    if (hosts.length === 0) throw new InvalidArgumentError('endpoints', opts.endpoints, 'needs at least one etcd endpoint');
    const callTimeoutMs = opts.callTimeoutMs ?? 10_000;
    const client = new Etcd3({
      hosts,
      dialTimeout: opts.dialTimeoutMs ?? 2_000,
      defaultCallOptions: () => ({ deadline: new Date(Date.now() + callTimeoutMs) }),
    });
    const kv = new EtcdKv(client, hosts.join(','), opts.prefix ?? '');
    try {
      await kv.call(() => client.maintenance.status());
    } catch (e) {
      client.close();
      throw e;
    }
    return kv;
  }

  async get(key: string): Promise<KvEntry | undefined> {
    const res = await this.call(() => this.client.kv.range({ key: this.key(key) }));
    const kv = res.kvs[0];
    return kv && this.entry(kv);
  }

  async list(prefix: string): Promise<KvEntry[]> {
    const res = await this.call(() => this.client.kv.range(this.prefixRange(prefix)));
    return res.kvs.map((kv) => this.entry(kv));
  }

  readMany(reads: readonly KvRead[]): Promise<KvEntry[][]> {
    return readInTransactions(reads, async (batch) => {
      // A transaction with no compares always takes the success branch: every range in one round trip.
      const res = await this.call(() => this.client.kv.txn({ compare: [], success: batch.map((r) => this.rangeOp(r)), failure: [] }));
      return res.responses.map((r) => this.entries(r.response_range.kvs));
    });
  }

  async commit(ops: KvOp[], opts: { onConflict?: readonly KvRead[] } = {}): Promise<bigint> {
    const guarded = ops.filter((op) => op.expectRevision !== undefined);
    const compare: ICompare[] = guarded.map((op) =>
      op.expectRevision === 0n
        ? { key: this.key(op.key), target: 'Create', result: 'Equal', create_revision: '0' }
        : { key: this.key(op.key), target: 'Mod', result: 'Equal', mod_revision: String(op.expectRevision) },
    );
    const success: IRequestOp[] = ops.map((op) =>
      op.op === 'put' ? { request_put: { key: this.key(op.key), value: Buffer.from(op.value) } } : { request_delete_range: { key: this.key(op.key) } },
    );
    // On failure, read the guarded keys back in the same transaction to name the one that moved, then
    // whatever the caller wants for its retry (only if it fits in one transaction).
    const extra = opts.onConflict && guarded.length + opts.onConflict.length <= MAX_READS_PER_TXN ? opts.onConflict : [];
    const failure: IRequestOp[] = [...guarded.map((op) => ({ request_range: { key: this.key(op.key) } })), ...extra.map((r) => this.rangeOp(r))];
    const res = await this.call(() => this.client.kv.txn({ compare, success, failure }));
    if (!res.succeeded) {
      const moved = guarded.find((op, i) => {
        const current = res.responses[i]?.response_range.kvs[0];
        return BigInt(current?.mod_revision ?? 0) !== op.expectRevision;
      });
      const err = new KvConflictError((moved ?? guarded[0]!).key);
      if (extra.length > 0) err.reads = res.responses.slice(guarded.length).map((r) => this.entries(r.response_range.kvs));
      throw err;
    }
    return BigInt(res.header.revision);
  }

  async close(): Promise<void> {
    this.client.close();
  }

  private rangeOp(r: KvRead): IRequestOp {
    return { request_range: 'prefix' in r ? this.prefixRange(r.prefix) : { key: this.key(r.key) } };
  }

  private entries(kvs: IKeyValue[]): KvEntry[] {
    return kvs.map((kv) => this.entry(kv));
  }

  private prefixRange(prefix: string): IRangeRequest {
    const start = this.key(prefix);
    return { key: start, range_end: prefixEnd(start), sort_order: 'Ascend', sort_target: 'Key' };
  }

  private key(key: string): Buffer {
    return Buffer.from(this.prefix + key);
  }

  private entry(kv: IKeyValue): KvEntry {
    return { key: kv.key.toString().slice(this.prefix.length), value: kv.value.toString(), revision: BigInt(kv.mod_revision) };
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (isUnreachable(e)) throw new KvUnavailableError(this.endpoint, e);
      throw new EtcdRequestError(this.endpoint, e);
    }
  }
}

/** Opens the cluster IPAM store on etcd (`etcdctl --endpoints …` equivalent); KvUnavailableError if unreachable. */
export function openEtcdKv(opts: EtcdKvOptions): Promise<EtcdKv> {
  return EtcdKv.open(opts);
}
