// The cluster IPAM's whole-store views: consistency check (`calicoctl ipam check`), acting on a check
// report (`calicoctl ipam release --from-report`) and address usage (`calicoctl ipam show`). They scan
// every pool, block, affinity and handle; an entry that does not parse is one `corrupt-entry` problem
// naming its block and node, never a reason to fail for the whole cluster.
import { Cidr } from './cidr.js';
import { blockCapacity, blockInfo, blockReservations } from './block.js';
import { corruptBlockProblems } from './cluster-store.js';
import type { ClusterStore } from './cluster-store.js';
import { poolBlockCount } from './pool.js';
import type { IpPool } from './pool.js';
import { CorruptEntryError, corruptProblem, decodeBlock, decodeHandle, decodePool } from './records.js';
import type { BlockRecord } from './records.js';
import type { Attachment, CheckReport, Problem, ReleaseResult, Reservation, Usage } from './report.js';
import { attachmentKey, validateAttachment } from './validate.js';

export interface CheckOptions {
  /** The cluster's nodes; blocks of others are orphans. Default: the nodes stored with `setNode`, if any. */
  nodes?: readonly string[];
  /** The live attachments; allocations of others are reported as `invalid-attachment`. */
  valid?: readonly Attachment[];
  /** Only this node's problems: its blocks, and (given `valid`) the allocations it made. */
  node?: string;
}

/** Names of the nodes stored with `setNode`. */
export async function listNodes(store: ClusterStore): Promise<string[]> {
  return (await store.kv.list(store.keys.nodes)).flatMap((e) => store.keys.parseNode(e.key) ?? []);
}

/** Every inconsistency of the store; see {@link CheckOptions}. */
export async function checkCluster(store: ClusterStore, opts: CheckOptions = {}): Promise<CheckReport> {
  const { keys, kv } = store;
  const valid = opts.valid && new Set(opts.valid.map((a) => attachmentKey(validateAttachment(a))));
  const registered = opts.nodes ?? (await listNodes(store));
  const nodes = opts.nodes !== undefined || registered.length > 0 ? new Set(registered) : undefined;
  const [poolEntries = [], blockEntries = [], affinityEntries = [], handleEntries = []] = await kv.readMany(
    [keys.pools, keys.blocks, keys.affinities, keys.handles].map((prefix) => ({ prefix })),
  );
  const problems: Problem[] = [];
  const corrupt = (err: unknown, where: { block?: string; node?: string } = {}) => {
    if (!(err instanceof CorruptEntryError)) throw err;
    problems.push(corruptProblem(err, where));
  };
  const pools = new Map<string, IpPool>();
  for (const entry of poolEntries) {
    try {
      const pool = decodePool(entry).value;
      pools.set(pool.name, pool);
    } catch (err) {
      corrupt(err);
    }
  }
  // Affinity index: owner of every claimed block; what is left after the blocks are matched points nowhere.
  const owners = new Map<string, string>();
  for (const e of affinityEntries) {
    const a = keys.parseAffinity(e.key);
    if (a) owners.set(a.cidr, a.node);
  }
  const unmatched = new Set(affinityEntries.map((e) => e.key));
  const blocks: BlockRecord[] = [];
  const unreadable = new Set<string>();
  for (const entry of blockEntries) {
    try {
      blocks.push(decodeBlock(entry).value);
    } catch (err) {
      // One problem for a block that does not parse: its affinity and the handles into it are not judged.
      const cidr = keys.parseBlock(entry.key);
      const node = cidr === undefined ? undefined : owners.get(cidr);
      if (cidr !== undefined) unreadable.add(cidr);
      if (cidr !== undefined && node !== undefined) unmatched.delete(keys.affinity(node, cidr));
      corrupt(err, { ...(cidr === undefined ? {} : { block: cidr }), ...(node === undefined ? {} : { node }) });
    }
  }
  const holders = new Map<string, Reservation>();
  for (const block of blocks) {
    const cidr = Cidr.parse(block.cidr);
    const where = { block: block.cidr, node: block.node };
    const pool = pools.get(block.pool);
    if (!pool || !Cidr.parse(pool.cidr).contains(cidr) || cidr.prefixLen !== pool.blockSize) {
      problems.push({ kind: 'outside-pools', ...where, detail: `block ${block.cidr} is not a block of an existing pool (${block.pool})` });
    }
    if (nodes && !nodes.has(block.node)) {
      problems.push({ kind: 'orphan-block', ...where, detail: `block ${block.cidr} belongs to node ${block.node}, which is not in the cluster` });
    }
    if (!unmatched.delete(keys.affinity(block.node, block.cidr))) {
      problems.push({ kind: 'corrupt-entry', ...where, detail: `block ${block.cidr} has no affinity entry for node ${block.node}` });
    }
    for (const r of blockReservations(block)) {
      const other = holders.get(r.ip);
      if (other) problems.push({ ...r, kind: 'duplicate-ip', detail: `${r.ip} is allocated in blocks ${other.block} and ${r.block}` });
      holders.set(r.ip, r);
      if (valid && !valid.has(attachmentKey(r)) && (opts.node === undefined || r.node === opts.node)) {
        problems.push({ ...r, kind: 'invalid-attachment', detail: `${r.ip} is held by ${r.containerId}/${r.ifname}, which is not a live attachment` });
      }
    }
  }
  for (const key of unmatched) {
    const a = keys.parseAffinity(key);
    problems.push({ kind: 'corrupt-entry', ...(a && { block: a.cidr, node: a.node }), detail: `affinity ${key} points to a missing block` });
  }
  for (const entry of handleEntries) {
    try {
      for (const { ip, block } of decodeHandle(entry).ips) {
        const holder = holders.get(ip);
        if (!unreadable.has(block) && (!holder || keys.handle(holder) !== entry.key)) {
          problems.push({ kind: 'corrupt-entry', ip, block, detail: `handle ${entry.key} claims ${ip}, which its block does not assign to it` });
        }
      }
    } catch (err) {
      corrupt(err);
    }
  }
  return { problems: opts.node === undefined ? problems : problems.filter((p) => p.node === opts.node) };
}

