// `netboot ipam …` over either store a node's pod IPs live in: the cluster's (ClusterIpam on the agents'
// etcd: pools, node blocks, every node's pod IPs) or one node's (LocalIpam on host-local's directory,
// `/var/lib/cni/networks/<network>`, the file and Kubernetes datastores' case). Both are @netboot/ipam
// PodIpam-shaped, so show/check/release/gc are one code path with two openers; the reports carry the
// store they came from, so a report is never applied to another store.
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { NetbootError } from '@netboot/core/errors';
import type { Attachment, BlockInfo, CheckReport, ClusterIpam, Problem, Reservation, Usage } from '@netboot/ipam';
import type { LocalIpam } from '@netboot/ipam/file';
import { UsageError } from '../cli/args.js';
import { liveAttachments, readCniCache } from './cni-cache.js';
import { type ClusterStoreChoice, listNodeRecords, openClusterIpam } from './datastore.js';
import { readLeaseView } from './lease.js';

export type IpamSource =
  | { kind: 'cluster'; store: string; ipam: ClusterIpam; choice: ClusterStoreChoice; close(): Promise<void> }
  | { kind: 'local'; store: string; ipam: LocalIpam; node: string; network: string; cacheDir: string; close(): Promise<void> };

/** Something the store holds or lacks stops the command (exit 1): no such store, a report of another one. */
class IpamStoreError extends NetbootError {
  readonly kind = 'invalid' as const;
}

export interface LocalStoreOptions {
  /** The network's reservation directory, e.g. /var/lib/cni/networks/netboot. */
  dataDir: string;
  /** The node's pod subnets (the ranges); default the lease file's, disabled ones included. */
  subnets?: string[];
  leaseFile: string;
  node: string;
  cacheDir: string;
}

/** The cluster store: on etcd, or the agents' --cluster-ipam ConfigMap on Kubernetes. */
export async function openClusterSource(choice: ClusterStoreChoice): Promise<IpamSource> {
  const { ipam, store, close } = await openClusterIpam(choice);
  return { kind: 'cluster', store, ipam, choice, close };
}

/** One node's store (host-local's files); refuses a directory that does not exist rather than create it. */
export async function openLocalSource(o: LocalStoreOptions): Promise<IpamSource> {
  if (!existsSync(o.dataDir))
    throw new IpamStoreError(`no node-local store at ${o.dataDir}: give --data-dir /var/lib/cni/networks/<network>, or --etcd-endpoint for the cluster store`);
  let subnets = o.subnets;
  if (subnets === undefined || subnets.length === 0) {
    if (!existsSync(o.leaseFile))
      throw new IpamStoreError(`no lease file at ${o.leaseFile} to take this node's pod subnets from: pass --subnet CIDR (one per family)`);
    // Reservations in a disabled pool's subnet are still the node's: they count as its ranges here.
    const lease = readLeaseView(o.leaseFile);
    subnets = [...lease.subnets, ...lease.disabledSubnets];
  }
  const { FileStore, LocalIpam } = await import('@netboot/ipam/file');
  const network = basename(o.dataDir);
  const ipam = new LocalIpam(
    new FileStore(dirname(o.dataDir), network),
    subnets.map((subnet) => [{ subnet }]),
    { node: o.node },
  );
  return { kind: 'local', store: `local ${o.dataDir}`, ipam, node: o.node, network, cacheDir: o.cacheDir, close: async () => {} };
}

// ---- show ------------------------------------------------------------------------------------------

export interface ShowOptions {
  pool?: string;
  node?: string;
  blocks?: boolean;
  ip?: string;
}

export interface IpamShow {
  store: string;
  /** --ip: who holds it (absent: free, or outside every block). */
  ip?: { address: string; holder?: Reservation };
  usage?: Usage;
  blocks?: BlockInfo[];
  reservations?: Reservation[];
}

/** `calicoctl ipam show` and its `--ip`, `--show-blocks`; `--pool`/`--node` narrow and list the pod IPs. */
export async function show(src: IpamSource, o: ShowOptions): Promise<IpamShow> {
  if (o.ip !== undefined) {
    const holder = await src.ipam.holder(o.ip);
    return { store: src.store, ip: { address: o.ip, ...(holder && { holder: withNode(src, holder) }) } };
  }
  const cidr = o.pool === undefined ? undefined : await poolCidr(src, o.pool);
  const out: IpamShow = { store: src.store };
  if (src.kind === 'cluster') {
    const usage = await src.ipam.usage(o.node === undefined ? {} : { node: o.node });
    out.usage = { ...usage, pools: usage.pools.filter((p) => cidr === undefined || p.cidr === cidr) };
    if (o.blocks)
      out.blocks = await src.ipam.listBlocks({ ...(o.node !== undefined && { node: o.node }), ...(o.pool !== undefined && { pool: poolName(usage, cidr) }) });
  } else {
    const usage = await src.ipam.usage();
    out.usage = { ...usage, pools: usage.pools.filter((p) => cidr === undefined || p.cidr === cidr) };
    if (o.blocks) out.blocks = usage.pools.flatMap((p) => p.blocks.map((b) => ({ ...b, pool: p.cidr })));
  }
  if (o.pool !== undefined || o.node !== undefined)
    out.reservations = (await src.ipam.reservations({ ...(cidr !== undefined && { cidr }), ...(o.node !== undefined && { node: o.node }) })).map((r) =>
      withNode(src, r),
    );
  return out;
}

