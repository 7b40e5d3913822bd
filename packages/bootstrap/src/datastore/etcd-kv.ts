// @netboot/ipam's KvStore on the agent's etcd client (etcd-http.ts): the same keys, revisions and
// transactions as @netboot/ipam/etcd's EtcdKv (which speaks gRPC through npm `etcd3`), so ClusterIpam
// claims this node's block without the agent loading a gRPC stack. Each commit is one etcd transaction
// whose compares are the ops' expected revisions: CAS is etcd's own.
import { KvConflictError, type KvEntry, type KvOp, type KvRead, type KvStore, KvUnavailableError, MAX_READS_PER_TXN, readInTransactions } from '@netboot/ipam';
import { decodeKv, type EtcdHttp, EtcdUnavailableError, prefixEnd } from './etcd-http.js';

type RawKvs = { kvs?: Parameters<typeof decodeKv>[0][] };
type TxnAnswer = { header: { revision: string }; succeeded?: boolean; responses?: { response_range?: RawKvs }[] };

export class EtcdHttpKv implements KvStore {
  readonly #client: EtcdHttp;
  readonly #prefix: string;

  /** Keys under `prefix` (as EtcdKv's `prefix` option); the client stays the caller's to close. */
  constructor(client: EtcdHttp, prefix: string) {
    this.#client = client;
    this.#prefix = prefix;
  }

  async get(key: string): Promise<KvEntry | undefined> {
    return (await this.readMany([{ key }]))[0]![0];
  }

  async list(prefix: string): Promise<KvEntry[]> {
    return (await this.readMany([{ prefix }]))[0]!;
  }

  readMany(reads: readonly KvRead[]): Promise<KvEntry[][]> {
    return readInTransactions(reads, async (batch) => {
      // No compares: the success branch, every range in one round trip (one snapshot).
      const res = await this.#txn({ compare: [], success: batch.map((r) => this.#range(r)), failure: [] });
      return (res.responses ?? []).map((r) => this.#entries(r.response_range));
    });
  }

  async commit(ops: KvOp[], opts: { onConflict?: readonly KvRead[] } = {}): Promise<bigint> {
    const guarded = ops.filter((op) => op.expectRevision !== undefined);
    const compare = guarded.map((op) =>
      op.expectRevision === 0n
        ? { key: this.#key(op.key), target: 'CREATE', result: 'EQUAL', create_revision: '0' }
        : { key: this.#key(op.key), target: 'MOD', result: 'EQUAL', mod_revision: String(op.expectRevision) },
    );
    const success = ops.map((op) =>
      op.op === 'put'
        ? { request_put: { key: this.#key(op.key), value: Buffer.from(op.value).toString('base64') } }
        : { request_delete_range: { key: this.#key(op.key) } },
    );
    // On failure, read the guarded keys back in the same transaction to name the one that moved, then
    // what the caller wants for its retry (when it fits in one transaction).
    const extra = opts.onConflict && guarded.length + opts.onConflict.length <= MAX_READS_PER_TXN ? opts.onConflict : [];
    const failure = [...guarded.map((op) => ({ request_range: { key: this.#key(op.key) } })), ...extra.map((r) => this.#range(r))];
    const res = await this.#txn({ compare, success, failure });
    if (res.succeeded !== true) {
      const responses = res.responses ?? [];
      const moved = guarded.find((op, i) => (this.#entries(responses[i]?.response_range)[0]?.revision ?? 0n) !== op.expectRevision);
      const err = new KvConflictError((moved ?? guarded[0]!).key);
      if (extra.length > 0) err.reads = responses.slice(guarded.length).map((r) => this.#entries(r.response_range));
      throw err;
    }
    return BigInt(res.header.revision);
  }

  /** The client is the datastore's: nothing to close here. */
  async close(): Promise<void> {}

  async #txn(body: object): Promise<TxnAnswer> {
    try {
      return await this.#client.call<TxnAnswer>('kv/txn', body);
    } catch (e) {
      if (e instanceof EtcdUnavailableError) throw new KvUnavailableError(this.#client.endpoints.join(','), e);
      throw e;
    }
  }

  #range(r: KvRead): object {
    if (!('prefix' in r)) return { request_range: { key: this.#key(r.key) } };
    const start = this.#prefix + r.prefix;
    return { request_range: { key: Buffer.from(start).toString('base64'), range_end: prefixEnd(start), sort_order: 'ASCEND', sort_target: 'KEY' } };
  }

  #key(key: string): string {
    return Buffer.from(this.#prefix + key).toString('base64');
  }

  #entries(r: RawKvs | undefined): KvEntry[] {
    return (r?.kvs ?? []).map((raw) => {
      const kv = decodeKv(raw);
      return { key: kv.key.slice(this.#prefix.length), value: kv.value, revision: kv.modRevision };
    });
  }
}
