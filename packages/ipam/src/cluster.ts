// Cluster-wide IPAM over any KvStore with compare-and-swap (etcd, or MemoryKv in tests): pools, node
// blocks with affinity, pod IPs, GC and consistency checks. Every change is one atomic commit guarded by
// the revisions read before it; a lost race (KvConflictError) re-reads and retries after a random pause.
// Nothing here holds state between calls, so any number of ClusterIpam instances may share one store.
import { createHash } from 'node:crypto';
import { InvalidAddressError, normalizeIp, parseIp, type IpFamily as Family } from '@netboot/core/ip';
import { Cidr } from './cidr.js';
import { IpInUseError } from './allocator.js';
import type { RangeAllocator } from './allocator.js';
import {
  CorruptEntryError,
  IpamKeys,
  blockAllocator,
  blockCapacity,
  blockFree,
  blockFromAllocator,
  blockReservations,
  decodeBlock,
  decodeHandle,
  newBlock,
} from './blocks.js';
import type { BlockAllocation, BlockRecord, HandleRecord } from './blocks.js';
import {
  PoolInUseError,
  PoolNotFoundError,
  checkPoolFits,
  definePool,
  patchPool,
  poolBlockCount,
  poolSelectsNode,
} from './pool.js';
import type { IpPool, IpPoolPatch, IpPoolSpec } from './pool.js';
import type { Attachment, BlockUsage, CheckReport, GcResult, Problem, Reservation, Usage } from './report.js';
import { KvConflictError } from './store/kv.js';
import type { KvEntry, KvOp, KvRead, KvStore } from './store/kv.js';
import { InvalidArgumentError, attachmentKey, validateAttachment, validateNodeName } from './validate.js';

export interface ClusterIpamOptions {
  /** Key prefix; default `/netboot/ipam`. */
  prefix?: string;
  /** Service CIDR(s) no pool may overlap (kubeadm's `serviceSubnet`). */
  serviceCidr?: string | string[];
  /** true (default): a node only uses its own blocks. false: when it cannot claim a block, borrow from others'. */
  strictAffinity?: boolean;
  /** Attempts per operation when CAS races are lost; default 100 (Calico's figure). */
  maxRetries?: number;
}

export interface NodeOptions {
  /** The node's labels, matched against pools' nodeSelector; default: the labels stored by `setNode`. */
  labels?: Record<string, string>;
}

export interface AllocateOptions extends NodeOptions {
  /** A specific IP (static request); its pool must be enabled and select the node. */
  ip?: string;
  /** Which family to allocate (call once per family for dual-stack); default: IPv4 if a pool offers it. */
  family?: Family;
}

export interface ClaimOptions extends NodeOptions {
  family?: Family;
  /** Restrict to one pool. */
  pool?: string;
}

export interface BlockInfo extends BlockUsage {
  pool: string;
}

/** No address left for the node in any pool it may use. */
export class IpExhaustedError extends Error {
  constructor(readonly pools: string[], readonly node: string, family: Family) {
    super(pools.length === 0
      ? `no enabled IPv${family} pool selects node ${node}`
      : `no free IPv${family} address for node ${node} in pool(s) ${pools.join(', ')} (blocks full, maxBlocksPerNode reached or no free block left)`);
    this.name = 'IpExhaustedError';
  }
}

/** A node cannot leave while its blocks hold pod IPs (unless forced). */
export class BlockInUseError extends Error {
  constructor(readonly node: string, readonly allocations: Reservation[]) {
    super(`node ${node} still has ${allocations.length} allocated IP(s) in its blocks; release them or force`);
    this.name = 'BlockInUseError';
  }
}

/** A static IP lies in another node's block and strictAffinity forbids borrowing. */
export class BlockAffinityError extends Error {
  constructor(readonly ip: string, readonly block: string, readonly owner: string, readonly node: string) {
    super(`${ip} is in block ${block} owned by node ${owner}; node ${node} may not use it while strictAffinity is on`);
    this.name = 'BlockAffinityError';
  }
}

interface Stored<T> {
  value: T;
  revision: bigint;
}

/** What one node's allocation needs, read in one round trip (two when the node's block list changed). */
interface NodeView {
  pools: Stored<IpPool>[];
  labels: Record<string, string>;
  /** The node's blocks (from its affinity index), in affinity key order. */
  blocks: Stored<BlockRecord>[];
  handle: KvEntry | undefined;
}

// Conflict backoff: a random pause (full jitter, so contending writers spread out instead of colliding again
// in lock-step) within a window that starts under a millisecond (the winner's commit is already done) and
// doubles up to a cap. An allocate whose refused commit brought back a fresh snapshot retries at once first.
const BACKOFF_FIRST_MS = 1;
const BACKOFF_CAP_MS = 32;