function withNode(src: IpamSource, r: Reservation): Reservation {
  return src.kind === 'local' && r.node === undefined ? { ...r, node: src.node } : r;
}

function poolName(usage: Usage, cidr: string | undefined): string | undefined {
  return usage.pools.find((p) => p.cidr === cidr)?.name;
}

/** A pool given by name or CIDR → its CIDR (a node-local range by its subnet). */
async function poolCidr(src: IpamSource, pool: string): Promise<string> {
  const pools = src.kind === 'cluster' ? await src.ipam.listPools() : (await src.ipam.usage()).pools.map((p) => ({ name: p.cidr, cidr: p.cidr }));
  const found = pools.find((p) => p.name === pool || p.cidr === pool);
  if (found === undefined) throw new UsageError(`--pool ${pool}: no such pool in ${src.store} (pools: ${pools.map((p) => p.cidr).join(', ') || 'none'})`);
  return found.cidr;
}

export function renderShow(s: IpamShow): string {
  if (s.ip !== undefined) {
    const h = s.ip.holder;
    if (h === undefined) return `${s.ip.address} is free (not reserved in ${s.store})`;
    const where = [h.node && `node ${h.node}`, h.pool && `pool ${h.pool}`, h.block && `block ${h.block}`].filter(Boolean).join(', ');
    return `${h.ip} is held by container ${h.containerId} interface ${h.ifname || '?'}${where ? ` (${where})` : ''}`;
  }
  const lines = [`store: ${s.store}`];
  for (const p of s.usage?.pools ?? [])
    lines.push(
      `${p.name ? `pool ${p.name} ${p.cidr}` : `range ${p.cidr}`}: ${p.allocated} of ${p.size} addresses in use, ${p.free} free, ${p.blocks.length} block(s)`,
    );
  if (s.usage?.pools.length === 0) lines.push('no pools');
  for (const b of s.blocks ?? []) lines.push(`  block ${b.cidr}  node ${b.node}  ${b.allocated}/${b.size} in use`);
  for (const r of s.reservations ?? []) lines.push(`  ${r.ip}  ${r.containerId}/${r.ifname || '?'}${r.node ? `  node ${r.node}` : ''}`);
  for (const p of s.usage?.skipped ?? []) lines.push(`✗ ${p.detail}`);
  return lines.join('\n');
}

// ---- check, release, gc ----------------------------------------------------------------------------

/** A check report with the store it describes (the shape `ipam release --from-report` reads). */
export interface IpamReport extends CheckReport {
  store: string;
}

/**
 * `calicoctl ipam check`. Cluster: blocks of deleted pools, of nodes without a record in the datastore,
 * duplicates, corrupt entries. Node-local: files that are not reservations, addresses outside the node's
 * subnets, and (when the runtime's libcni cache is there) reservations no live pod holds — leaks.
 */
export async function check(src: IpamSource): Promise<IpamReport> {
  if (src.kind === 'cluster') {
    const nodes = await clusterNodes(src);
    return { store: src.store, ...(await src.ipam.check({ nodes })) };
  }
  const cache = readCniCache(src.cacheDir, src.network);
  return { store: src.store, ...(await src.ipam.check(cache === undefined ? {} : { valid: liveAttachments(cache) })) };
}

async function clusterNodes(src: Extract<IpamSource, { kind: 'cluster' }>): Promise<string[]> {
  const records = await listNodeRecords(src.choice);
  return [...new Set([...records.map((r) => r.name), ...(await src.ipam.listNodes())])];
}

/** Reads a report written by `ipam check --json`; refuses another store's or a malformed one. */
export function readReport(path: string, src: IpamSource): IpamReport {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new IpamStoreError(`cannot read the report ${path}: ${(e as Error).message} (write one with \`netboot ipam check --json > ${path}\`)`);
  }
  const r = raw as Partial<IpamReport>;
  if (typeof raw !== 'object' || raw === null || !Array.isArray(r.problems))
    throw new IpamStoreError(`${path} is not a check report: expected {"store", "problems": […]}`);
  if (r.store !== undefined && r.store !== src.store)
    throw new IpamStoreError(`${path} describes ${r.store}, not ${src.store}: run the release against the store that was checked`);
  return { store: src.store, problems: r.problems as Problem[] };
}

