// IP pools: the address space pods are drawn from, cut into per-node blocks. Pure definitions and checks;
// storage and the allocation workflow live in cluster.ts.
import { InvalidInputError, NetbootError } from '@netboot/core/errors';
import { Cidr } from './cidr.js';
import type { IpFamily as Family } from '@netboot/core/ip';
import { InvalidArgumentError } from './validate.js';
import type { Reservation } from './report.js';

export type RoutingMode = 'host-gw' | 'vxlan' | 'cross-subnet' | 'ipip';
export const ROUTING_MODES: readonly RoutingMode[] = ['host-gw', 'vxlan', 'cross-subnet', 'ipip'];

/** A stored pool, every field filled in. `cidr` and `blockSize` never change after creation. */
export interface IpPool {
  name: string;
  cidr: string;
  /** Prefix length of each node block. */
  blockSize: number;
  /** A disabled pool hands out no new IPs and no new blocks; existing ones stay valid. */
  disabled: boolean;
  natOutgoing: boolean;
  mode: RoutingMode;
  /** Only nodes whose labels contain every pair may claim blocks here; absent = every node. */
  nodeSelector?: Record<string, string>;
  maxBlocksPerNode?: number;
}

/** What a caller gives to create a pool: name and cidr, the rest defaulted. */
export type IpPoolSpec = Pick<IpPool, 'name' | 'cidr'> & Partial<Omit<IpPool, 'name' | 'cidr'>>;

/** Fields that may change on a live pool. */
export type IpPoolPatch = Partial<Pick<IpPool, 'disabled' | 'natOutgoing' | 'mode' | 'nodeSelector' | 'maxBlocksPerNode'>>;

// flannel's SubnetLen (24) and IPv6SubnetLen (64) as defaults; the bounds follow Calico's 20–32 / 116–128
// loosely, widened so that /16–/24 (v4) and /48–/64 (v6) node subnets work and narrowed so that a block always
// has at least two usable addresses besides its gateway.
export const DEFAULT_BLOCK_SIZE: Record<Family, number> = { 4: 24, 6: 64 };
export const BLOCK_SIZE_RANGE: Record<Family, readonly [number, number]> = { 4: [16, 30], 6: [48, 126] };

// Pool names become KV key segments and CLI arguments: DNS-label style.
const POOL_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/**
 * The pool shares addresses with an existing pool: that pool's state is in the way (`conflict`), and
 * deleting or shrinking it would let the request through. Nothing was created.
 */
export class PoolOverlapError extends NetbootError {
  readonly kind = 'conflict' as const;

  constructor(
    readonly pool: string,
    readonly other: string,
  ) {
    super(`pool ${pool} overlaps ${other}`);
  }
}

/** The pool shares addresses with the service CIDR, which never changes: bad input, nothing was created. */
export class ServiceCidrOverlapError extends InvalidInputError {
  constructor(
    readonly pool: string,
    readonly serviceCidr: string,
  ) {
    super(`pool ${pool} overlaps the service CIDR ${serviceCidr}`);
  }
}

/** A pool with this name already exists. */
export class PoolExistsError extends NetbootError {
  readonly kind = 'exists' as const;

  constructor(readonly pool: string) {
    super(`pool ${pool} already exists`);
  }
}

/** No pool with this name. */
export class PoolNotFoundError extends NetbootError {
  readonly kind = 'not-found' as const;

  constructor(readonly pool: string) {
    super(`no pool named ${pool}`);
  }
}

/** Deleting a pool that still has allocated IPs; lists them so the operator can drain or `force`. */
export class PoolInUseError extends NetbootError {
  readonly kind = 'conflict' as const;

  constructor(
    readonly pool: string,
    readonly allocations: Reservation[],
  ) {
    const shown = allocations.slice(0, 5).map((a) => `${a.ip} (${a.containerId}/${a.ifname} on ${a.node ?? '?'})`);
    super(
      `pool ${pool} still has ${allocations.length} allocated IP(s): ${shown.join(', ')}${allocations.length > 5 ? ', …' : ''}. ` +
        `Disable it, let pods move, and delete it once empty (or delete with force to drop them).`,
    );
  }
}

/** Validates a spec and fills in defaults; throws InvalidArgumentError / InvalidAddressError naming the field. */
export function definePool(spec: IpPoolSpec): IpPool {
  if (typeof spec.name !== 'string' || spec.name.length > 63 || !POOL_NAME.test(spec.name)) {
    throw new InvalidArgumentError('pool name', spec.name, 'must be 1–63 lower-case letters, digits, "-" or ".", starting and ending alphanumeric');
  }
  const cidr = Cidr.parse(spec.cidr);
  const pool: IpPool = {
    name: spec.name,
    cidr: cidr.toString(),
    blockSize: spec.blockSize ?? DEFAULT_BLOCK_SIZE[cidr.family],
    disabled: spec.disabled ?? false,
    natOutgoing: spec.natOutgoing ?? true,
    mode: spec.mode ?? 'vxlan',
  };
  if (spec.nodeSelector !== undefined) pool.nodeSelector = spec.nodeSelector;
  if (spec.maxBlocksPerNode !== undefined) pool.maxBlocksPerNode = spec.maxBlocksPerNode;
  checkPool(pool, cidr);
  return pool;
}

