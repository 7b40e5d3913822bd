// The reader/writer of the cluster IPAM, like Calico's ipam_block_reader_writer.go: reads pools, blocks,
// affinities and handles from the KvStore (decoded and checked), and writes every change as one atomic
// commit guarded by the revisions it read, retrying lost races after a random pause. The decisions
// themselves (which address, which block) are the pure functions of block.ts.
import { Cidr } from './cidr.js';
import { blockReservations, unassign } from './block.js';
import type { IpamKeys } from './keys.js';
import type { IpPool } from './pool.js';
import { PoolNotFoundError } from './pool.js';
import { CorruptEntryError, corruptProblem, decodeBlock, decodeHandle, decodeNodeLabels, decodePool } from './records.js';
import type { BlockAllocation, BlockRecord, HandleRecord, Stored } from './records.js';
import type { Attachment, Problem, Reservation } from './report.js';
import { KvConflictError } from './store/kv.js';
import type { KvEntry, KvOp, KvRead, KvStore } from './store/kv.js';

/** What one node's allocation needs, read in one round trip (two when the node's block list changed). */
export interface NodeView {
  pools: Stored<IpPool>[];
  labels: Record<string, string>;
  /** The node's blocks (from its affinity index), in affinity key order. */
  blocks: Stored<BlockRecord>[];
  handle: KvEntry | undefined;
}

/** A block value that did not decode, with where it is. */
interface CorruptBlock {
  error: CorruptEntryError;
  block: string;
  node: string | undefined;
}

/** Blocks read in bulk: the ones that decoded, and the ones that did not (skipped, not fatal). */
export interface BlockScan {
  blocks: Stored<BlockRecord>[];
  corrupt: CorruptBlock[];
}

/** The `corrupt-entry` problems of a scan's undecodable blocks. */
export function corruptBlockProblems(scan: BlockScan): Problem[] {
  return scan.corrupt.map((c) => corruptProblem(c.error, { block: c.block, ...(c.node === undefined ? {} : { node: c.node }) }));
}

// Conflict backoff: a random pause (full jitter, so contending writers spread out instead of colliding again
// in lock-step) within a window that starts under a millisecond (the winner's commit is already done) and
// doubles up to a cap. An allocate whose refused commit brought back a fresh snapshot retries at once first.
const BACKOFF_FIRST_MS = 1;
const BACKOFF_CAP_MS = 32;

// etcd refuses transactions with more than 128 operations (--max-txn-ops); stay well below.
const MAX_DROPS_PER_COMMIT = 60;

export class ClusterStore {
  /**
   * Per node, the block CIDRs its affinity index listed last time: read speculatively in the same
   * round trip as the index itself. Only a hint: the index read alongside decides which blocks count.
   */
  private readonly blockHint = new Map<string, string[]>();

  constructor(
    readonly kv: KvStore,
    readonly keys: IpamKeys,
    private readonly maxRetries: number,
  ) {}