// etcd refuses transactions with more than 128 operations (--max-txn-ops); stay well below.
const MAX_DROPS_PER_COMMIT = 60;


export class ClusterIpam {
  readonly keys: IpamKeys;
  private readonly strictAffinity: boolean;
  private readonly maxRetries: number;
  private readonly serviceCidr: string | string[] | undefined;
  /**
   * Per node, the block CIDRs its affinity index listed last time: read speculatively in the same
   * round trip as the index itself. Only a hint: the index read alongside decides which blocks count.
   */
  private readonly blockHint = new Map<string, string[]>();

  constructor(private readonly kv: KvStore, opts: ClusterIpamOptions = {}) {
    this.keys = new IpamKeys(opts.prefix);
    this.strictAffinity = opts.strictAffinity ?? true;
    this.maxRetries = opts.maxRetries ?? 100;
    this.serviceCidr = opts.serviceCidr;
  }

  // ---- pools ----------------------------------------------------------------------------------------

  /** Creates a pool (`calicoctl create ippool`); refuses overlaps with other pools and the service CIDR. */
  async createPool(spec: IpPoolSpec): Promise<IpPool> {
    const pool = definePool(spec);
    return this.retry(async () => {
      const [existing, poolSet] = await Promise.all([this.readPools(), this.kv.get(this.keys.poolSet)]);
      checkPoolFits(pool, existing.map((p) => p.value), this.serviceCidr);
      await this.kv.commit([
        { op: 'put', key: this.keys.pool(pool.name), value: JSON.stringify(pool), expectRevision: 0n },
        { op: 'put', key: this.keys.poolSet, value: pool.name, expectRevision: poolSet?.revision ?? 0n },
      ]);
      return pool;
    });
  }

  async listPools(): Promise<IpPool[]> {
    return (await this.readPools()).map((p) => p.value);
  }

  async getPool(name: string): Promise<IpPool | undefined> {
    return (await this.readPool(name))?.value;
  }

  /** Changes mutable fields (disabled, natOutgoing, mode, nodeSelector, maxBlocksPerNode). */
  async updatePool(name: string, patch: IpPoolPatch): Promise<IpPool> {
    return this.retry(async () => {
      const stored = await this.requirePool(name);
      const next = patchPool(stored.value, patch);
      await this.kv.commit([{ op: 'put', key: this.keys.pool(name), value: JSON.stringify(next), expectRevision: stored.revision }]);
      return next;
    });
  }

  /** `calicoctl patch ippool <name> -p '{"spec":{"disabled":true}}'`: no new IPs or blocks; existing IPs stay valid. */
  disablePool(name: string): Promise<IpPool> {
    return this.updatePool(name, { disabled: true });
  }

  enablePool(name: string): Promise<IpPool> {
    return this.updatePool(name, { disabled: false });
  }

  /**
   * Deletes a pool and its (empty) blocks. Refused with PoolInUseError while any of its IPs is allocated;
   * with `force` the pool is disabled, its allocations dropped (and returned), then it is deleted.
   */
  async deletePool(name: string, opts: { force?: boolean } = {}): Promise<GcResult & { blocks: string[] }> {
    const released: Reservation[] = [];
    const deletedBlocks: string[] = [];
    return this.retry(async () => {
      const pool = await this.requirePool(name);
      const blocks = await this.blocksWhere((_node, poolName) => poolName === name);
      const inUse = blocks.flatMap((b) => blockReservations(b.value));
      if (inUse.length > 0) {
        if (!opts.force) throw new PoolInUseError(name, inUse);
        // Disable first so no new allocation lands while we drain; the drop commits then conflict-retry cleanly.
        if (!pool.value.disabled) await this.disablePool(name);
        for (const block of blocks) released.push(...(await this.dropAllocations(block.value.cidr, () => true)));
      }
      for (const { value: { cidr } } of blocks) {
        const outcome = await this.deleteEmptyBlock(cidr);
        if (outcome === 'deleted') deletedBlocks.push(cidr);
        // An IP was allocated in it since the check above: start over (and refuse, or drop it with force).
        else if (outcome === 'in-use') throw new KvConflictError(this.keys.block(cidr));
      }
      // Guarded by the revision read before the emptiness check: a block claimed since then rewrote the pool.
      await this.kv.commit([{ op: 'delete', key: this.keys.pool(name), expectRevision: pool.revision }]);
      return { released, blocks: deletedBlocks };
    });
  }

  // ---- nodes and blocks -----------------------------------------------------------------------------

  /** Stores a node's labels (for pools' nodeSelector) so later calls need not pass them. */
  async setNode(node: string, labels: Record<string, string> = {}): Promise<void> {
    validateNodeName(node);
    if (typeof labels !== 'object' || labels === null || Array.isArray(labels) || Object.values(labels).some((v) => typeof v !== 'string')) {
      throw new InvalidArgumentError(`labels of node ${node}`, labels, 'must map label names to string values');
    }
    await this.kv.commit([{ op: 'put', key: this.nodeKey(node), value: JSON.stringify({ labels }) }]);
  }

