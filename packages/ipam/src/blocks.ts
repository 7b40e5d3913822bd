// Node blocks and the KV key layout of the cluster IPAM. A block is one /blockSize slice of a pool owned by
// one node; its allocations and round-robin cursor live in its own KV value so that allocating a pod IP is a
// single CAS on that block (plus creating the attachment's handle).
import { RangeAllocator } from './allocator.js';
import { Cidr } from './cidr.js';
import type { Attachment, Reservation } from './report.js';

/** One allocated address inside a block; `node` is set when another node borrowed it (strictAffinity off). */
export interface BlockAllocation extends Attachment {
  node?: string;
}

/** The JSON stored at `<prefix>/blocks/<cidr with / as _>`. */
export interface BlockRecord {
  cidr: string;
  pool: string;
  node: string;
  /** Keyed by the decimal offset of the address from the block's network address. */
  allocations: Record<string, BlockAllocation>;
  /** Offset of the last address handed out (round-robin resumes after it); null before the first. */
  cursor: string | null;
}

/** The JSON stored at `<prefix>/handles/<containerId>/<ifname>`: the IPs (one per family) of one attachment. */
export interface HandleRecord {
  ips: { ip: string; block: string }[];
}

/** A stored value that does not parse as what its key promises. */
export class CorruptEntryError extends Error {
  constructor(readonly key: string, reason: string) {
    super(`corrupt IPAM entry ${key}: ${reason}`);
    this.name = 'CorruptEntryError';
  }
}

/** Builds and parses the KV keys; one place so README, CLI and code agree. */
export class IpamKeys {
  constructor(readonly prefix = '/netboot/ipam') {}

  get pools(): string {
    return `${this.prefix}/pools/`;
  }
  pool(name: string): string {
    return `${this.pools}${name}`;
  }
  /** Bumped by every pool create/update/delete so two concurrent pool creations cannot both pass the overlap check. */
  get poolSet(): string {
    return `${this.prefix}/poolset`;
  }
  get blocks(): string {
    return `${this.prefix}/blocks/`;
  }
  block(cidr: string): string {
    return `${this.blocks}${cidr.replace('/', '_')}`;
  }
  get affinities(): string {
    return `${this.prefix}/affinities/`;
  }
  /** Small index entry (value: pool name) so a node's blocks are found without reading every block. */
  affinity(node: string, cidr: string): string {
    return `${this.affinities}${node}/${cidr.replace('/', '_')}`;
  }
  nodeAffinities(node: string): string {
    return `${this.affinities}${node}/`;
  }
  /** `{ node, cidr }` of an affinity key, or undefined if the key is not one. */
  parseAffinity(key: string): { node: string; cidr: string } | undefined {
    const rest = key.startsWith(this.affinities) ? key.slice(this.affinities.length) : undefined;
    const m = rest === undefined ? null : /^([^/]+)\/([^/]+)_(\d+)$/.exec(rest);
    return m ? { node: m[1]!, cidr: `${m[2]}/${m[3]}` } : undefined;
  }
  get handles(): string {
    return `${this.prefix}/handles/`;
  }
  handle(a: Attachment): string {
    return `${this.handles}${a.containerId}/${a.ifname}`;
  }
}