/** Applies a patch to a stored pool, refusing changes to immutable fields. */
export function patchPool(pool: IpPool, patch: IpPoolPatch & Partial<Pick<IpPool, 'cidr' | 'blockSize'>>): IpPool {
  for (const field of ['cidr', 'blockSize', 'name'] as const) {
    const value = (patch as Partial<IpPool>)[field];
    if (value !== undefined && value !== pool[field]) {
      throw new InvalidArgumentError(`pool ${pool.name} ${field}`, value, 'is immutable: create a new pool and migrate (see the README)');
    }
  }
  const next: IpPool = { ...pool, ...patch };
  for (const key of ['nodeSelector', 'maxBlocksPerNode'] as const) if (next[key] === undefined) delete next[key];
  checkPool(next, Cidr.parse(next.cidr));
  return next;
}

function checkPool(pool: IpPool, cidr: Cidr): void {
  const field = (name: string) => `pool ${pool.name} ${name}`;
  const [min, max] = BLOCK_SIZE_RANGE[cidr.family];
  if (!Number.isInteger(pool.blockSize) || pool.blockSize < min || pool.blockSize > max) {
    throw new InvalidArgumentError(field('blockSize'), pool.blockSize, `must be an integer from ${min} to ${max} for IPv${cidr.family}`);
  }
  if (pool.blockSize < cidr.prefixLen) {
    throw new InvalidArgumentError(field('blockSize'), pool.blockSize, `a /${pool.blockSize} block is larger than the pool ${pool.cidr}`);
  }
  for (const flag of ['disabled', 'natOutgoing'] as const) {
    if (typeof pool[flag] !== 'boolean') throw new InvalidArgumentError(field(flag), pool[flag], 'must be true or false');
  }
  if (!ROUTING_MODES.includes(pool.mode)) {
    throw new InvalidArgumentError(field('mode'), pool.mode, `must be one of ${ROUTING_MODES.join(', ')}`);
  }
  if (pool.mode === 'ipip' && cidr.family === 6) {
    throw new InvalidArgumentError(field('mode'), pool.mode, 'IP-in-IP carries IPv4 only');
  }
  const selector = pool.nodeSelector;
  if (selector !== undefined && (typeof selector !== 'object' || selector === null || Object.values(selector).some((v) => typeof v !== 'string'))) {
    throw new InvalidArgumentError(field('nodeSelector'), selector, 'must map label names to string values');
  }
  const max_ = pool.maxBlocksPerNode;
  if (max_ !== undefined && (!Number.isInteger(max_) || max_ < 1)) {
    throw new InvalidArgumentError(field('maxBlocksPerNode'), max_, 'must be a positive integer');
  }
}

/**
 * Checks that `pool` can join `existing`: a unique name, and no address shared with another pool or with the
 * service CIDR(s) (a pod IP inside the service range would be unreachable behind kube-proxy's rules).
 */
export function checkPoolFits(pool: IpPool, existing: readonly IpPool[], serviceCidr?: string | readonly string[]): void {
  if (existing.some((p) => p.name === pool.name)) throw new PoolExistsError(pool.name);
  const cidr = Cidr.parse(pool.cidr);
  const clash = existing.find((p) => Cidr.parse(p.cidr).overlaps(cidr));
  if (clash) throw new PoolOverlapError(`${pool.name} (${pool.cidr})`, `pool ${clash.name} (${clash.cidr})`);
  const services = serviceCidr === undefined ? [] : typeof serviceCidr === 'string' ? serviceCidr.split(',') : serviceCidr;
  for (const service of services) {
    if (Cidr.parse(service.trim()).overlaps(cidr)) throw new ServiceCidrOverlapError(`${pool.name} (${pool.cidr})`, service.trim());
  }
}

/** True if every label in the pool's nodeSelector is present on the node with the same value. */
export function poolSelectsNode(pool: IpPool, labels: Readonly<Record<string, string>> = {}): boolean {
  return Object.entries(pool.nodeSelector ?? {}).every(([k, v]) => labels[k] === v);
}

/** Number of blocks the pool splits into. */
export function poolBlockCount(pool: IpPool): bigint {
  return Cidr.parse(pool.cidr).subnetCount(pool.blockSize);
}
