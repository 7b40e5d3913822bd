// The node lease file the node agent writes for the plugin (`/run/netboot/subnet.json`): the pod
// subnets new pods get addresses from (one per family) and the pod MTU. With `ipam.type: "netboot"` and
// no `ranges`, the plugin allocates from these subnets, so the conflist needs no per-node edits. During a
// pool migration the node also holds `disabledSubnets` (in a disabled pool): their pods keep their
// addresses (DEL, CHECK and GC work from the store, whatever the subnet), new pods never get one there.
// Example:
//
//   {"subnets": ["10.245.3.0/24", "fd00:10:244:1::/64"], "disabledSubnets": ["10.244.1.0/24"], "mtu": 1450}
import { readFileSync } from 'node:fs';
import { networkOf, parsePrefix } from '@netboot/core/ip';
import { CniCode, CniError } from './errors.js';

export interface NodeLease {
  subnets: string[];
  mtu: number | undefined;
}

/**
 * Reads and checks the lease. A missing file is error 11 (try again later: the agent has not leased a
 * subnet yet); a malformed one is error 7 naming the file and the field.
 */
export function readLease(path: string): NodeLease {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new CniError(CniCode.TryAgainLater, `node lease ${path} does not exist yet: start the netboot agent on this node, or set ipam.ranges`);
    throw new CniError(CniCode.IoFailure, `cannot read node lease ${path}: ${(err as Error).message}`);
  }
  const bad = (why: string) => new CniError(CniCode.InvalidConfig, `node lease ${path}: ${why}`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw bad(`not JSON (${(err as Error).message})`);
  }
  const lease = raw as { subnets?: unknown; disabledSubnets?: unknown; mtu?: unknown };
  if (typeof raw !== 'object' || raw === null || !Array.isArray(lease.subnets)) throw bad('expected {"subnets": ["<cidr>", …], "mtu": <n>}');
  if (lease.subnets.length === 0) {
    // Every subnet of the node is in a disabled pool: the agent is leasing one from an enabled pool.
    if (Array.isArray(lease.disabledSubnets) && lease.disabledSubnets.length > 0)
      throw new CniError(
        CniCode.TryAgainLater,
        `node lease ${path}: every subnet of this node (${lease.disabledSubnets.join(', ')}) is in a disabled pool; the agent has not leased one from an enabled pool yet`,
      );
    throw bad('expected {"subnets": ["<cidr>", …], "mtu": <n>}');
  }
  const subnets = lease.subnets.map((s, i) => {
    try {
      const p = parsePrefix(s as string);
      return networkOf(`${p.address}/${p.prefixLen}`);
    } catch {
      throw bad(`subnets[${i}] ${JSON.stringify(s)} is not a CIDR`);
    }
  });
  if (lease.mtu !== undefined && (typeof lease.mtu !== 'number' || !Number.isInteger(lease.mtu) || lease.mtu < 68))
    throw bad(`mtu ${JSON.stringify(lease.mtu)} is not an MTU`);
  return { subnets, mtu: lease.mtu as number | undefined };
}