function parseJson(key: string, value: string): unknown {
  try {
    return JSON.parse(value);
  } catch (err) {
    throw new CorruptEntryError(key, `not JSON (${err instanceof Error ? err.message : String(err)})`);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses and checks a block value; every offset must lie inside the block. */
export function decodeBlock(key: string, value: string): BlockRecord {
  const raw = parseJson(key, value);
  if (!isRecord(raw) || typeof raw.cidr !== 'string' || typeof raw.pool !== 'string' || typeof raw.node !== 'string' || !isRecord(raw.allocations)) {
    throw new CorruptEntryError(key, 'expected {cidr, pool, node, allocations, cursor}');
  }
  let cidr: Cidr;
  try {
    cidr = Cidr.parse(raw.cidr);
  } catch (err) {
    throw new CorruptEntryError(key, (err as Error).message);
  }
  const [first, last] = [cidr.firstUsable() - cidr.network, cidr.lastUsable() - cidr.network];
  const gateway = cidr.gateway() - cidr.network;
  for (const [offset, a] of Object.entries(raw.allocations)) {
    const n = /^\d+$/.test(offset) ? BigInt(offset) : -1n;
    // Network, gateway and broadcast are never allocated: such an entry was written by something else.
    if (n < first || n > last || n === gateway || !isRecord(a) || typeof a.containerId !== 'string' || typeof a.ifname !== 'string') {
      throw new CorruptEntryError(key, `bad allocation at offset ${offset}`);
    }
  }
  const cursor = typeof raw.cursor === 'string' && /^\d+$/.test(raw.cursor) ? raw.cursor : null;
  return { cidr: raw.cidr, pool: raw.pool, node: raw.node, allocations: raw.allocations as Record<string, BlockAllocation>, cursor };
}

export function decodeHandle(key: string, value: string): HandleRecord {
  const raw = parseJson(key, value);
  if (!isRecord(raw) || !Array.isArray(raw.ips) || !raw.ips.every((e) => isRecord(e) && typeof e.ip === 'string' && typeof e.block === 'string')) {
    throw new CorruptEntryError(key, 'expected {ips: [{ip, block}]}');
  }
  return raw as unknown as HandleRecord;
}

/** A fresh, empty block of `pool` for `node`. */
export function newBlock(cidr: Cidr, pool: string, node: string): BlockRecord {
  return { cidr: cidr.toString(), pool, node, allocations: {}, cursor: null };
}

/**
 * The block's allocator state: every allocation restored, the cursor set, the gateway (the node bridge's
 * address, first usable) excluded, so network, gateway and broadcast are never handed out.
 */
export function blockAllocator(block: BlockRecord): RangeAllocator<BlockAllocation> {
  const cidr = Cidr.parse(block.cidr);
  const allocator = new RangeAllocator<BlockAllocation>({ subnet: cidr });
  for (const [offset, owner] of Object.entries(block.allocations)) allocator.restore(cidr.addressAt(BigInt(offset)), owner);
  if (block.cursor !== null) allocator.setLastReserved(cidr.addressAt(BigInt(block.cursor)));
  return allocator;
}

/** Addresses a block can hand out: network, gateway (the node bridge) and IPv4 broadcast excluded. */
export function blockCapacity(cidr: Cidr): bigint {
  return cidr.lastUsable() - cidr.firstUsable(); // + 1 for the inclusive range, - 1 for the gateway
}

/** Free addresses of a decoded block, without building its allocator. */
export function blockFree(block: BlockRecord): bigint {
  return blockCapacity(Cidr.parse(block.cidr)) - BigInt(Object.keys(block.allocations).length);
}

/** The block value after the allocator changed: allocations re-keyed by offset, cursor from lastReserved. */
export function blockFromAllocator(block: BlockRecord, allocator: RangeAllocator<BlockAllocation>): BlockRecord {
  const cidr = Cidr.parse(block.cidr);
  const allocations: Record<string, BlockAllocation> = {};
  for (const a of allocator.entries()) allocations[a.offset.toString()] = a.owner!;
  const last = allocator.lastReserved();
  return { ...block, allocations, cursor: last === undefined ? null : cidr.offsetOf(last).toString() };
}

/** Every allocation of a block as Reservations. */
export function blockReservations(block: BlockRecord): Reservation[] {
  const cidr = Cidr.parse(block.cidr);
  return Object.entries(block.allocations).map(([offset, a]) => ({
    ip: cidr.addressAt(BigInt(offset)),
    containerId: a.containerId,
    ifname: a.ifname,
    pool: block.pool,
    block: block.cidr,
    node: a.node ?? block.node,
  }));
}
