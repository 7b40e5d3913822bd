// Cluster-wide IPAM over any KvStore with compare-and-swap (etcd, or MemoryKv in tests): pools, node
// blocks with affinity, pod IPs, GC and consistency checks. The decisions are block.ts's pure functions;
// ClusterStore (cluster-store.ts) reads and commits them, every change one atomic commit guarded by the
// revisions read before it, a lost race re-read and retried. check.ts holds the whole-store views. Nothing
// here holds state between calls, so any number of ClusterIpam instances may share one store.
import { NetbootError } from '@netboot/core/errors';
import { ipToValue, normalizeIp, valueToIp, type IpFamily as Family } from '@netboot/core/ip';
import { Cidr } from './cidr.js';
import { IpInUseError } from './allocator.js';
import { assign, blockFree, blockHolder, blockInfo, blockOf, blockReservations, chooseNewBlock, newBlock, unassign } from './block.js';
import type { BlockInfo } from './block.js';
import { checkCluster, clusterUsage, listNodes, releaseReport } from './check.js';
import type { CheckOptions } from './check.js';
import { ClusterStore, corruptBlockProblems } from './cluster-store.js';
import type { NodeView } from './cluster-store.js';
import { IpamKeys } from './keys.js';
import { PoolInUseError, checkPoolFits, definePool, patchPool, poolSelectsNode } from './pool.js';
import type { IpPool, IpPoolPatch, IpPoolSpec } from './pool.js';
import type { PodAddress, PodAllocateOptions, PodIpam, ReservationFilter } from './pod-ipam.js';
import { CorruptEntryError, corruptProblem, decodeHandle, decodePool } from './records.js';
import type { BlockRecord, HandleRecord, Stored } from './records.js';
import { sortByAddress } from './report.js';
import type { Attachment, CheckReport, ReleaseResult, Reservation, Usage } from './report.js';
import { KvConflictError } from './store/kv.js';
import type { KvOp, KvStore } from './store/kv.js';
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

export interface ForNodeOptions extends NodeOptions {
  /**
   * The families each `allocate` reserves, one address each (`[4, 6]` for dual-stack); default: one
   * address, IPv4 if a pool offers it, else IPv6.
   */
  families?: readonly Family[];
}

/** No address left for the node in any pool it may use. */
export class IpExhaustedError extends NetbootError {
  readonly kind = 'exhausted' as const;

  constructor(
    readonly pools: string[],
    readonly node: string,
    family: Family,
  ) {
    super(
      pools.length === 0
        ? `no enabled IPv${family} pool selects node ${node}`
        : `no free IPv${family} address for node ${node} in pool(s) ${pools.join(', ')} (blocks full, maxBlocksPerNode reached or no free block left)`,
    );
  }
}

/** A node cannot leave while its blocks hold pod IPs (unless forced). */
export class BlockInUseError extends NetbootError {
  readonly kind = 'conflict' as const;

  constructor(
    readonly node: string,
    readonly allocations: Reservation[],
  ) {
    super(`node ${node} still has ${allocations.length} allocated IP(s) in its blocks; release them or force`);
  }
}

export class ClusterIpam {
  private readonly store: ClusterStore;
  private readonly strictAffinity: boolean;
  private readonly serviceCidr: string | string[] | undefined;

  constructor(kv: KvStore, opts: ClusterIpamOptions = {}) {
    this.store = new ClusterStore(kv, new IpamKeys(opts.prefix), opts.maxRetries ?? 100);
    this.strictAffinity = opts.strictAffinity ?? true;
    this.serviceCidr = opts.serviceCidr;
  }

  /** The pod IPAM of one node (what its CNI plugin and agent use): {@link PodIpam} over this cluster. */
  forNode(node: string, opts: ForNodeOptions = {}): PodIpam {
    validateNodeName(node);
    return new NodeIpam(this, node, opts, (attachment, request) => this.allocateOne(node, attachment, request));
  }

  // ---- pools ----------------------------------------------------------------------------------------

