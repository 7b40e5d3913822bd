// An in-process KvStore with etcd's revision semantics: one store-wide counter that every successful
// commit bumps once, and each written key remembers the revision it was last modified at. Used by tests and
// single-process tools; several ClusterIpam instances sharing one MemoryKv race exactly like etcd clients,
// because every call yields to the event loop before it touches the map.
// Keys are also kept in a sorted array, so a prefix read is a binary search plus its matches (etcd's range
// read) instead of a scan of every key; a new or deleted key shifts the array, a memmove, not a comparison each.
import { NetbootError } from '@netboot/core/errors';
import { KvConflictError } from './kv.js';
import type { KvEntry, KvOp, KvRead, KvStore } from './kv.js';

/** A MemoryKv was used after close(): a bug in the caller (nothing to reach again, unlike etcd). */
export class MemoryKvClosedError extends NetbootError {
  readonly kind = 'internal' as const;

  constructor() {
    super('MemoryKv is closed');
  }
}

export class MemoryKv implements KvStore {
  private readonly data = new Map<string, { value: string; revision: bigint }>();
  private readonly sorted: string[] = [];
  private revision = 0n;
  private closed = false;
  /** Number of commits refused with KvConflictError; lets tests see that races really happened. */
  conflicts = 0;
  /** Keys the sorted index examined (binary-search steps, keys read); lets tests bound a read without timing it. */
  keysVisited = 0;

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
      if (op.op === 'put') {
        // A new key is an O(n) splice into the sorted array: fine for tests and single-process tools (a /16
        // of pods is ~65k keys, a memmove each), not a store for millions of keys.
        if (!this.data.has(op.key)) this.sorted.splice(this.lowerBound(op.key), 0, op.key);
        this.data.set(op.key, { value: op.value, revision: this.revision });
      } else if (this.data.delete(op.key)) {
        this.sorted.splice(this.lowerBound(op.key), 1);
      }
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

  // Every key that starts with `prefix` sorts at or after it, and before any key that does not.
  private scan(prefix: string): KvEntry[] {
    const found: KvEntry[] = [];
    for (let i = this.lowerBound(prefix); i < this.sorted.length; i++) {
      const key = this.sorted[i]!;
      this.keysVisited++;
      if (!key.startsWith(prefix)) break;
      found.push({ key, ...this.data.get(key)! });
    }
    return found;
  }

  /** Index of the first key not less than `key`. */
  private lowerBound(key: string): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      this.keysVisited++;
      if (this.sorted[mid]! < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private async turn(): Promise<void> {
    if (this.closed) throw new MemoryKvClosedError();
    await Promise.resolve();
  }
}