  /** Names of nodes registered with `setNode`. */
  async listNodes(): Promise<string[]> {
    return (await this.kv.list(`${this.keys.prefix}/nodes/`)).map((e) => e.key.slice(`${this.keys.prefix}/nodes/`.length));
  }

  /**
   * The node's block in an enabled pool that selects it, claiming one if it has none. Stable: a node that
   * already has a block gets it back, and a fresh claim starts at a position derived from the node's name,
   * so a node that leaves and rejoins gets its old block again when it is still free.
   */
  async claimBlock(node: string, opts: ClaimOptions = {}): Promise<BlockInfo> {
    validateNodeName(node);
    return this.retry(async () => {
      const view = await this.nodeView(node);
      const { pools, family } = candidatePools(view, opts, opts.family);
      const usable = pools.filter((p) => opts.pool === undefined || p.value.name === opts.pool);
      const own = view.blocks.find((b) => usable.some((p) => p.value.name === b.value.pool));
      if (own) return blockInfo(own.value);
      const claimed = usable.length > 0 ? await this.claimedBlocks() : new Set<string>();
      for (const pool of usable) {
        const block = prepareClaim(pool, node, view.blocks, claimed);
        if (!block) continue;
        await this.kv.commit([
          ...this.claimOps(pool, node, block.cidr),
          { op: 'put', key: this.keys.block(block.cidr), value: JSON.stringify(block), expectRevision: 0n },
        ]);
        this.rememberBlock(node, block.cidr);
        return blockInfo(block);
      }
      throw new IpExhaustedError(usable.map((p) => p.value.name), node, family);
    });
  }

  /** Blocks and their owners (`calicoctl ipam show --show-blocks`). */
  async listBlocks(filter: { node?: string; pool?: string } = {}): Promise<BlockInfo[]> {
    const blocks = await this.blocksWhere((node, pool) => (filter.node ?? node) === node && (filter.pool ?? pool) === pool);
    return blocks.map((b) => blockInfo(b.value));
  }

  /**
   * A node left the cluster: release its blocks (and its label record). Refused with BlockInUseError while
   * they hold pod IPs, unless `force`, which drops those IPs and returns them.
   */
  async releaseNode(node: string, opts: { force?: boolean } = {}): Promise<GcResult> {
    validateNodeName(node);
    const { blocks } = await this.nodeView(node);
    const inUse = blocks.flatMap((b) => blockReservations(b.value));
    if (inUse.length > 0 && !opts.force) throw new BlockInUseError(node, inUse);
    const released: Reservation[] = [];
    for (const { value: { cidr } } of blocks) {
      // Only an empty block is deleted (guarded by its revision): a pod IP allocated since the check
      // above is refused without force, and dropped (and reported) with it.
      while ((await this.deleteEmptyBlock(cidr)) === 'in-use') {
        if (!opts.force) {
          const now = await this.readBlock(cidr);
          throw new BlockInUseError(node, now ? blockReservations(now.value) : []);
        }
        released.push(...(await this.dropAllocations(cidr, () => true)));
      }
    }
    await this.kv.commit([{ op: 'delete', key: this.nodeKey(node) }]);
    return { released };
  }

  // ---- pod IPs --------------------------------------------------------------------------------------

