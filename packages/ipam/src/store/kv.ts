// The key-value seam of the cluster IPAM, implemented by MemoryKv (store/memory.ts) and EtcdKv
// (store/etcd.ts); one contract suite (test/kv-contract.ts) runs against both. Cluster-wide IPAM state (pools, node blocks, affinities, per-block allocations) lives in a
// key-value store with compare-and-swap. Every change is a CAS on the revision read before it, so
// two writers can never both win a read-modify-write race; callers retry on KvConflictError.

/** A stored value and the revision it was last modified at (etcd's mod_revision). */
import { NetbootError } from '@netboot/core/errors';

export interface KvEntry {
  key: string;
  value: string;
  revision: bigint;
}

/** A condition + write that is applied atomically, or not at all. */
export type KvOp =
  | { op: 'put'; key: string; value: string /** 0n = must not exist; otherwise must be at this revision */; expectRevision?: bigint }
  | { op: 'delete'; key: string; expectRevision?: bigint };

/** One read of a {@link KvStore.readMany} batch: a single key, or every key under a prefix. */
export type KvRead = { key: string } | { prefix: string };

export interface KvStore {
  get(key: string): Promise<KvEntry | undefined>;
  /** Every entry whose key starts with `prefix`, sorted by key. */
  list(prefix: string): Promise<KvEntry[]>;
  /**
   * Several reads in one round trip (etcd: one read-only transaction, so one consistent snapshot).
   * Result `i` answers `reads[i]`: the entry (or nothing) for a key, the sorted entries for a prefix.
   */
  readMany(reads: readonly KvRead[]): Promise<KvEntry[][]>;
  /**
   * Applies all ops atomically if every `expectRevision` holds; otherwise applies none and throws
   * KvConflictError naming the first key whose revision moved. Returns the new store revision.
   * `onConflict` reads are done in the same round trip when the commit fails (etcd: the transaction's
   * failure branch) and handed back in `KvConflictError.reads`, so a retry need not read again.
   */
  commit(ops: KvOp[], opts?: { onConflict?: readonly KvRead[] }): Promise<bigint>;
  close(): Promise<void>;
}

/** etcd refuses a transaction with more than 128 operations (--max-txn-ops); reads count too. */
export const MAX_READS_PER_TXN = 100;

/**
 * `readMany` for a store whose round trip takes at most MAX_READS_PER_TXN reads: `one` answers a batch
 * that fits; a longer list is split, each chunk its own snapshot (callers guard every write by the
 * revisions they read anyway).
 */
export async function readInTransactions(reads: readonly KvRead[], one: (batch: readonly KvRead[]) => Promise<KvEntry[][]>): Promise<KvEntry[][]> {
  if (reads.length === 0) return [];
  if (reads.length <= MAX_READS_PER_TXN) return one(reads);
  const chunks: KvRead[][] = [];
  for (let i = 0; i < reads.length; i += MAX_READS_PER_TXN) chunks.push(reads.slice(i, i + MAX_READS_PER_TXN));
  return (await Promise.all(chunks.map(one))).flat();
}

/** A compare-and-swap lost a race: re-read and try again. */
export class KvConflictError extends NetbootError {
  readonly kind = 'conflict' as const;
  /** What the commit's `onConflict` reads returned, from the snapshot that refused it. */
  reads: KvEntry[][] | undefined;

  constructor(readonly key: string) {
    super(`concurrent update of ${key}: re-read and retry`);
  }
}

/** The store could not be reached (etcd down, wrong endpoint); says where it tried. */
export class KvUnavailableError extends NetbootError {
  readonly kind = 'unavailable' as const;

  constructor(
    readonly endpoint: string,
    cause: unknown,
  ) {
    super(
      `cannot reach the IPAM datastore at ${endpoint}: ${cause instanceof Error ? cause.message : String(cause)}. ` +
        `Check that etcd is running and the endpoint is right.`,
      { cause },
    );
  }
}
