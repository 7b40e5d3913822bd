// Pure operations on one node block, like Calico's ipam_block.go: assign and release addresses, affinity,
// free counts, where a new block goes. No I/O: the cluster reader/writer (cluster-store.ts) reads a block,
// applies one of these and writes the result back with a compare-and-swap.
import { createHash } from 'node:crypto';
import { NetbootError } from '@netboot/core/errors';
import { RangeAllocator } from './allocator.js';
import { Cidr } from './cidr.js';
import { poolBlockCount } from './pool.js';
import type { IpPool } from './pool.js';
import type { BlockAllocation, BlockRecord } from './records.js';
import type { Attachment, BlockUsage, Reservation } from './report.js';

/** A block, its owner and its counts (`calicoctl ipam show --show-blocks`). */
export interface BlockInfo extends BlockUsage {
  pool: string;
}

/** An address lies in another node's block and strictAffinity forbids borrowing it. */
export class BlockAffinityError extends NetbootError {
  readonly kind = 'conflict' as const;

  constructor(
    readonly ip: string | undefined,
    readonly block: string,
    readonly owner: string,
    readonly node: string,
  ) {
    super(`${ip ?? 'an address'} is in block ${block} owned by node ${owner}; node ${node} may not use it while strictAffinity is on`);
  }
}

/** A fresh, empty block of `pool` for `node`. */
export function newBlock(cidr: Cidr, pool: string, node: string): BlockRecord {
  return { cidr: cidr.toString(), pool, node, allocations: {}, cursor: null };
}

/** Addresses a block can hand out: network, gateway (the node bridge) and IPv4 broadcast excluded. */
export function blockCapacity(cidr: Cidr): bigint {
  return cidr.lastUsable() - cidr.firstUsable(); // + 1 for the inclusive range, - 1 for the gateway
}

/** Free addresses of a block. */
export function blockFree(block: BlockRecord): bigint {
  return blockCapacity(Cidr.parse(block.cidr)) - BigInt(Object.keys(block.allocations).length);
}

export function blockInfo(block: BlockRecord): BlockInfo {
  const size = Number(blockCapacity(Cidr.parse(block.cidr)));
  const allocated = Object.keys(block.allocations).length;
  return { cidr: block.cidr, pool: block.pool, node: block.node, size, allocated, free: size - allocated };
}

/** Every allocation of a block as Reservations, in offset order. */
export function blockReservations(block: BlockRecord): Reservation[] {
  const cidr = Cidr.parse(block.cidr);
  return Object.entries(block.allocations).map(([offset, a]) => reservationOf(block, cidr.addressAt(BigInt(offset)), a));
}

/** Who holds `ip` in this block, or undefined if it is free (or not in the block). */
export function blockHolder(block: BlockRecord, ip: string): Reservation | undefined {
  const cidr = Cidr.parse(block.cidr);
  const a = cidr.contains(ip) ? block.allocations[cidr.offsetOf(ip).toString()] : undefined;
  return a && reservationOf(block, ip, a);
}

function reservationOf(block: BlockRecord, ip: string, a: BlockAllocation): Reservation {
  return { ip, containerId: a.containerId, ifname: a.ifname, pool: block.pool, block: block.cidr, node: a.node ?? block.node };
}

/**
 * Assigns an address of the block to `attachment` on `node`: `ip` if given (refused if taken, the gateway
 * or outside the block), else the next free one round-robin after the cursor. Using another node's block
 * is borrowing, refused with BlockAffinityError when `strictAffinity` is on. Returns the new block value.
 */