  /**
   * An IP for one pod interface from the node's blocks, claiming a new block when they are full (up to the
   * pool's maxBlocksPerNode). Idempotent: the same (containerId, ifname) gets the IP it already holds.
   */
  async allocate(node: string, attachment: Attachment, opts: AllocateOptions = {}): Promise<Reservation> {
    validateNodeName(node);
    const att = validateAttachment(attachment);
    const requested = opts.ip === undefined ? undefined : parseIp(opts.ip);
    if (requested && opts.family !== undefined && requested.family !== opts.family) {
      throw new InvalidArgumentError('ip', opts.ip, `is not an IPv${opts.family} address`);
    }
    const wantedIp = opts.ip === undefined ? undefined : normalizeIp(opts.ip);
    return this.retry(async (conflict) => {
      // After a lost race the refused commit already re-read everything this attempt needs.
      const view = await this.nodeView(node, att, conflict?.reads);
      const handleEntry = view.handle;
      const handle: HandleRecord = handleEntry ? decodeHandle(handleEntry.key, handleEntry.value) : { ips: [] };
      const { pools, family } = candidatePools(view, opts, requested?.family ?? opts.family);
      const held = handle.ips.find((e) => parseIp(e.ip).family === family);
      if (held) {
        if (wantedIp !== undefined && held.ip !== wantedIp) throw new IpInUseError(wantedIp, `${att.containerId}/${att.ifname} already holds ${held.ip}`);
        const block = view.blocks.find((b) => b.value.cidr === held.block) ?? (await this.readBlock(held.block));
        return { ...att, ip: held.ip, block: held.block, pool: block?.value.pool, node: block?.value.node ?? node };
      }
      const owner: BlockAllocation = { ...att };
      // Each block's allocator is rebuilt from its JSON at most once per attempt.
      const allocators = new Map<BlockRecord, RangeAllocator<BlockAllocation>>();
      const allocatorOf = (block: BlockRecord) => {
        let a = allocators.get(block);
        if (!a) allocators.set(block, (a = blockAllocator(block)));
        return a;
      };
      const commitWith = async (block: BlockRecord, extraOps: KvOp[], blockRevision: bigint, take: (a: RangeAllocator<BlockAllocation>) => string) => {
        const allocator = allocatorOf(block);
        const ip = take(allocator);
        const next = blockFromAllocator(block, allocator);
        const nextHandle: HandleRecord = { ips: [...handle.ips, { ip, block: block.cidr }] };
        const ops: KvOp[] = [
          ...extraOps,
          { op: 'put', key: this.keys.block(block.cidr), value: JSON.stringify(next), expectRevision: blockRevision },
          { op: 'put', key: this.keys.handle(att), value: JSON.stringify(nextHandle), expectRevision: handleEntry?.revision ?? 0n },
        ];
        await this.kv.commit(ops, { onConflict: this.viewReads(node, att) });
        if (blockRevision === 0n) this.rememberBlock(node, block.cidr);
        return { ...att, ip, block: block.cidr, pool: block.pool, node: owner.node ?? block.node };
      };

      if (wantedIp !== undefined) {
        const ip = wantedIp;
        const pool = pools.find((p) => Cidr.parse(p.value.cidr).contains(ip));
        if (!pool) throw new InvalidAddressError(ip, 'IP address', `not inside an enabled pool that selects node ${node}`);
        const cidr = blockOf(pool.value, ip).toString();
        const existing = view.blocks.find((b) => b.value.cidr === cidr) ?? (await this.readBlock(cidr));
        if (existing) {
          if (existing.value.node !== node) {
            if (this.strictAffinity) throw new BlockAffinityError(ip, existing.value.cidr, existing.value.node, node);
            owner.node = node;
          }
          return commitWith(existing.value, [], existing.revision, (a) => a.reserve(ip, owner).ip);
        }
        const block = newBlock(Cidr.parse(cidr), pool.value.name, node);
        return commitWith(block, this.claimOps(pool, node, block.cidr), 0n, (a) => a.reserve(ip, owner).ip);
      }

      const poolNames = new Set(pools.map((p) => p.value.name));
      const ownBlocks = view.blocks.filter((b) => poolNames.has(b.value.pool));
      const withRoom = ownBlocks.find((b) => blockFree(b.value) > 0n);
      if (withRoom) return commitWith(withRoom.value, [], withRoom.revision, (a) => a.allocate(owner).ip);
      if (pools.length > 0) {
        const claimed = await this.claimedBlocks();
        for (const pool of pools) {
          const block = prepareClaim(pool, node, ownBlocks, claimed);
          if (block) return commitWith(block, this.claimOps(pool, node, block.cidr), 0n, (a) => a.allocate(owner).ip);
        }
      }
      if (!this.strictAffinity) {
        const borrowable = (await this.blocksWhere((n, p) => n !== node && poolNames.has(p))).find((b) => blockFree(b.value) > 0n);
        if (borrowable) {
          owner.node = node;
          return commitWith(borrowable.value, [], borrowable.revision, (a) => a.allocate(owner).ip);
        }
      }
      throw new IpExhaustedError(pools.map((p) => p.value.name), node, family);
    });
  }

  /**
   * Releases every IP of an attachment (CNI DEL) in one commit guarded by the handle's and the blocks'
   * revisions. Unknown attachments are not an error: returns [].
   */
  async releaseAttachment(attachment: Attachment): Promise<Reservation[]> {
    const att = validateAttachment(attachment);
    const key = attachmentKey(att);
    return this.retry(async () => {
      const handleEntry = await this.kv.get(this.keys.handle(att));
      if (!handleEntry) return [];
      const handle = decodeHandle(handleEntry.key, handleEntry.value);
      const released: Reservation[] = [];
      const ops: KvOp[] = [];
      for (const block of await this.readBlocks([...new Set(handle.ips.map((e) => e.block))])) {
        const mine = blockReservations(block.value).filter((r) => attachmentKey(r) === key);
        if (mine.length === 0) continue;
        ops.push(this.withoutAllocations(block, mine));
        released.push(...mine);
      }
      // A handle whose IPs were already gone from their blocks (a half-finished crash) is removed too.
      ops.push({ op: 'delete', key: handleEntry.key, expectRevision: handleEntry.revision });
      await this.kv.commit(ops);
      return released;
    });
  }