/**
 * Acts on a check report: releases IPs of invalid attachments (only while the same attachment holds
 * them) and deletes orphan or outside-pool blocks (only while the reported node owns them). Problems that
 * need a human (duplicates, corrupt entries), and with `node` other nodes' problems, come back as skipped.
 */
export async function releaseReport(store: ClusterStore, report: CheckReport, node?: string): Promise<ReleaseResult> {
  const released: Reservation[] = [];
  const skipped: Problem[] = [];
  for (const p of report.problems) {
    try {
      if (node !== undefined && p.node !== node) skipped.push(p);
      else if (p.kind === 'invalid-attachment' && p.ip && p.containerId && p.ifname) {
        const block = await store.blockContaining(p.ip);
        if (block) {
          const same = (ip: string, a: Attachment) => ip === p.ip && a.containerId === p.containerId && a.ifname === p.ifname;
          released.push(...(await store.dropAllocations(block.cidr, same)));
        }
      } else if ((p.kind === 'orphan-block' || p.kind === 'outside-pools') && p.block && p.node) {
        const block = await store.readBlock(p.block);
        if (block?.value.node === p.node) {
          released.push(...(await store.dropAllocations(p.block, (_ip, _a, b) => b.node === p.node)));
          await store.deleteEmptyBlock(p.block);
        }
      } else {
        skipped.push(p);
      }
    } catch (err) {
      // The block went corrupt since the report was taken: leave it to a human.
      if (!(err instanceof CorruptEntryError)) throw err;
      skipped.push(corruptProblem(err, { ...(p.block === undefined ? {} : { block: p.block }), ...(p.node === undefined ? {} : { node: p.node }) }));
    }
  }
  return { released, skipped };
}

/**
 * Address counts per pool and block (with `node`, that node's blocks only); blocks that do not parse are
 * not counted and come back as skipped.
 */
export async function clusterUsage(store: ClusterStore, node?: string): Promise<Usage> {
  const [pools, scan] = await Promise.all([store.readPools(), store.blocksWhere((owner) => node === undefined || owner === node)]);
  return {
    pools: pools.map(({ value: pool }) => {
      const mine = scan.blocks.filter((b) => b.value.pool === pool.name).map((b) => blockInfo(b.value));
      const perBlock = blockCapacity(Cidr.parse(pool.cidr).nthSubnet(pool.blockSize, 0n));
      // A node's share of a pool is its blocks.
      const size = node === undefined ? Number(poolBlockCount(pool) * perBlock) : mine.reduce((n, b) => n + b.size, 0);
      const allocated = mine.reduce((n, b) => n + b.allocated, 0);
      return { name: pool.name, cidr: pool.cidr, size, allocated, free: size - allocated, blocks: mine.map(({ pool: _pool, ...b }) => b) };
    }),
    skipped: corruptBlockProblems(scan),
  };
}
