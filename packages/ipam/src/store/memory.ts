// An in-process KvStore with etcd's revision semantics: one store-wide counter that every successful
// commit bumps once, and each written key remembers the revision it was last modified at. Used by tests and
// single-process tools; several ClusterIpam instances sharing one MemoryKv race exactly like etcd clients,
// because every call yields to the event loop before it touches the map.
import { KvConflictError } from './kv.js';
import type { KvEntry, KvOp, KvRead, KvStore } from './kv.js';

export class MemoryKv implements KvStore {
  private readonly data = new Map<string, { value: string; revision: bigint }>();
  private revision = 0n;
  private closed = false;
  /** Number of commits refused with KvConflictError; lets tests see that races really happened. */
  conflicts = 0;

  async get(key: string): Promise<KvEntry | undefined> {
    await this.turn();
    const entry = this.data.get(key);
    return entry && { key, ...entry };
  }

  async list(prefix: string): Promise<KvEntry[]> {
    await this.turn();
    return this.scan(prefix);
  }

  async readMany(reads: readonly KvRead[]): Promise<KvEntry[][]> {
    await this.turn();
    return this.readNow(reads);
  }

  private readNow(reads: readonly KvRead[]): KvEntry[][] {
    return reads.map((r) => {
      if ('prefix' in r) return this.scan(r.prefix);
      const entry = this.data.get(r.key);
      return entry ? [{ key: r.key, ...entry }] : [];
    });
  }

  async commit(ops: KvOp[], opts: { onConflict?: readonly KvRead[] } = {}): Promise<bigint> {
    await this.turn();
    for (const op of ops) {
      if (op.expectRevision === undefined) continue;
      const current = this.data.get(op.key)?.revision ?? 0n;
      if (current !== op.expectRevision) {
        this.conflicts++;
        const err = new KvConflictError(op.key);
        if (opts.onConflict) err.reads = this.readNow(opts.onConflict);
        throw err;
      }
    }
    this.revision++;
    for (const op of ops) {
      if (op.op === 'put') this.data.set(op.key, { value: op.value, revision: this.revision });
      else this.data.delete(op.key);
    }
    return this.revision;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Current store revision (etcd's header revision). */
  currentRevision(): bigint {
    return this.revision;
  }

  private scan(prefix: string): KvEntry[] {
    return [...this.data.entries()]
      .filter(([key]) => key.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, entry]) => ({ key, ...entry }));
  }

  private async turn(): Promise<void> {
    if (this.closed) throw new Error('MemoryKv is closed');
    await Promise.resolve();
  }
}