  /** Releases one IP whoever holds it (`calicoctl ipam release --ip`). Unknown IPs are not an error: undefined. */
  async releaseIp(ip: string): Promise<Reservation | undefined> {
    const canonical = normalizeIp(ip); // throws InvalidAddressError naming the input
    const block = await this.blockContaining(canonical);
    if (!block) return undefined;
    const [released] = await this.dropAllocations(block, (addr) => addr === canonical);
    return released;
  }

  /**
   * CNI GC: releases every allocation whose attachment is not in `valid`. With `node`, only allocations made
   * by that node are considered (the runtime of one node knows only its own pods).
   */
  async gc(valid: readonly Attachment[], opts: { node?: string } = {}): Promise<GcResult> {
    // Validated: an entry without its ifname must not quietly stop protecting the container's IPs.
    const keep = new Set(valid.map((a) => attachmentKey(validateAttachment(a))));
    const released: Reservation[] = [];
    for (const block of await this.blocksWhere(() => true)) {
      released.push(...(await this.dropAllocations(block.value.cidr, (_ip, a, b) =>
        !keep.has(attachmentKey(a)) && (opts.node === undefined || (a.node ?? b.node) === opts.node))));
    }
    return { released };
  }

  /**
   * Finds inconsistencies (`calicoctl ipam check`): blocks of deleted pools or of nodes not in `nodes`
   * (default: the nodes registered with setNode, if any), IPs whose attachment is not in `valid`, IPs or
   * blocks claimed twice, entries that do not parse or do not agree with each other.
   */
  async check(opts: { nodes?: readonly string[]; valid?: readonly Attachment[] } = {}): Promise<CheckReport> {
    const problems: Problem[] = [];
    const registered = opts.nodes ?? (await this.listNodes());
    const nodes = opts.nodes !== undefined || registered.length > 0 ? new Set(registered) : undefined;
    const valid = opts.valid && new Set(opts.valid.map((a) => attachmentKey(validateAttachment(a))));
    const pools = new Map<string, IpPool>();
    for (const entry of await this.kv.list(this.keys.pools)) {
      try {
        const pool = decodePool(entry);
        pools.set(pool.name, pool);
      } catch (err) {
        problems.push({ kind: 'corrupt-entry', detail: `${entry.key}: ${(err as Error).message}` });
      }
    }
    const blocks: BlockRecord[] = [];
    for (const entry of await this.kv.list(this.keys.blocks)) {
      try {
        blocks.push(decodeBlock(entry.key, entry.value));
      } catch (err) {
        problems.push({ kind: 'corrupt-entry', detail: (err as Error).message });
      }
    }
    const affinities = new Set((await this.kv.list(this.keys.affinities)).map((e) => e.key));
    const owners = new Map<string, Reservation>();
    for (const block of blocks) {
      const cidr = Cidr.parse(block.cidr);
      const pool = pools.get(block.pool);
      if (!pool || !Cidr.parse(pool.cidr).contains(cidr) || cidr.prefixLen !== pool.blockSize) {
        problems.push({ kind: 'outside-pools', block: block.cidr, node: block.node, detail: `block ${block.cidr} is not a block of an existing pool (${block.pool})` });
      }
      if (nodes && !nodes.has(block.node)) {
        problems.push({ kind: 'orphan-block', block: block.cidr, node: block.node, detail: `block ${block.cidr} belongs to node ${block.node}, which is not in the cluster` });
      }
      if (!affinities.delete(this.keys.affinity(block.node, block.cidr))) {
        problems.push({ kind: 'corrupt-entry', block: block.cidr, node: block.node, detail: `block ${block.cidr} has no affinity entry for node ${block.node}` });
      }
      for (const r of blockReservations(block)) {
        const other = owners.get(r.ip);
        if (other) problems.push({ ...r, kind: 'duplicate-ip', detail: `${r.ip} is allocated in blocks ${other.block} and ${r.block}` });
        owners.set(r.ip, r);
        if (valid && !valid.has(attachmentKey(r))) {
          problems.push({ ...r, kind: 'invalid-attachment', detail: `${r.ip} is held by ${r.containerId}/${r.ifname}, which is not a live attachment` });
        }
      }
    }
    for (const key of affinities) problems.push({ kind: 'corrupt-entry', detail: `affinity ${key} points to a missing block` });
    for (const entry of await this.kv.list(this.keys.handles)) {
      try {
        for (const { ip } of decodeHandle(entry.key, entry.value).ips) {
          const holder = owners.get(ip);
          if (!holder || this.keys.handle(holder) !== entry.key) {
            problems.push({ kind: 'corrupt-entry', ip, detail: `handle ${entry.key} claims ${ip}, which its block does not assign to it` });
          }
        }
      } catch (err) {
        problems.push({ kind: 'corrupt-entry', detail: (err as Error).message });
      }
    }
    return { problems };
  }

