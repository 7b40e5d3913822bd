// Node records as the datastores store them: checked on the way in, so a peer's bad entry becomes one
// logged refusal instead of a broken pass (`decodeRecord`), and incomplete ones are never routed.
import { networkOf, normalizeIp, parseMac } from '@netboot/core/ip';
import { Cidr } from '@netboot/ipam';
import { DatastoreRecordError, type NodeHealth, type NodeLease, type NodeRecord, type PeerEvent, type PoolState } from './types.js';

/** A record with what routing needs: at least one node IP and one pod CIDR. */
export function complete(record: NodeRecord): boolean {
  return record.nodeIPs.length > 0 && record.podCIDRs.length > 0;
}

/** `upsert` for a complete record, `remove` for one that cannot be routed yet. */
export function eventFor(record: NodeRecord): PeerEvent {
  return complete(record) ? { type: 'upsert', peer: record } : { type: 'remove', name: record.name };
}

/**
 * Checks and normalises a record read from `where` (a key, a file, a Node): canonical IPs, CIDRs
 * without host bits, a valid MAC. Throws DatastoreRecordError naming `where` and the field.
 */
export function checkRecord(raw: unknown, where: string): NodeRecord {
  const bad = (why: string) => new DatastoreRecordError(`node record ${where}: ${why}`);
  if (typeof raw !== 'object' || raw === null) throw bad('not an object');
  const r = raw as Record<string, unknown>;
  if (typeof r.name !== 'string' || r.name === '') throw bad('name must be a non-empty string');
  const list = (field: string, check: (s: string) => string): string[] => {
    const v = r[field] ?? [];
    if (!Array.isArray(v)) throw bad(`${field} must be a list`);
    return v.map((s, i) => {
      try {
        return check(String(s));
      } catch {
        throw bad(`${field}[${i}] ${JSON.stringify(s)} is not valid`);
      }
    });
  };
  const record: NodeRecord = {
    name: r.name,
    nodeIPs: list('nodeIPs', normalizeIp),
    podCIDRs: list('podCIDRs', (s) => {
      const net = networkOf(s);
      if (net.split('/')[0] !== normalizeIp(s.split('/')[0]!)) throw new Error('host bits set');
      return net;
    }),
  };
  if (r.vtepMac !== undefined) {
    if (typeof r.vtepMac !== 'string') throw bad('vtepMac must be a string');
    try {
      parseMac(r.vtepMac);
    } catch {
      throw bad(`vtepMac ${JSON.stringify(r.vtepMac)} is not a MAC address`);
    }
    record.vtepMac = r.vtepMac.toLowerCase();
  }
  if (r.mode !== undefined) {
    if (typeof r.mode !== 'string') throw bad('mode must be a string');
    record.mode = r.mode;
  }
  const health = checkHealth(r.health);
  if (health !== undefined) record.health = health;
  return record;
}

/**
 * A record's health summary, or undefined when absent or malformed: it is advisory (`netboot status`),
 * so a bad one is dropped rather than making the node's record, and its routes, invalid.
 */
function checkHealth(raw: unknown): NodeHealth | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const h = raw as Record<string, unknown>;
  if (typeof h.ready !== 'boolean') return undefined;
  const health: NodeHealth = { ready: h.ready };
  if (typeof h.reconciledAt === 'string' && !Number.isNaN(Date.parse(h.reconciledAt))) health.reconciledAt = h.reconciledAt;
  if (typeof h.errors === 'number' && Number.isInteger(h.errors) && h.errors >= 0) health.errors = h.errors;
  if (typeof h.waitingFor === 'string') health.waitingFor = h.waitingFor;
  return health;
}

/** A node's lease from its subnets and the cluster's pools: a subnet inside a disabled pool is disabled. */
export function leaseFor(podCIDRs: readonly string[], pools?: readonly PoolState[]): NodeLease {
  const off = (pools ?? []).filter((p) => p.disabled).map((p) => Cidr.parse(p.cidr));
  return {
    podCIDRs: [...podCIDRs],
    disabled: podCIDRs.filter((s) => off.some((p) => p.contains(Cidr.parse(s)))),
    ...(pools !== undefined && { pools: [...pools] }),
  };
}

/** Checks a list of pools read from `where` (`[{cidr, disabled?, natOutgoing?}]`; natOutgoing defaults to true, as ClusterIpam's). */
export function checkPools(raw: unknown, where: string): PoolState[] {
  const bad = (why: string) => new DatastoreRecordError(`pools in ${where}: ${why}`);
  if (!Array.isArray(raw)) throw bad('must be a list of {"cidr", "disabled"?, "natOutgoing"?}');
  return raw.map((p: unknown, i) => {
    const r = (typeof p === 'object' && p !== null ? p : {}) as Record<string, unknown>;
    let cidr: string;
    try {
      cidr = Cidr.parse(String(r.cidr)).toString();
    } catch {
      throw bad(`[${i}].cidr ${JSON.stringify(r.cidr)} is not a CIDR`);
    }
    for (const flag of ['disabled', 'natOutgoing'])
      if (r[flag] !== undefined && typeof r[flag] !== 'boolean') throw bad(`[${i}].${flag} must be true or false`);
    return { cidr, disabled: r.disabled === true, natOutgoing: r.natOutgoing !== false };
  });
}