export interface ReleaseOutcome {
  store: string;
  released: Reservation[];
  /** Problems the store would not act on (duplicates, corrupt entries, other nodes'): a human must look. */
  skipped: Problem[];
  /** Problems no longer true as reported (address freed or now someone else's, block gone or moved): nothing done. */
  stale: Problem[];
}

/** `calicoctl ipam release --from-report`: exactly what the report lists, and only while still true. */
export async function releaseFromReport(src: IpamSource, report: CheckReport): Promise<ReleaseOutcome> {
  const before = src.kind === 'cluster' ? await src.ipam.listBlocks() : [];
  const { released, skipped } = await src.ipam.releaseReport(report);
  const after = src.kind === 'cluster' ? await src.ipam.listBlocks() : [];
  const skippedSet = new Set(skipped);
  const freed = new Set(released.map((r) => r.ip));
  const owned = (list: BlockInfo[], p: Problem) => list.some((b) => b.cidr === p.block && b.node === p.node);
  const stale = report.problems.filter((p) => {
    if (skippedSet.has(p)) return false;
    if (p.kind === 'invalid-attachment' || (p.kind === 'outside-pools' && p.ip !== undefined)) return !freed.has(p.ip!);
    // A block problem was acted on when the block was the reported node's before and is gone now.
    return !(owned(before, p) && !owned(after, p));
  });
  return { store: src.store, released: released.map((r) => withNode(src, r)), skipped, stale };
}

export interface GcPlan {
  store: string;
  /** What gc releases (or, with --dry-run, would). */
  report: CheckReport;
  /** Problems gc leaves for a human, with why. */
  left: Problem[];
}

/**
 * What `ipam gc` may release without a human. Node-local: reservations of no live attachment (`valid`,
 * else libcni's cache: refused when neither says which pods live, as releasing everything would be
 * wrong). Cluster: blocks of deleted pools, and empty blocks of nodes without a record; an orphan block
 * that still holds pod IPs is left (its node may only be down) for `ipam release --from-report`.
 */
export async function planGc(src: IpamSource, valid?: readonly Attachment[]): Promise<GcPlan> {
  if (src.kind === 'local') {
    let live = valid;
    if (live === undefined) {
      const cache = readCniCache(src.cacheDir, src.network);
      if (cache === undefined)
        throw new IpamStoreError(
          `no libcni cache at ${src.cacheDir}/results to tell live pods from leaks: pass --valid CONTAINER_ID/IFNAME for each live pod, or --cache-dir`,
        );
      live = liveAttachments(cache);
    }
    const all = await src.ipam.check({ valid: live });
    const take = all.problems.filter((p) => p.kind === 'invalid-attachment');
    return { store: src.store, report: { problems: take }, left: all.problems.filter((p) => !take.includes(p)) };
  }
  const all = await check(src);
  const blocks = await src.ipam.listBlocks();
  const empty = new Set(blocks.filter((b) => b.allocated === 0).map((b) => b.cidr));
  const take = all.problems.filter((p) => p.kind === 'outside-pools' || (p.kind === 'orphan-block' && p.block !== undefined && empty.has(p.block)));
  const left = all.problems
    .filter((p) => !take.includes(p))
    .map((p) =>
      p.kind === 'orphan-block'
        ? {
            ...p,
            detail: `${p.detail}; it still holds pod IPs — if ${p.node} is gone for good: netboot ipam check --json > r.json; netboot ipam release --from-report r.json`,
          }
        : p,
    );
  return { store: src.store, report: { problems: take }, left };
}

export function renderRelease(o: ReleaseOutcome): string {
  const lines = [`store: ${o.store}`];
  for (const r of o.released) lines.push(`released ${r.ip}  ${r.containerId}/${r.ifname || '?'}${r.node ? `  node ${r.node}` : ''}`);
  for (const p of o.stale) lines.push(`✗ stale, not released: ${p.detail}`);
  for (const p of o.skipped) lines.push(`✗ left for a human: ${p.detail}`);
  if (lines.length === 1) lines.push('nothing to release');
  return lines.join('\n');
}

export function renderGcPlan(plan: GcPlan): string {
  const lines = [`store: ${plan.store} (dry run: nothing released)`];
  for (const p of plan.report.problems) lines.push(`would release: ${p.detail}`);
  for (const p of plan.left) lines.push(`✗ left for a human: ${p.detail}`);
  if (lines.length === 1) lines.push('nothing to release');
  return lines.join('\n');
}

export function renderCheck(r: IpamReport): string {
  const lines = [`store: ${r.store}`];
  if (r.problems.length === 0) lines.push('✓ no problems found');
  for (const p of r.problems) lines.push(`✗ ${p.kind}: ${p.detail}`);
  if (r.problems.length > 0) lines.push('to fix what can be fixed: netboot ipam check --json > report.json && netboot ipam release --from-report report.json');
  return lines.join('\n');
}