  /**
   * Acts on a check report (`calicoctl ipam release --from-report`): releases IPs of invalid attachments
   * (only if still held by the same attachment) and deletes orphan or outside-pool blocks (only if still
   * owned by the reported node). Problems that need a human (duplicates, corrupt entries) are returned as skipped.
   */
  async release(report: CheckReport): Promise<GcResult & { skipped: Problem[] }> {
    const released: Reservation[] = [];
    const skipped: Problem[] = [];
    for (const p of report.problems) {
      if (p.kind === 'invalid-attachment' && p.ip && p.containerId && p.ifname) {
        const block = await this.blockContaining(p.ip);
        if (block) {
          const same = (ip: string, a: Attachment) => ip === p.ip && a.containerId === p.containerId && a.ifname === p.ifname;
          released.push(...(await this.dropAllocations(block, same)));
        }
      } else if ((p.kind === 'orphan-block' || p.kind === 'outside-pools') && p.block && p.node) {
        const block = await this.readBlock(p.block);
        if (block?.value.node === p.node) {
          released.push(...(await this.dropAllocations(p.block, (_ip, _a, b) => b.node === p.node)));
          await this.deleteEmptyBlock(p.block);
        }
      } else {
        skipped.push(p);
      }
    }
    return { released, skipped };
  }

  /** Address counts per pool and block (`calicoctl ipam show --show-blocks`). */
  async usage(): Promise<Usage> {
    const pools = await this.listPools();
    const blocks = await this.blocksWhere(() => true);
    return {
      pools: pools.map((pool) => {
        const mine = blocks.filter((b) => b.value.pool === pool.name).map((b) => blockInfo(b.value));
        const perBlock = blockCapacity(Cidr.parse(pool.cidr).nthSubnet(pool.blockSize, 0n));
        const size = Number(poolBlockCount(pool) * perBlock);
        const allocated = mine.reduce((n, b) => n + b.allocated, 0);
        return { name: pool.name, cidr: pool.cidr, size, allocated, free: size - allocated, blocks: mine.map(({ pool: _pool, ...b }) => b) };
      }),
    };
  }

  // ---- internals ------------------------------------------------------------------------------------

  private nodeKey(node: string): string {
    return `${this.keys.prefix}/nodes/${node}`;
  }

  private async readPools(): Promise<Stored<IpPool>[]> {
    return (await this.kv.list(this.keys.pools)).map((e) => ({ value: decodePool(e), revision: e.revision }));
  }

  private async readPool(name: string): Promise<Stored<IpPool> | undefined> {
    const entry = await this.kv.get(this.keys.pool(name));
    return entry && { value: decodePool(entry), revision: entry.revision };
  }

  private async requirePool(name: string): Promise<Stored<IpPool>> {
    const pool = await this.readPool(name);
    if (!pool) throw new PoolNotFoundError(name);
    return pool;
  }

  private async readBlock(cidr: string): Promise<Stored<BlockRecord> | undefined> {
    const entry = await this.kv.get(this.keys.block(cidr));
    return entry && storedBlock(entry);
  }

  /**
   * Pools, the node's labels and blocks, and (given) the attachment's handle, in one round trip: the
   * blocks the node had last time are read speculatively next to its affinity index, and only blocks the
   * index lists but the guess missed cost a second read.
   */
  private async nodeView(node: string, att?: Attachment, prefetched?: KvEntry[][]): Promise<NodeView> {
    const [poolEntries = [], affinityEntries = [], [nodeEntry] = [], [handle] = [], ...guessed] = prefetched ?? (await this.kv.readMany(this.viewReads(node, att)));
    const cidrs = affinityEntries.flatMap((e) => this.keys.parseAffinity(e.key)?.cidr ?? []);
    this.blockHint.set(node, cidrs);
    const found = new Map<string, KvEntry>();
    for (const [entry] of guessed) if (entry) found.set(entry.key, entry);
    const missing = cidrs.filter((cidr) => !found.has(this.keys.block(cidr)));
    const blocks: Stored<BlockRecord>[] = [];
    for (const cidr of cidrs) {
      const entry = found.get(this.keys.block(cidr));
      if (entry) blocks.push(storedBlock(entry));
    }
    if (missing.length > 0) {
      blocks.push(...(await this.readBlocks(missing)));
      blocks.sort((a, b) => cidrs.indexOf(a.value.cidr) - cidrs.indexOf(b.value.cidr));
    }
    return {
      pools: poolEntries.map((e) => ({ value: decodePool(e), revision: e.revision })),
      labels: nodeEntry ? decodeLabels(nodeEntry) : {},
      blocks,
      handle: att ? handle : undefined,
    };
  }

