// The values the cluster IPAM stores, and their decoders. Every stored value is checked as it is read:
// a value that does not parse as what its key promises is a CorruptEntryError naming the key, never a
// half-trusted object. Readers that scan many entries (gc, usage, check) skip and report such entries
// instead of failing for the whole cluster.
import { NetbootError } from '@netboot/core/errors';
import { Cidr } from './cidr.js';
import { definePool } from './pool.js';
import type { IpPool, IpPoolSpec } from './pool.js';
import type { Attachment, Problem } from './report.js';
import type { KvEntry } from './store/kv.js';

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

/** A decoded value and the revision it was read at: what a compare-and-swap write is guarded by. */
export interface Stored<T> {
  value: T;
  revision: bigint;
}

/** A stored value that does not parse as what its key promises; a human must look at it. */
export class CorruptEntryError extends NetbootError {
  readonly kind = 'internal' as const;

  constructor(
    readonly key: string,
    readonly reason: string,
  ) {
    super(`corrupt IPAM entry ${key}: ${reason}`);
  }
}

/** The `corrupt-entry` problem for an entry that did not decode; `where` names its block and node when known. */
export function corruptProblem(err: CorruptEntryError, where: { block?: string; node?: string } = {}): Problem {
  return { kind: 'corrupt-entry', ...where, detail: err.message };
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

/** Parses and checks a block value; every offset must lie inside the block and off its gateway. */
export function decodeBlock(entry: KvEntry): Stored<BlockRecord> {
  const { key } = entry;
  const raw = parseJson(key, entry.value);
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
  const value = { cidr: raw.cidr, pool: raw.pool, node: raw.node, allocations: raw.allocations as Record<string, BlockAllocation>, cursor };
  return { value, revision: entry.revision };
}

export function decodeHandle(entry: KvEntry): HandleRecord {
  const raw = parseJson(entry.key, entry.value);
  if (!isRecord(raw) || !Array.isArray(raw.ips) || !raw.ips.every((e) => isRecord(e) && typeof e.ip === 'string' && typeof e.block === 'string')) {
    throw new CorruptEntryError(entry.key, 'expected {ips: [{ip, block}]}');
  }
  return raw as unknown as HandleRecord;
}

export function decodePool(entry: KvEntry): Stored<IpPool> {
  try {
    return { value: definePool(parseJson(entry.key, entry.value) as IpPoolSpec), revision: entry.revision };
  } catch (err) {
    throw err instanceof CorruptEntryError ? err : new CorruptEntryError(entry.key, (err as Error).message);
  }
}

/** The labels stored by `setNode`. */
export function decodeNodeLabels(entry: KvEntry): Record<string, string> {
  const raw = parseJson(entry.key, entry.value);
  const labels = isRecord(raw) ? (raw.labels ?? {}) : undefined;
  if (!isRecord(labels) || Object.values(labels).some((v) => typeof v !== 'string')) {
    throw new CorruptEntryError(entry.key, 'expected {labels: {<name>: <string>}}');
  }
  return labels as Record<string, string>;
}
