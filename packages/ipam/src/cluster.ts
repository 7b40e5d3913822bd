// Cluster-wide IPAM over any KvStore with compare-and-swap (etcd, or MemoryKv in tests): pools, node
// blocks with affinity, pod IPs, GC and consistency checks. Every change is one atomic commit guarded by
// the revisions read before it; a lost race (KvConflictError) re-reads and retries after a random pause.
// Nothing here holds state between calls, so any number of ClusterIpam instances may share one store.
import { createHash } from 'node:crypto';
import { Cidr, InvalidIpError, parseIp } from './cidr.js';
import type { Family } from './cidr.js';
import { IpInUseError } from './allocator.js';
import type { RangeAllocator } from './allocator.js';
import {
  CorruptEntryError,
  IpamKeys,
  blockAllocator,
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
import type { KvEntry, KvOp, KvStore } from './store/kv.js';
import { InvalidArgumentError, validateContainerId, validateIfname, validateNodeName } from './validate.js';

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

// etcd refuses transactions with more than 128 operations (--max-txn-ops); stay well below.
const MAX_DROPS_PER_COMMIT = 60;

const attachmentKey = (a: Attachment) => `${a.containerId}\u0000${a.ifname}`;

export class ClusterIpam {
  readonly keys: IpamKeys;
  private readonly strictAffinity: boolean;
  private readonly maxRetries: number;
  private readonly serviceCidr: string | string[] | undefined;

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
      for (const block of blocks) if (await this.deleteEmptyBlock(block.value.cidr)) deletedBlocks.push(block.value.cidr);
      // Guarded by the revision read before the emptiness check: a block claimed since then rewrote the pool.
      await this.kv.commit([{ op: 'delete', key: this.keys.pool(name), expectRevision: pool.revision }]);
      return { released, blocks: deletedBlocks };
    });
  }

  // ---- nodes and blocks -----------------------------------------------------------------------------

  /** Stores a node's labels (for pools' nodeSelector) so later calls need not pass them. */
  async setNode(node: string, labels: Record<string, string> = {}): Promise<void> {
    validateNodeName(node);
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
      const { pools, family } = await this.candidatePools(node, opts, opts.family);
      const usable = pools.filter((p) => opts.pool === undefined || p.value.name === opts.pool);
      const own = (await this.nodeBlocks(node)).find((b) => usable.some((p) => p.value.name === b.value.pool));
      if (own) return blockInfo(own.value);
      for (const pool of usable) {
        const block = await this.prepareClaim(pool, node);
        if (!block) continue;
        await this.kv.commit([
          ...this.claimOps(pool, node, block.cidr),
          { op: 'put', key: this.keys.block(block.cidr), value: JSON.stringify(block), expectRevision: 0n },
        ]);
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
    const blocks = await this.nodeBlocks(node);
    const inUse = blocks.flatMap((b) => blockReservations(b.value));
    if (inUse.length > 0 && !opts.force) throw new BlockInUseError(node, inUse);
    const released: Reservation[] = [];
    for (const block of blocks) {
      released.push(...(await this.dropAllocations(block.value.cidr, () => true)));
      await this.deleteEmptyBlock(block.value.cidr);
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
    validateContainerId(attachment.containerId);
    validateIfname(attachment.ifname);
    const att = { containerId: attachment.containerId, ifname: attachment.ifname };
    const requested = opts.ip === undefined ? undefined : parseIp(opts.ip);
    if (requested && opts.family !== undefined && requested.family !== opts.family) {
      throw new InvalidArgumentError('ip', opts.ip, `is not an IPv${opts.family} address`);
    }
    return this.retry(async () => {
      const handleEntry = await this.kv.get(this.keys.handle(att));
      const handle: HandleRecord = handleEntry ? decodeHandle(handleEntry.key, handleEntry.value) : { ips: [] };
      const { pools, family } = await this.candidatePools(node, opts, requested?.family ?? opts.family);
      const held = handle.ips.find((e) => parseIp(e.ip).family === family);
      if (held) {
        if (opts.ip !== undefined && held.ip !== opts.ip) throw new IpInUseError(opts.ip, `${att.containerId}/${att.ifname} already holds ${held.ip}`);
        const block = await this.readBlock(held.block);
        return { ...att, ip: held.ip, block: held.block, pool: block?.value.pool, node: block?.value.node ?? node };
      }
      const owner: BlockAllocation = { ...att };
      const commitWith = async (block: BlockRecord, extraOps: KvOp[], blockRevision: bigint, take: (a: RangeAllocator<BlockAllocation>) => string) => {
        const allocator = blockAllocator(block);
        const ip = take(allocator);
        const next = blockFromAllocator(block, allocator);
        const nextHandle: HandleRecord = { ips: [...handle.ips, { ip, block: block.cidr }] };
        await this.kv.commit([
          ...extraOps,
          { op: 'put', key: this.keys.block(block.cidr), value: JSON.stringify(next), expectRevision: blockRevision },
          { op: 'put', key: this.keys.handle(att), value: JSON.stringify(nextHandle), expectRevision: handleEntry?.revision ?? 0n },
        ]);
        return { ...att, ip, block: block.cidr, pool: block.pool, node: owner.node ?? block.node };
      };

      if (opts.ip !== undefined) {
        const ip = opts.ip;
        const pool = pools.find((p) => Cidr.parse(p.value.cidr).contains(ip));
        if (!pool) throw new InvalidIpError(ip, `not inside an enabled pool that selects node ${node}`);
        const cidr = blockOf(pool.value, ip);
        const existing = await this.readBlock(cidr.toString());
        if (existing) {
          if (existing.value.node !== node) {
            if (this.strictAffinity) throw new BlockAffinityError(ip, existing.value.cidr, existing.value.node, node);
            owner.node = node;
          }
          return commitWith(existing.value, [], existing.revision, (a) => a.reserve(ip, owner).ip);
        }
        const block = newBlock(cidr, pool.value.name, node);
        return commitWith(block, this.claimOps(pool, node, block.cidr), 0n, (a) => a.reserve(ip, owner).ip);
      }

      const poolNames = new Set(pools.map((p) => p.value.name));
      const ownBlocks = (await this.nodeBlocks(node)).filter((b) => poolNames.has(b.value.pool));
      const withRoom = ownBlocks.find((b) => blockAllocator(b.value).free() > 0n);
      if (withRoom) return commitWith(withRoom.value, [], withRoom.revision, (a) => a.allocate(owner).ip);
      for (const pool of pools) {
        const block = await this.prepareClaim(pool, node, ownBlocks);
        if (block) return commitWith(block, this.claimOps(pool, node, block.cidr), 0n, (a) => a.allocate(owner).ip);
      }
      if (!this.strictAffinity) {
        const borrowable = (await this.blocksWhere((n, p) => n !== node && poolNames.has(p))).find((b) => blockAllocator(b.value).free() > 0n);
        if (borrowable) {
          owner.node = node;
          return commitWith(borrowable.value, [], borrowable.revision, (a) => a.allocate(owner).ip);
        }
      }
      throw new IpExhaustedError(pools.map((p) => p.value.name), node, family);
    });
  }

  /** Releases every IP of an attachment (CNI DEL). Unknown attachments are not an error: returns []. */
  async releaseAttachment(attachment: Attachment): Promise<Reservation[]> {
    const handleEntry = await this.kv.get(this.keys.handle(attachment));
    if (!handleEntry) return [];
    const handle = decodeHandle(handleEntry.key, handleEntry.value);
    const released: Reservation[] = [];
    for (const { block } of handle.ips) {
      released.push(...(await this.dropAllocations(block, (_ip, a) => attachmentKey(a) === attachmentKey(attachment))));
    }
    // A handle whose IPs were already gone from their blocks (a half-finished crash) is removed too.
    await this.retry(async () => {
      const left = await this.kv.get(this.keys.handle(attachment));
      if (left) await this.kv.commit([{ op: 'delete', key: left.key, expectRevision: left.revision }]);
    });
    return released;
  }

  /** Releases one IP whoever holds it (`calicoctl ipam release --ip`). Unknown IPs are not an error: undefined. */
  async releaseIp(ip: string): Promise<Reservation | undefined> {
    const block = await this.blockContaining(ip);
    if (!block) return undefined;
    const [released] = await this.dropAllocations(block, (addr) => addr === ip);
    return released;
  }

  /**
   * CNI GC: releases every allocation whose attachment is not in `valid`. With `node`, only allocations made
   * by that node are considered (the runtime of one node knows only its own pods).
   */
  async gc(valid: readonly Attachment[], opts: { node?: string } = {}): Promise<GcResult> {
    const keep = new Set(valid.map(attachmentKey));
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
    const valid = opts.valid && new Set(opts.valid.map(attachmentKey));
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
        const perBlock = blockAllocator(newBlock(Cidr.parse(pool.cidr).nthSubnet(pool.blockSize, 0n), pool.name, '-')).size();
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
    return entry && { value: decodeBlock(entry.key, entry.value), revision: entry.revision };
  }

  /** Enabled pools of the wanted family (default: IPv4 if any, else IPv6) that select the node. */
  private async candidatePools(node: string, opts: NodeOptions, family: Family | undefined): Promise<{ pools: Stored<IpPool>[]; family: Family }> {
    const enabled = (await this.readPools()).filter((p) => !p.value.disabled);
    const labels = opts.labels ?? (enabled.some((p) => p.value.nodeSelector) ? await this.nodeLabels(node) : {});
    const selecting = enabled.filter((p) => poolSelectsNode(p.value, labels));
    const chosen: Family = family ?? (selecting.some((p) => Cidr.parse(p.value.cidr).family === 4) || selecting.length === 0 ? 4 : 6);
    return { pools: selecting.filter((p) => Cidr.parse(p.value.cidr).family === chosen), family: chosen };
  }

  private async nodeLabels(node: string): Promise<Record<string, string>> {
    const entry = await this.kv.get(this.nodeKey(node));
    return entry ? ((JSON.parse(entry.value) as { labels?: Record<string, string> }).labels ?? {}) : {};
  }

  private async nodeBlocks(node: string): Promise<Stored<BlockRecord>[]> {
    const entries = await this.kv.list(this.keys.nodeAffinities(node));
    const cidrs = entries.flatMap((e) => this.keys.parseAffinity(e.key)?.cidr ?? []);
    const blocks = await Promise.all(cidrs.map((cidr) => this.readBlock(cidr)));
    return blocks.filter((b): b is Stored<BlockRecord> => b !== undefined);
  }

  /** Blocks whose affinity (node, pool) passes `filter`; reads only the small affinity index to choose. */
  private async blocksWhere(filter: (node: string, pool: string) => boolean): Promise<Stored<BlockRecord>[]> {
    const chosen = (await this.kv.list(this.keys.affinities)).flatMap((e) => {
      const parsed = this.keys.parseAffinity(e.key);
      return parsed && filter(parsed.node, e.value) ? [parsed.cidr] : [];
    });
    const blocks = await Promise.all(chosen.map((cidr) => this.readBlock(cidr)));
    return blocks.filter((b): b is Stored<BlockRecord> => b !== undefined);
  }

  /** CIDR of the claimed block that contains `ip`, from the affinity index alone. */
  private async blockContaining(ip: string): Promise<string | undefined> {
    parseIp(ip);
    for (const e of await this.kv.list(this.keys.affinities)) {
      const cidr = this.keys.parseAffinity(e.key)?.cidr;
      if (cidr && Cidr.parse(cidr).contains(ip)) return cidr;
    }
    return undefined;
  }

  /**
   * A free block of `pool` for `node`, or undefined if the pool is full or the node is at maxBlocksPerNode.
   * The search starts at a slot derived from the node name (stable) and probes forward.
   */
  private async prepareClaim(pool: Stored<IpPool>, node: string, ownBlocks?: Stored<BlockRecord>[]): Promise<BlockRecord | undefined> {
    const own = ownBlocks ?? (await this.nodeBlocks(node));
    const max = pool.value.maxBlocksPerNode;
    if (max !== undefined && own.filter((b) => b.value.pool === pool.value.name).length >= max) return undefined;
    const claimed = new Set((await this.kv.list(this.keys.affinities)).map((e) => this.keys.parseAffinity(e.key)?.cidr));
    const count = poolBlockCount(pool.value);
    const start = BigInt(`0x${createHash('sha256').update(node).digest('hex').slice(0, 16)}`) % count;
    const poolCidr = Cidr.parse(pool.value.cidr);
    for (let i = 0n; i < count && i <= BigInt(claimed.size); i++) {
      const cidr = poolCidr.nthSubnet(pool.value.blockSize, (start + i) % count);
      if (!claimed.has(cidr.toString())) return newBlock(cidr, pool.value.name, node);
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
        const allocations = { ...block.value.allocations };
        const ops: KvOp[] = [];
        for (const r of chosen) {
          delete allocations[Cidr.parse(cidr).offsetOf(r.ip).toString()];
          const handle = await this.kv.get(this.keys.handle(r));
          const rest = handle ? decodeHandleLenient(handle).ips.filter((e) => e.ip !== r.ip) : [];
          if (handle && rest.length > 0) ops.push({ op: 'put', key: handle.key, value: JSON.stringify({ ips: rest }), expectRevision: handle.revision });
          else if (handle) ops.push({ op: 'delete', key: handle.key, expectRevision: handle.revision });
        }
        ops.push({ op: 'put', key: this.keys.block(cidr), value: JSON.stringify({ ...block.value, allocations }), expectRevision: block.revision });
        await this.kv.commit(ops);
        return chosen;
      });
      if (batch.length === 0) return dropped;
      dropped.push(...batch);
    }
  }

  /** Deletes a block (and its affinity) if it holds no allocations; returns whether it did. */
  private async deleteEmptyBlock(cidr: string): Promise<boolean> {
    return this.retry(async () => {
      const block = await this.readBlock(cidr);
      if (!block || Object.keys(block.value.allocations).length > 0) return false;
      await this.kv.commit([
        { op: 'delete', key: this.keys.block(cidr), expectRevision: block.revision },
        { op: 'delete', key: this.keys.affinity(block.value.node, cidr) },
      ]);
      return true;
    });
  }

  /** Runs `fn` again after a random pause whenever it loses a CAS race, up to maxRetries times. */
  private async retry<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (!(err instanceof KvConflictError) || attempt >= this.maxRetries) throw err;
        // Full jitter, capped: contending writers spread out instead of colliding again in lock-step.
        await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(50, 2 ** attempt)));
      }
    }
  }
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
  const allocator = blockAllocator(block);
  return {
    cidr: block.cidr,
    pool: block.pool,
    node: block.node,
    size: Number(allocator.size()),
    allocated: Number(allocator.allocated()),
    free: Number(allocator.free()),
  };
}