  /** The reads of {@link nodeView}: pools, affinity index, labels, handle, then the guessed blocks. */
  private viewReads(node: string, att?: Attachment): KvRead[] {
    return [
      { prefix: this.keys.pools },
      { prefix: this.keys.nodeAffinities(node) },
      { key: this.nodeKey(node) },
      { key: att ? this.keys.handle(att) : this.nodeKey(node) },
      ...(this.blockHint.get(node) ?? []).map((cidr) => ({ key: this.keys.block(cidr) })),
    ];
  }

  /** A block this client just claimed for `node`: read it speculatively from now on. */
  private rememberBlock(node: string, cidr: string): void {
    const known = this.blockHint.get(node) ?? [];
    if (!known.includes(cidr)) this.blockHint.set(node, [...known, cidr]);
  }

  /** The named blocks that exist, in one round trip. */
  private async readBlocks(cidrs: readonly string[]): Promise<Stored<BlockRecord>[]> {
    if (cidrs.length === 0) return [];
    const entries = await this.kv.readMany(cidrs.map((cidr) => ({ key: this.keys.block(cidr) })));
    return entries.flatMap(([entry]) => (entry ? [storedBlock(entry)] : []));
  }

  /** CIDRs of every claimed block (from the affinity index). */
  private async claimedBlocks(): Promise<Set<string>> {
    return new Set((await this.kv.list(this.keys.affinities)).flatMap((e) => this.keys.parseAffinity(e.key)?.cidr ?? []));
  }

  /** Blocks whose affinity (node, pool) passes `filter`; reads only the small affinity index to choose. */
  private async blocksWhere(filter: (node: string, pool: string) => boolean): Promise<Stored<BlockRecord>[]> {
    const chosen = (await this.kv.list(this.keys.affinities)).flatMap((e) => {
      const parsed = this.keys.parseAffinity(e.key);
      return parsed && filter(parsed.node, e.value) ? [parsed.cidr] : [];
    });
    return this.readBlocks(chosen);
  }

  /** CIDR of the claimed block that contains `ip`, from the affinity index alone. */
  private async blockContaining(ip: string): Promise<string | undefined> {
    for (const e of await this.kv.list(this.keys.affinities)) {
      const cidr = this.keys.parseAffinity(e.key)?.cidr;
      if (cidr && Cidr.parse(cidr).contains(ip)) return cidr;
    }
    return undefined;
  }

  /**
   * The ops that accompany creating a block: its affinity index entry, and a rewrite of the pool at the
   * revision we read, so a claim cannot land in a pool that was disabled or deleted meanwhile.
   */
  private claimOps(pool: Stored<IpPool>, node: string, cidr: string): KvOp[] {
    return [
      { op: 'put', key: this.keys.pool(pool.value.name), value: JSON.stringify(pool.value), expectRevision: pool.revision },
      { op: 'put', key: this.keys.affinity(node, cidr), value: pool.value.name, expectRevision: 0n },
    ];
  }

  /**
   * Removes the allocations of one block that `match`, with their handles, in commits small enough for etcd.
   * Each commit is guarded by the block's and the handles' revisions. Returns what was removed.
   */
  private async dropAllocations(cidr: string, match: (ip: string, a: BlockAllocation, block: BlockRecord) => boolean): Promise<Reservation[]> {
    const dropped: Reservation[] = [];
    for (;;) {
      const batch = await this.retry(async () => {
        const block = await this.readBlock(cidr);
        if (!block) return [];
        const chosen = blockReservations(block.value)
          .filter((r) => match(r.ip, block.value.allocations[Cidr.parse(cidr).offsetOf(r.ip).toString()]!, block.value))
          .slice(0, MAX_DROPS_PER_COMMIT);
        if (chosen.length === 0) return [];
        // Two IPs of one attachment (dual-stack) share a handle: one op per handle, every IP taken out.
        const handles = new Map<string, Reservation[]>();
        for (const r of chosen) handles.set(this.keys.handle(r), [...(handles.get(this.keys.handle(r)) ?? []), r]);
        const keys = [...handles.keys()];
        const ops: KvOp[] = [];
        (await this.kv.readMany(keys.map((key) => ({ key })))).forEach(([handle], i) => {
          if (!handle) return;
          const gone = new Set(handles.get(keys[i]!)!.map((r) => r.ip));
          const rest = decodeHandleLenient(handle).ips.filter((e) => !gone.has(e.ip));
          ops.push(rest.length > 0
            ? { op: 'put', key: handle.key, value: JSON.stringify({ ips: rest }), expectRevision: handle.revision }
            : { op: 'delete', key: handle.key, expectRevision: handle.revision });
        });
        ops.push(this.withoutAllocations(block, chosen));
        await this.kv.commit(ops);
        return chosen;
      });
      if (batch.length === 0) return dropped;
      dropped.push(...batch);
    }
  }