  /** Runs `fn` again after a random pause whenever it loses a CAS race, up to maxRetries times. */
  async retry<T>(fn: (conflict: KvConflictError | undefined) => Promise<T>): Promise<T> {
    let conflict: KvConflictError | undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn(conflict);
      } catch (err) {
        conflict = err instanceof KvConflictError ? err : undefined;
        if (!(err instanceof KvConflictError) || attempt >= this.maxRetries) throw err;
        // Holding a snapshot taken as the commit was refused, the first retry goes at once: waiting would
        // only let it go stale. Later ones back off.
        if (err.reads && attempt === 1) continue;
        const window = Math.min(BACKOFF_CAP_MS, BACKOFF_FIRST_MS * 2 ** (attempt - 1));
        await new Promise((resolve) => setTimeout(resolve, Math.random() * window));
      }
    }
  }

  // ---- reads ----------------------------------------------------------------------------------------

  async readPools(): Promise<Stored<IpPool>[]> {
    return (await this.kv.list(this.keys.pools)).map(decodePool);
  }

  async requirePool(name: string): Promise<Stored<IpPool>> {
    const entry = await this.kv.get(this.keys.pool(name));
    if (!entry) throw new PoolNotFoundError(name);
    return decodePool(entry);
  }

  /** One block, decoded; a corrupt value throws CorruptEntryError. */
  async readBlock(cidr: string): Promise<Stored<BlockRecord> | undefined> {
    const entry = await this.kv.get(this.keys.block(cidr));
    return entry && decodeBlock(entry);
  }

  /**
   * The named blocks that exist, in one round trip; values that do not decode are skipped and returned
   * as corrupt, with their owner from `nodeOf` (the affinity index) when the caller knows it.
   */
  async readBlocks(cidrs: readonly string[], nodeOf: (cidr: string) => string | undefined = () => undefined): Promise<BlockScan> {
    const scan: BlockScan = { blocks: [], corrupt: [] };
    if (cidrs.length === 0) return scan;
    const entries = await this.kv.readMany(cidrs.map((cidr) => ({ key: this.keys.block(cidr) })));
    entries.forEach(([entry], i) => {
      if (!entry) return;
      try {
        scan.blocks.push(decodeBlock(entry));
      } catch (err) {
        if (!(err instanceof CorruptEntryError)) throw err;
        scan.corrupt.push({ error: err, block: cidrs[i]!, node: nodeOf(cidrs[i]!) });
      }
    });
    return scan;
  }

  /** The affinity index: which node owns each claimed block (and in which pool). */
  async affinities(): Promise<{ cidr: string; node: string; pool: string }[]> {
    return (await this.kv.list(this.keys.affinities)).flatMap((e) => {
      const parsed = this.keys.parseAffinity(e.key);
      return parsed ? [{ ...parsed, pool: e.value }] : [];
    });
  }

  /** Blocks whose affinity passes `filter`; reads only the small affinity index to choose. */
  async blocksWhere(filter: (node: string, pool: string, cidr: string) => boolean): Promise<BlockScan> {
    const chosen = (await this.affinities()).filter((a) => filter(a.node, a.pool, a.cidr));
    const owners = new Map(chosen.map((a) => [a.cidr, a.node]));
    return this.readBlocks(
      chosen.map((a) => a.cidr),
      (cidr) => owners.get(cidr),
    );
  }

  /** CIDR and owner of the claimed block that contains `ip`, from the affinity index alone. */
  async blockContaining(ip: string): Promise<{ cidr: string; node: string } | undefined> {
    return (await this.affinities()).find((a) => Cidr.parse(a.cidr).contains(ip));
  }

  /** CIDRs of every claimed block (from the affinity index). */
  async claimedBlocks(): Promise<Set<string>> {
    return new Set((await this.affinities()).map((a) => a.cidr));
  }

  /**
   * Pools, the node's labels and blocks, and (given) the attachment's handle, in one round trip: the
   * blocks the node had last time are read speculatively next to its affinity index, and only blocks the
   * index lists but the guess missed cost a second read. `prefetched` is that read, already done (the
   * snapshot a refused commit brought back).
   */
  async nodeView(node: string, att?: Attachment, prefetched?: KvEntry[][]): Promise<NodeView> {
    const [poolEntries = [], affinityEntries = [], [nodeEntry] = [], [handle] = [], ...guessed] =
      prefetched ?? (await this.kv.readMany(this.viewReads(node, att)));
    const cidrs = affinityEntries.flatMap((e) => this.keys.parseAffinity(e.key)?.cidr ?? []);
    this.blockHint.set(node, cidrs);
    const found = new Map<string, KvEntry>();
    for (const [entry] of guessed) if (entry) found.set(entry.key, entry);
    const missing = cidrs.filter((cidr) => !found.has(this.keys.block(cidr)));
    if (missing.length > 0) {
      const entries = await this.kv.readMany(missing.map((cidr) => ({ key: this.keys.block(cidr) })));
      for (const [entry] of entries) if (entry) found.set(entry.key, entry);
    }
    // Allocation writes to these blocks: a corrupt one stops it (CorruptEntryError) rather than be guessed at.
    const blocks = cidrs.flatMap((cidr) => {
      const entry = found.get(this.keys.block(cidr));
      return entry ? [decodeBlock(entry)] : [];
    });
    return {
      pools: poolEntries.map(decodePool),
      labels: nodeEntry ? decodeNodeLabels(nodeEntry) : {},
      blocks,
      handle: att ? handle : undefined,
    };
  }

  /** The reads of {@link nodeView}: pools, affinity index, labels, handle, then the guessed blocks. */
  viewReads(node: string, att?: Attachment): KvRead[] {
    return [
      { prefix: this.keys.pools },
      { prefix: this.keys.nodeAffinities(node) },
      { key: this.keys.node(node) },
      { key: att ? this.keys.handle(att) : this.keys.node(node) },
      ...(this.blockHint.get(node) ?? []).map((cidr) => ({ key: this.keys.block(cidr) })),
    ];
  }

  /** A block this client just claimed for `node`: read it speculatively from now on. */
  rememberBlock(node: string, cidr: string): void {
    const known = this.blockHint.get(node) ?? [];
    if (!known.includes(cidr)) this.blockHint.set(node, [...known, cidr]);
  }

  // ---- writes ---------------------------------------------------------------------------------------

  /**
   * The ops that accompany creating a block: its affinity index entry, and a rewrite of the pool at the
   * revision we read, so a claim cannot land in a pool that was disabled or deleted meanwhile.
   */
  claimOps(pool: Stored<IpPool>, node: string, cidr: string): KvOp[] {
    return [
      { op: 'put', key: this.keys.pool(pool.value.name), value: JSON.stringify(pool.value), expectRevision: pool.revision },
      { op: 'put', key: this.keys.affinity(node, cidr), value: pool.value.name, expectRevision: 0n },
    ];
  }

  /** The op that writes `block` back, guarded by the revision it was read at (0n: must not exist yet). */
  blockOp(block: BlockRecord, revision: bigint): KvOp {
    return { op: 'put', key: this.keys.block(block.cidr), value: JSON.stringify(block), expectRevision: revision };
  }

  /** The op that writes what is left of a handle (or deletes it), guarded by the revision it was read at. */
  handleOp(entry: KvEntry, rest: HandleRecord['ips']): KvOp {
    return rest.length > 0
      ? { op: 'put', key: entry.key, value: JSON.stringify({ ips: rest }), expectRevision: entry.revision }
      : { op: 'delete', key: entry.key, expectRevision: entry.revision };
  }

  /**
   * Removes the allocations of one block that `match`, with their handles, in commits small enough for etcd.
   * Each commit is guarded by the block's and the handles' revisions. Returns what was removed.
   */
  async dropAllocations(cidr: string, match: (ip: string, a: BlockAllocation, block: BlockRecord) => boolean): Promise<Reservation[]> {
    const dropped: Reservation[] = [];
    for (;;) {
      const batch = await this.retry(async () => {
        const block = await this.readBlock(cidr);
        if (!block) return [];
        const offsetOf = (ip: string) => Cidr.parse(cidr).offsetOf(ip).toString();
        const chosen = blockReservations(block.value)
          .filter((r) => match(r.ip, block.value.allocations[offsetOf(r.ip)]!, block.value))
          .slice(0, MAX_DROPS_PER_COMMIT);
        if (chosen.length === 0) return [];
        // Two IPs of one attachment (dual-stack) share a handle: one op per handle, every IP taken out.
        const handles = new Map<string, Set<string>>();
        for (const r of chosen) handles.set(this.keys.handle(r), (handles.get(this.keys.handle(r)) ?? new Set()).add(r.ip));
        const keys = [...handles.keys()];
        const ops: KvOp[] = [];
        (await this.kv.readMany(keys.map((key) => ({ key })))).forEach(([handle], i) => {
          if (!handle) return;
          const gone = handles.get(keys[i]!)!;
          ops.push(
            this.handleOp(
              handle,
              handleIpsLenient(handle).filter((e) => !gone.has(e.ip)),
            ),
          );
        });
        ops.push(
          this.blockOp(
            unassign(
              block.value,
              chosen.map((r) => r.ip),
            ),
            block.revision,
          ),
        );
        await this.kv.commit(ops);
        return chosen;
      });
      if (batch.length === 0) return dropped;
      dropped.push(...batch);
    }
  }

  /** Deletes a block (and its affinity) if it holds no allocations, guarded by the revision it was read at. */
  async deleteEmptyBlock(cidr: string): Promise<'deleted' | 'in-use' | 'gone'> {
    return this.retry(async () => {
      const block = await this.readBlock(cidr);
      if (!block) return 'gone';
      if (Object.keys(block.value.allocations).length > 0) return 'in-use';
      await this.kv.commit([
        { op: 'delete', key: this.keys.block(cidr), expectRevision: block.revision },
        { op: 'delete', key: this.keys.affinity(block.value.node, cidr) },
      ]);
      return 'deleted';
    });
  }
}

// Releasing must work even when a handle is damaged: treat an unreadable handle as holding nothing else.
function handleIpsLenient(entry: KvEntry): HandleRecord['ips'] {
  try {
    return decodeHandle(entry).ips;
  } catch {
    return [];
  }
}