  /** Creates a pool (`calicoctl create ippool`); refuses overlaps with other pools and the service CIDR. */
  async createPool(spec: IpPoolSpec): Promise<IpPool> {
    const pool = definePool(spec);
    const { kv, keys } = this.store;
    return this.store.retry(async () => {
      const [existing, poolSet] = await Promise.all([this.store.readPools(), kv.get(keys.poolSet)]);
      checkPoolFits(
        pool,
        existing.map((p) => p.value),
        this.serviceCidr,
      );
      await kv.commit([
        { op: 'put', key: keys.pool(pool.name), value: JSON.stringify(pool), expectRevision: 0n },
        { op: 'put', key: keys.poolSet, value: pool.name, expectRevision: poolSet?.revision ?? 0n },
      ]);
      return pool;
    });
  }

  async listPools(): Promise<IpPool[]> {
    return (await this.store.readPools()).map((p) => p.value);
  }

  async getPool(name: string): Promise<IpPool | undefined> {
    const entry = await this.store.kv.get(this.store.keys.pool(name));
    return entry && decodePool(entry).value;
  }

  /** Changes mutable fields (disabled, natOutgoing, mode, nodeSelector, maxBlocksPerNode). */
  async updatePool(name: string, patch: IpPoolPatch): Promise<IpPool> {
    return this.store.retry(async () => {
      const stored = await this.store.requirePool(name);
      const next = patchPool(stored.value, patch);
      await this.store.kv.commit([{ op: 'put', key: this.store.keys.pool(name), value: JSON.stringify(next), expectRevision: stored.revision }]);
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
   * Deletes a pool and its (empty) blocks. Refused with PoolInUseError while any of its IPs is allocated
   * (and with CorruptEntryError while one of its blocks does not parse); with `force` the pool is disabled,
   * its allocations dropped (and returned), unreadable blocks left alone (and returned as skipped), then
   * it is deleted.
   */
  async deletePool(name: string, opts: { force?: boolean } = {}): Promise<ReleaseResult & { blocks: string[] }> {
    const released: Reservation[] = [];
    const deletedBlocks: string[] = [];
    return this.store.retry(async () => {
      const pool = await this.store.requirePool(name);
      const scan = await this.store.blocksWhere((_node, poolName) => poolName === name);
      if (scan.corrupt[0] && !opts.force) throw scan.corrupt[0].error;
      const inUse = scan.blocks.flatMap((b) => blockReservations(b.value));
      if (inUse.length > 0) {
        if (!opts.force) throw new PoolInUseError(name, inUse);
        // Disable first so no new allocation lands while we drain; the drop commits then conflict-retry cleanly.
        if (!pool.value.disabled) await this.disablePool(name);
        for (const block of scan.blocks) released.push(...(await this.store.dropAllocations(block.value.cidr, () => true)));
      }
      for (const {
        value: { cidr },
      } of scan.blocks) {
        const outcome = await this.store.deleteEmptyBlock(cidr);
        if (outcome === 'deleted') deletedBlocks.push(cidr);
        // An IP was allocated in it since the check above: start over (and refuse, or drop it with force).
        else if (outcome === 'in-use') throw new KvConflictError(this.store.keys.block(cidr));
      }
      // Guarded by the revision read before the emptiness check: a block claimed since then rewrote the pool.
      await this.store.kv.commit([{ op: 'delete', key: this.store.keys.pool(name), expectRevision: pool.revision }]);
      return { released, skipped: corruptBlockProblems(scan), blocks: deletedBlocks };
    });
  }

  // ---- nodes and blocks -----------------------------------------------------------------------------

  /** Stores a node's labels (for pools' nodeSelector) so later calls need not pass them. */
  async setNode(node: string, labels: Record<string, string> = {}): Promise<void> {
    validateNodeName(node);
    if (typeof labels !== 'object' || labels === null || Array.isArray(labels) || Object.values(labels).some((v) => typeof v !== 'string')) {
      throw new InvalidArgumentError(`labels of node ${node}`, labels, 'must map label names to string values');
    }
    await this.store.kv.commit([{ op: 'put', key: this.store.keys.node(node), value: JSON.stringify({ labels }) }]);
  }

  /** Names of nodes registered with `setNode`. */
  listNodes(): Promise<string[]> {
    return listNodes(this.store);
  }

  /**
   * The node's block in an enabled pool that selects it, claiming one if it has none. Stable: a node that
   * already has a block gets it back, and a fresh claim starts at a position derived from the node's name,
   * so a node that leaves and rejoins gets its old block again when it is still free.
   */
  async claimBlock(node: string, opts: ClaimOptions = {}): Promise<BlockInfo> {
    validateNodeName(node);
    return this.store.retry(async () => {
      const view = await this.store.nodeView(node);
      const { pools, family } = candidatePools(view, opts, opts.family);
      const usable = pools.filter((p) => opts.pool === undefined || p.value.name === opts.pool);
      const own = view.blocks.find((b) => usable.some((p) => p.value.name === b.value.pool));
      if (own) return blockInfo(own.value);
      const claimed = usable.length > 0 ? await this.store.claimedBlocks() : new Set<string>();
      for (const pool of usable) {
        for (;;) {
          const block = chooseNewBlock(
            pool.value,
            node,
            view.blocks.map((b) => b.value),
            claimed,
          );
          if (!block) break;
          // A block record with no affinity (a crash between writes elsewhere, a hand edit) is not free:
          // it may still hold pods' addresses, and `ipam check` reports it. The create below would fail
          // on it at every retry, so step over it to the next candidate.
          if (await this.store.kv.get(this.store.keys.block(block.cidr))) {
            claimed.add(block.cidr);
            continue;
          }
          await this.store.kv.commit([...this.store.claimOps(pool, node, block.cidr), this.store.blockOp(block, 0n)]);
          this.store.rememberBlock(node, block.cidr);
          return blockInfo(block);
        }
      }
      throw new IpExhaustedError(
        usable.map((p) => p.value.name),
        node,
        family,
      );
    });
  }

  /** Blocks and their owners (`calicoctl ipam show --show-blocks`); blocks that do not parse are left out (see `check`). */
  async listBlocks(filter: { node?: string; pool?: string } = {}): Promise<BlockInfo[]> {
    const { blocks } = await this.store.blocksWhere((node, pool) => (filter.node ?? node) === node && (filter.pool ?? pool) === pool);
    return blocks.map((b) => blockInfo(b.value));
  }

  /**
   * A node left the cluster: release its blocks (and its label record). Refused with BlockInUseError while
   * they hold pod IPs (and with CorruptEntryError while one does not parse), unless `force`, which drops
   * those IPs and returns them, and leaves unreadable blocks alone (returned as skipped).
   */
  async releaseNode(node: string, opts: { force?: boolean } = {}): Promise<ReleaseResult> {
    validateNodeName(node);
    const scan = await this.store.blocksWhere((owner) => owner === node);
    if (scan.corrupt[0] && !opts.force) throw scan.corrupt[0].error;
    const inUse = scan.blocks.flatMap((b) => blockReservations(b.value));
    if (inUse.length > 0 && !opts.force) throw new BlockInUseError(node, inUse);
    const released: Reservation[] = [];
    for (const {
      value: { cidr },
    } of scan.blocks) {
      // Only an empty block is deleted (guarded by its revision): a pod IP allocated since the check
      // above is refused without force, and dropped (and reported) with it.
      while ((await this.store.deleteEmptyBlock(cidr)) === 'in-use') {
        if (!opts.force) {
          const now = await this.store.readBlock(cidr);
          throw new BlockInUseError(node, now ? blockReservations(now.value) : []);
        }
        released.push(...(await this.store.dropAllocations(cidr, () => true)));
      }
    }
    await this.store.kv.commit([{ op: 'delete', key: this.store.keys.node(node) }]);
    return { released, skipped: corruptBlockProblems(scan) };
  }

  // ---- pod IPs --------------------------------------------------------------------------------------

  /**
   * An IP for one pod interface from the node's blocks, claiming a new block when they are full (up to the
   * pool's maxBlocksPerNode). Idempotent: the same (containerId, ifname) gets the IP it already holds.
   */
  async allocate(node: string, attachment: Attachment, opts: AllocateOptions = {}): Promise<Reservation> {
    return (await this.allocateOne(node, attachment, opts)).reservation;
  }

  // allocate, also saying whether the address is new (fresh) or one the attachment already held.
  private async allocateOne(node: string, attachment: Attachment, opts: AllocateOptions): Promise<{ reservation: Reservation; fresh: boolean }> {
    validateNodeName(node);
    const att = validateAttachment(attachment);
    const requested = opts.ip === undefined ? undefined : ipToValue(opts.ip);
    if (requested && opts.family !== undefined && requested.family !== opts.family) {
      throw new InvalidArgumentError('ip', opts.ip, `is not an IPv${opts.family} address`);
    }
    const wantedIp = opts.ip === undefined ? undefined : normalizeIp(opts.ip);
    const { store, strictAffinity } = this;
    return store.retry(async (conflict) => {
      // After a lost race the refused commit already re-read everything this attempt needs.
      const view = await store.nodeView(node, att, conflict?.reads);
      const handleEntry = view.handle;
      const handle: HandleRecord = handleEntry ? decodeHandle(handleEntry) : { ips: [] };
      const { pools, family } = candidatePools(view, opts, requested?.family ?? opts.family);
      const held = handle.ips.find((e) => ipToValue(e.ip).family === family);
      if (held) {
        if (wantedIp !== undefined && held.ip !== wantedIp) throw new IpInUseError(wantedIp, `${att.containerId}/${att.ifname} already holds ${held.ip}`);
        const block = view.blocks.find((b) => b.value.cidr === held.block) ?? (await store.readBlock(held.block));
        return { reservation: { ...att, ip: held.ip, block: held.block, pool: block?.value.pool, node: block?.value.node ?? node }, fresh: false };
      }
      // One commit: the block with the new allocation (and, for a new block, its claim) plus the handle.
      const commit = async (block: BlockRecord, revision: bigint, claim: KvOp[]) => {
        const { block: next, reservation } = assign(block, att, node, { ip: wantedIp, strictAffinity });
        const nextHandle: HandleRecord = { ips: [...handle.ips, { ip: reservation.ip, block: block.cidr }] };
        await store.kv.commit(
          [
            ...claim,
            store.blockOp(next, revision),
            { op: 'put', key: store.keys.handle(att), value: JSON.stringify(nextHandle), expectRevision: handleEntry?.revision ?? 0n },
          ],
          { onConflict: store.viewReads(node, att) },
        );
        if (revision === 0n) store.rememberBlock(node, block.cidr);
        return { reservation, fresh: true };
      };

      if (wantedIp !== undefined) {
        const pool = pools.find((p) => Cidr.parse(p.value.cidr).contains(wantedIp));
        if (!pool) throw new InvalidArgumentError('ip', wantedIp, `is not inside an enabled pool that selects node ${node}`);
        const cidr = blockOf(pool.value, wantedIp);
        const existing = view.blocks.find((b) => b.value.cidr === cidr.toString()) ?? (await store.readBlock(cidr.toString()));
        if (existing) return commit(existing.value, existing.revision, []);
        return commit(newBlock(cidr, pool.value.name, node), 0n, store.claimOps(pool, node, cidr.toString()));
      }

      const poolNames = new Set(pools.map((p) => p.value.name));
      const ownBlocks = view.blocks.filter((b) => poolNames.has(b.value.pool));
      const withRoom = ownBlocks.find((b) => blockFree(b.value) > 0n);
      if (withRoom) return commit(withRoom.value, withRoom.revision, []);
      if (pools.length > 0) {
        const claimed = await store.claimedBlocks();
        for (const pool of pools) {
          const block = chooseNewBlock(
            pool.value,
            node,
            ownBlocks.map((b) => b.value),
            claimed,
          );
          if (block) return commit(block, 0n, store.claimOps(pool, node, block.cidr));
        }
      }
      if (!strictAffinity) {
        const { blocks } = await store.blocksWhere((n, p) => n !== node && poolNames.has(p));
        const borrowable = blocks.find((b) => blockFree(b.value) > 0n);
        if (borrowable) return commit(borrowable.value, borrowable.revision, []);
      }
      throw new IpExhaustedError(
        pools.map((p) => p.value.name),
        node,
        family,
      );
    });
  }

  /**
   * Releases every IP of an attachment (CNI DEL) in one commit guarded by the handle's and the blocks'
   * revisions. Unknown attachments are not an error. A block (or handle) that does not parse is left
   * alone and returned as skipped, with the handle's entry for it kept.
   */
  async releaseAttachment(attachment: Attachment): Promise<ReleaseResult> {
    const att = validateAttachment(attachment);
    const key = attachmentKey(att);
    const { store } = this;
    return store.retry(async () => {
      const handleEntry = await store.kv.get(store.keys.handle(att));
      if (!handleEntry) return { released: [], skipped: [] };
      let handle: HandleRecord;
      try {
        handle = decodeHandle(handleEntry);
      } catch (err) {
        if (!(err instanceof CorruptEntryError)) throw err;
        return { released: [], skipped: [corruptProblem(err)] };
      }
      const scan = await store.readBlocks([...new Set(handle.ips.map((e) => e.block))]);
      if (scan.corrupt.length > 0) {
        const owners = new Map((await store.affinities()).map((a) => [a.cidr, a.node]));
        for (const c of scan.corrupt) c.node = owners.get(c.block);
      }
      const released: Reservation[] = [];
      const ops: KvOp[] = [];
      for (const block of scan.blocks) {
        const mine = blockReservations(block.value).filter((r) => attachmentKey(r) === key);
        if (mine.length === 0) continue;
        ops.push(
          store.blockOp(
            unassign(
              block.value,
              mine.map((r) => r.ip),
            ),
            block.revision,
          ),
        );
        released.push(...mine);
      }
      // A handle whose IPs were already gone from their blocks (a half-finished crash) is removed too.
      const unreadable = new Set(scan.corrupt.map((c) => c.block));
      ops.push(
        store.handleOp(
          handleEntry,
          handle.ips.filter((e) => unreadable.has(e.block)),
        ),
      );
      await store.kv.commit(ops);
      return { released, skipped: corruptBlockProblems(scan) };
    });
  }

  /**
   * Releases one IP whoever holds it (`calicoctl ipam release --ip`); with `node`, only if that node made
   * the allocation. Unknown IPs are not an error: undefined. An IP whose block does not parse is refused
   * with CorruptEntryError: a human must look at that block.
   */
  async releaseIp(ip: string, opts: { node?: string } = {}): Promise<Reservation | undefined> {
    const canonical = normalizeIp(ip); // throws InvalidAddressError naming the input
    const block = await this.store.blockContaining(canonical);
    if (!block) return undefined;
    const [released] = await this.store.dropAllocations(
      block.cidr,
      (addr, a, b) => addr === canonical && (opts.node === undefined || (a.node ?? b.node) === opts.node),
    );
    return released;
  }

  /**
   * CNI GC: releases every allocation whose attachment is not in `valid`. With `node`, only allocations made
   * by that node are considered (the runtime of one node knows only its own pods). Blocks that do not
   * parse are left alone and returned as skipped.
   */
  async gc(valid: readonly Attachment[], opts: { node?: string } = {}): Promise<ReleaseResult> {
    // Validated: an entry without its ifname must not quietly stop protecting the container's IPs.
    const keep = new Set(valid.map((a) => attachmentKey(validateAttachment(a))));
    const scan = await this.store.blocksWhere(() => true);
    const released: Reservation[] = [];
    for (const block of scan.blocks) {
      released.push(
        ...(await this.store.dropAllocations(
          block.value.cidr,
          (_ip, a, b) => !keep.has(attachmentKey(a)) && (opts.node === undefined || (a.node ?? b.node) === opts.node),
        )),
      );
    }
    return { released, skipped: corruptBlockProblems(scan) };
  }

  /** Who holds `ip` (`calicoctl ipam show --ip`), or undefined if it is free or in no block; CorruptEntryError if its block does not parse. */
  async holder(ip: string): Promise<Reservation | undefined> {
    const canonical = normalizeIp(ip);
    const block = await this.store.blockContaining(canonical);
    const stored = block && (await this.store.readBlock(block.cidr));
    return stored && blockHolder(stored.value, canonical);
  }

  /**
   * The reservations inside `cidr` (a block, a pool, any range) and/or made by `node`, sorted by address.
   * Blocks that do not parse are left out (`check` reports them).
   */
  async reservations(filter: ReservationFilter = {}): Promise<Reservation[]> {
    const range = filter.cidr === undefined ? undefined : Cidr.parse(filter.cidr);
    // With strict affinity a node's IPs are all in its own blocks; otherwise it may have borrowed anywhere.
    const { blocks } = await this.store.blocksWhere(
      (node, _pool, cidr) =>
        (range === undefined || range.overlaps(Cidr.parse(cidr))) && (filter.node === undefined || !this.strictAffinity || node === filter.node),
    );
    return sortByAddress(
      blocks
        .flatMap((b) => blockReservations(b.value))
        .filter((r) => (range === undefined || range.contains(r.ip)) && (filter.node === undefined || r.node === filter.node)),
    );
  }

  /**
   * Finds inconsistencies (`calicoctl ipam check`): blocks of deleted pools or of nodes not in `nodes`
   * (default: the nodes registered with setNode, if any), IPs whose attachment is not in `valid`, IPs or
   * blocks claimed twice, entries that do not parse or do not agree with each other.
   */
  check(opts: CheckOptions = {}): Promise<CheckReport> {
    return checkCluster(this.store, opts);
  }

  /**
   * Acts on a check report (`calicoctl ipam release --from-report`): releases IPs of invalid attachments
   * (only if still held by the same attachment) and deletes orphan or outside-pool blocks (only if still
   * owned by the reported node). Problems that need a human (duplicates, corrupt entries), and with `node`
   * other nodes' problems, come back as skipped.
   */
  releaseReport(report: CheckReport, opts: { node?: string } = {}): Promise<ReleaseResult> {
    return releaseReport(this.store, report, opts.node);
  }

  /**
   * Address counts per pool and block (`calicoctl ipam show --show-blocks`); with `node`, only that node's
   * blocks, each pool's size then being what those blocks hold.
   */
  usage(opts: { node?: string } = {}): Promise<Usage> {
    return clusterUsage(this.store, opts.node);
  }
}

/**
 * One node's {@link PodIpam} over a ClusterIpam: its allocations, its GC, its problems, its blocks — like
 * LocalIpam, which sees only its node's directory. Cluster-wide views stay on ClusterIpam itself.
 */
class NodeIpam implements PodIpam {
  constructor(
    private readonly cluster: ClusterIpam,
    private readonly node: string,
    private readonly opts: ForNodeOptions,
    private readonly allocateOne: (attachment: Attachment, opts: AllocateOptions) => Promise<{ reservation: Reservation; fresh: boolean }>,
  ) {}

  /**
   * One address per family of the node (`families`, default one address): a requested IP fixes the address
   * of its own family, the other families are allocated as usual (host-local's `ips` on several range sets).
   */
  async allocate(attachment: Attachment, opts: PodAllocateOptions = {}): Promise<PodAddress[]> {
    const labels = this.opts.labels === undefined ? {} : { labels: this.opts.labels };
    const wanted = requestedByFamily(opts.ips ?? [], this.opts.families);
    if (wanted.size > 0) {
      // Refused before any family commits (and is rolled back); allocateOne still checks the node selector.
      const pools = (await this.cluster.listPools()).filter((p) => !p.disabled);
      for (const ip of wanted.values()) {
        if (!pools.some((p) => Cidr.parse(p.cidr).contains(ip))) throw new InvalidArgumentError('ip', ip, 'is not inside an enabled pool');
      }
    }
    const families: readonly (Family | undefined)[] = this.opts.families ?? (wanted.size > 0 ? [...wanted.keys()] : [undefined]);
    const requests: AllocateOptions[] = families.map((family) => {
      const ip = family === undefined ? undefined : wanted.get(family);
      return { ...labels, ...(family === undefined ? {} : { family }), ...(ip === undefined ? {} : { ip }) };
    });
    const addresses: PodAddress[] = [];
    const made: string[] = [];
    try {
      for (const request of requests) {
        const { reservation, fresh } = await this.allocateOne(attachment, request);
        if (fresh) made.push(reservation.ip);
        addresses.push(podAddress(reservation));
      }
    } catch (err) {
      // Like LocalIpam: a failed ADD gives back the addresses it reserved, and keeps those held before it.
      for (const ip of made) await this.cluster.releaseIp(ip, { node: this.node });
      throw err;
    }
    return addresses;
  }

  release(attachment: Attachment): Promise<ReleaseResult> {
    return this.cluster.releaseAttachment(attachment);
  }

  releaseIp(ip: string): Promise<Reservation | undefined> {
    return this.cluster.releaseIp(ip, { node: this.node });
  }

  gc(valid: readonly Attachment[]): Promise<ReleaseResult> {
    return this.cluster.gc(valid, { node: this.node });
  }

  check(opts: { valid?: readonly Attachment[] } = {}): Promise<CheckReport> {
    return this.cluster.check({ ...opts, node: this.node });
  }

  releaseReport(report: CheckReport): Promise<ReleaseResult> {
    return this.cluster.releaseReport(report, { node: this.node });
  }

  async holder(ip: string): Promise<Reservation | undefined> {
    const held = await this.cluster.holder(ip);
    return held?.node === this.node ? held : undefined;
  }

  async reservations(filter: ReservationFilter = {}): Promise<Reservation[]> {
    if (filter.node !== undefined && filter.node !== this.node) return [];
    return this.cluster.reservations({ ...filter, node: this.node });
  }

  usage(): Promise<Usage> {
    return this.cluster.usage({ node: this.node });
  }
}

/**
 * Maps each requested IP to its family, refusing before anything is reserved what LocalIpam refuses too: two
 * addresses of one family, or one of a family the node does not allocate.
 */
function requestedByFamily(ips: readonly string[], families: readonly Family[] | undefined): Map<Family, string> {
  const byFamily = new Map<Family, string>();
  for (const text of ips) {
    const ip = normalizeIp(text);
    const { family } = ipToValue(ip);
    if (families !== undefined && !families.includes(family)) throw new InvalidArgumentError('ip', text, `this node allocates no IPv${family} addresses`);
    const other = byFamily.get(family);
    if (other !== undefined) throw new InvalidArgumentError('ip', text, `an IPv${family} address is already requested (${other})`);
    byFamily.set(family, ip);
  }
  return byFamily;
}

/** A cluster reservation as the CNI result needs it: the block is the pod's subnet, its first usable address the gateway. */
function podAddress(r: Reservation): PodAddress {
  const block = Cidr.parse(r.block!);
  return { ...r, subnet: block.toString(), prefixLen: block.prefixLen, gateway: valueToIp(block.family, block.gateway()) };
}

/** Enabled pools of the wanted family (default: IPv4 if any, else IPv6) that select the node. */
function candidatePools(view: NodeView, opts: NodeOptions, family: Family | undefined): { pools: Stored<IpPool>[]; family: Family } {
  const labels = opts.labels ?? view.labels;
  const selecting = view.pools.filter((p) => !p.value.disabled && poolSelectsNode(p.value, labels));
  const familyOf = (p: Stored<IpPool>) => Cidr.parse(p.value.cidr).family;
  const chosen: Family = family ?? (selecting.some((p) => familyOf(p) === 4) || selecting.length === 0 ? 4 : 6);
  return { pools: selecting.filter((p) => familyOf(p) === chosen), family: chosen };
}