  /** The commit op that writes `block` without `gone`, guarded by the revision it was read at. */
  private withoutAllocations(block: Stored<BlockRecord>, gone: readonly Reservation[]): KvOp {
    const cidr = Cidr.parse(block.value.cidr);
    const allocations = { ...block.value.allocations };
    for (const r of gone) delete allocations[cidr.offsetOf(r.ip).toString()];
    return { op: 'put', key: this.keys.block(block.value.cidr), value: JSON.stringify({ ...block.value, allocations }), expectRevision: block.revision };
  }

  /** Deletes a block (and its affinity) if it holds no allocations, guarded by the revision it was read at. */
  private async deleteEmptyBlock(cidr: string): Promise<'deleted' | 'in-use' | 'gone'> {
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

  /** Runs `fn` again after a random pause whenever it loses a CAS race, up to maxRetries times. */
  private async retry<T>(fn: (conflict: KvConflictError | undefined) => Promise<T>): Promise<T> {
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
}

function storedBlock(entry: KvEntry): Stored<BlockRecord> {
  return { value: decodeBlock(entry.key, entry.value), revision: entry.revision };
}

function decodeLabels(entry: KvEntry): Record<string, string> {
  try {
    return (JSON.parse(entry.value) as { labels?: Record<string, string> }).labels ?? {};
  } catch (err) {
    throw new CorruptEntryError(entry.key, (err as Error).message);
  }
}

/** Enabled pools of the wanted family (default: IPv4 if any, else IPv6) that select the node. */
function candidatePools(view: NodeView, opts: NodeOptions, family: Family | undefined): { pools: Stored<IpPool>[]; family: Family } {
  const labels = opts.labels ?? view.labels;
  const selecting = view.pools.filter((p) => !p.value.disabled && poolSelectsNode(p.value, labels));
  const familyOf = (p: Stored<IpPool>) => Cidr.parse(p.value.cidr).family;
  const chosen: Family = family ?? (selecting.some((p) => familyOf(p) === 4) || selecting.length === 0 ? 4 : 6);
  return { pools: selecting.filter((p) => familyOf(p) === chosen), family: chosen };
}

/**
 * A free block of `pool` for `node` given the CIDRs already `claimed`, or undefined if the pool is full or
 * the node is at maxBlocksPerNode. The search starts at a slot derived from the node name (stable) and probes forward.
 */
function prepareClaim(pool: Stored<IpPool>, node: string, own: readonly Stored<BlockRecord>[], claimed: ReadonlySet<string>): BlockRecord | undefined {
  const max = pool.value.maxBlocksPerNode;
  if (max !== undefined && own.filter((b) => b.value.pool === pool.value.name).length >= max) return undefined;
  const count = poolBlockCount(pool.value);
  const start = BigInt(`0x${createHash('sha256').update(node).digest('hex').slice(0, 16)}`) % count;
  const poolCidr = Cidr.parse(pool.value.cidr);
  for (let i = 0n; i < count && i <= BigInt(claimed.size); i++) {
    const cidr = poolCidr.nthSubnet(pool.value.blockSize, (start + i) % count);
    if (!claimed.has(cidr.toString())) return newBlock(cidr, pool.value.name, node);
  }
  return undefined;
}

function decodePool(entry: KvEntry): IpPool {
  try {
    return definePool(JSON.parse(entry.value) as IpPoolSpec);
  } catch (err) {
    throw new CorruptEntryError(entry.key, (err as Error).message);
  }
}

// Releasing must work even when a handle is damaged: treat an unreadable handle as holding nothing else.
function decodeHandleLenient(entry: KvEntry): HandleRecord {
  try {
    return decodeHandle(entry.key, entry.value);
  } catch {
    return { ips: [] };
  }
}

/** The block of `pool` that contains `ip`. */
function blockOf(pool: IpPool, ip: string): Cidr {
  const cidr = Cidr.parse(pool.cidr);
  const shift = BigInt((cidr.family === 4 ? 32 : 128) - pool.blockSize);
  return cidr.nthSubnet(pool.blockSize, cidr.offsetOf(ip) >> shift);
}

function blockInfo(block: BlockRecord): BlockInfo {
  const size = Number(blockCapacity(Cidr.parse(block.cidr)));
  const allocated = Object.keys(block.allocations).length;
  return { cidr: block.cidr, pool: block.pool, node: block.node, size, allocated, free: size - allocated };
}