export function assign(
  block: BlockRecord,
  attachment: Attachment,
  node: string,
  opts: { ip?: string; strictAffinity: boolean },
): { block: BlockRecord; reservation: Reservation } {
  const owner: BlockAllocation = { containerId: attachment.containerId, ifname: attachment.ifname };
  if (block.node !== node) {
    if (opts.strictAffinity) throw new BlockAffinityError(opts.ip, block.cidr, block.node, node);
    owner.node = node;
  }
  const allocator = blockAllocator(block);
  const taken = opts.ip === undefined ? allocator.allocate(owner) : allocator.reserve(opts.ip, owner);
  // Both move the cursor to the address taken; the other allocations are unchanged.
  const offset = taken.offset.toString();
  const next = { ...block, allocations: withAllocation(block.allocations, offset, owner), cursor: offset };
  return { block: next, reservation: reservationOf(next, taken.ip, owner) };
}

// The allocations plus one, still in offset order (blockReservations' order, and the stored JSON's). Keys
// below 2^32 − 1 iterate in numeric order by themselves; larger ones (IPv6 blocks) in insertion order, so
// an offset below the last one is placed by a sort. Round-robin appends until it wraps.
function withAllocation(allocations: Readonly<Record<string, BlockAllocation>>, offset: string, owner: BlockAllocation): Record<string, BlockAllocation> {
  const keys = Object.keys(allocations);
  const last = keys[keys.length - 1];
  if (last === undefined || BigInt(last) < BigInt(offset)) return { ...allocations, [offset]: owner };
  const entries: [string, BlockAllocation][] = [...Object.entries(allocations), [offset, owner]];
  return Object.fromEntries(entries.sort(([a], [b]) => (BigInt(a) < BigInt(b) ? -1 : 1)));
}

/** The block without the allocations of `ips` (addresses it does not hold are ignored). */
export function unassign(block: BlockRecord, ips: readonly string[]): BlockRecord {
  const cidr = Cidr.parse(block.cidr);
  const allocations = { ...block.allocations };
  for (const ip of ips) if (cidr.contains(ip)) delete allocations[cidr.offsetOf(ip).toString()];
  return { ...block, allocations };
}

/** The block of `pool` that contains `ip`. */
export function blockOf(pool: IpPool, ip: string): Cidr {
  const cidr = Cidr.parse(pool.cidr);
  const shift = BigInt((cidr.family === 4 ? 32 : 128) - pool.blockSize);
  return cidr.nthSubnet(pool.blockSize, cidr.offsetOf(ip) >> shift);
}

/**
 * A free block of `pool` for `node` given the CIDRs already `claimed` and the node's `own` blocks, or
 * undefined if the pool is full or the node is at maxBlocksPerNode. The search starts at a slot derived
 * from the node name, so a node that leaves and rejoins gets its old block back when it is still free.
 */
export function chooseNewBlock(pool: IpPool, node: string, own: readonly BlockRecord[], claimed: ReadonlySet<string>): BlockRecord | undefined {
  const max = pool.maxBlocksPerNode;
  if (max !== undefined && own.filter((b) => b.pool === pool.name).length >= max) return undefined;
  const count = poolBlockCount(pool);
  const start = BigInt(`0x${createHash('sha256').update(node).digest('hex').slice(0, 16)}`) % count;
  const poolCidr = Cidr.parse(pool.cidr);
  for (let i = 0n; i < count && i <= BigInt(claimed.size); i++) {
    const cidr = poolCidr.nthSubnet(pool.blockSize, (start + i) % count);
    if (!claimed.has(cidr.toString())) return newBlock(cidr, pool.name, node);
  }
  return undefined;
}

// The block's allocator state, restored by offset: every allocation and the cursor; the allocator itself
// keeps network, gateway (the node bridge's address, first usable) and broadcast out.
function blockAllocator(block: BlockRecord): RangeAllocator<BlockAllocation> {
  const cidr = Cidr.parse(block.cidr);
  const allocator = new RangeAllocator<BlockAllocation>({ subnet: cidr });
  for (const [offset, owner] of Object.entries(block.allocations)) allocator.restoreValue(cidr.network + BigInt(offset), owner);
  if (block.cursor !== null) allocator.setLastReservedValue(cidr.network + BigInt(block.cursor));
  return allocator;
}
