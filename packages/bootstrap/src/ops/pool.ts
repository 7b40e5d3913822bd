// `netboot pool …`: the cluster's IP pools (calicoctl ippool's jobs) with @netboot/ipam's migration
// semantics — add a pool, disable the old one (its pod IPs stay valid, new pods get the new pool),
// delete it once empty (refused while in use, naming who uses it). Pools are named by CIDR on the
// command line; a pool is found by CIDR or name.
import { NetbootError } from '@netboot/core/errors';
import { Cidr, type ClusterIpam, type IpPool, PoolInUseError, type Reservation, type RoutingMode } from '@netboot/ipam';

export interface PoolRow extends IpPool {
  /** Pod IPs in use, and addresses in the pool. */
  allocated: number;
  size: number;
  blocks: number;
}

/** No pool has that CIDR or name (exit 1, listing the pools there are). */
class NoSuchPoolError extends NetbootError {
  readonly kind = 'not-found' as const;
}

/** A pool still has pod IPs: refused, with who holds them. */
class PoolStillUsedError extends NetbootError {
  readonly kind = 'conflict' as const;
  constructor(
    readonly pool: IpPool,
    readonly allocations: Reservation[],
  ) {
    const shown = allocations.slice(0, 10).map((a) => `  ${a.ip}  container ${a.containerId} ${a.ifname}  node ${a.node ?? '?'}`);
    super(
      `pool ${pool.cidr} (${pool.name}) still has ${allocations.length} pod IP(s):\n${shown.join('\n')}${allocations.length > 10 ? '\n  …' : ''}\n` +
        `Migrate first: netboot pool disable ${pool.cidr}, restart those pods (their new IPs come from another pool), then delete it; or --force drops them.`,
    );
  }
}

/** Every pool with its usage (`calicoctl get ippool -o wide` with `calicoctl ipam show`). */
export async function listPools(ipam: ClusterIpam): Promise<PoolRow[]> {
  const [pools, usage] = await Promise.all([ipam.listPools(), ipam.usage()]);
  return pools.map((p) => {
    const u = usage.pools.find((x) => x.name === p.name);
    return { ...p, allocated: u?.allocated ?? 0, size: u?.size ?? 0, blocks: u?.blocks.length ?? 0 };
  });
}

/** A pool by CIDR (any spelling of it) or name. */
async function findPool(ipam: ClusterIpam, ref: string): Promise<IpPool> {
  const pools = await ipam.listPools();
  let cidr: string | undefined;
  try {
    cidr = Cidr.parse(ref).toString();
  } catch {}
  const pool = pools.find((p) => p.name === ref || p.cidr === cidr);
  if (pool === undefined)
    throw new NoSuchPoolError(`no pool ${ref} (pools: ${pools.map((p) => `${p.cidr} (${p.name})`).join(', ') || 'none'}): netboot pool list`);
  return pool;
}

/** The name a pool gets when none is given: `pool-10-245-0-0-16`, `pool-fd00-10-245---48`. */
function poolNameFor(cidr: string): string {
  return `pool-${Cidr.parse(cidr).toString().replace(/[.:/]/g, '-')}`;
}

export interface AddPool {
  cidr: string;
  name?: string;
  blockSize?: number;
  natOutgoing?: boolean;
  mode?: RoutingMode;
}

export function addPool(ipam: ClusterIpam, o: AddPool): Promise<IpPool> {
  return ipam.createPool({
    name: o.name ?? poolNameFor(o.cidr),
    cidr: o.cidr,
    ...(o.blockSize !== undefined && { blockSize: o.blockSize }),
    ...(o.natOutgoing !== undefined && { natOutgoing: o.natOutgoing }),
    ...(o.mode !== undefined && { mode: o.mode }),
  });
}

export async function setPoolDisabled(ipam: ClusterIpam, ref: string, disabled: boolean): Promise<IpPool> {
  const pool = await findPool(ipam, ref);
  return disabled ? ipam.disablePool(pool.name) : ipam.enablePool(pool.name);
}

/** Deletes an empty pool (and its empty blocks); refuses while pod IPs are in it unless `force`. */
export async function deletePool(ipam: ClusterIpam, ref: string, force: boolean): Promise<{ pool: IpPool; released: Reservation[]; blocks: string[] }> {
  const pool = await findPool(ipam, ref);
  try {
    const { released, blocks } = await ipam.deletePool(pool.name, { force });
    return { pool, released, blocks };
  } catch (e) {
    if (e instanceof PoolInUseError) throw new PoolStillUsedError(pool, e.allocations);
    throw e;
  }
}

export function renderPools(rows: readonly PoolRow[]): string {
  if (rows.length === 0) return 'no pools (netboot pool add CIDR)';
  const table = [
    ['CIDR', 'NAME', 'BLOCK', 'NAT', 'MODE', 'STATE', 'IN USE'],
    ...rows.map((p) => [
      p.cidr,
      p.name,
      `/${p.blockSize}`,
      p.natOutgoing ? 'yes' : 'no',
      p.mode,
      p.disabled ? 'disabled' : 'enabled',
      `${p.allocated}/${p.size} (${p.blocks} blocks)`,
    ]),
  ];
  const widths = table[0]!.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
  return table
    .map((r) =>
      r
        .map((cell, c) => cell.padEnd(widths[c]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
