// The node lease file as the operator commands need it: the CNI plugin's reading of it (subnets for new
// pods, the MTU) plus the node's other subnets (`disabledSubnets`, in a disabled pool during a pool
// migration), where pods keep their addresses and so reservations are still expected.
import { readFileSync } from 'node:fs';
import { readLease } from '../cni/lease.js';

export interface LeaseView {
  subnets: string[];
  disabledSubnets: string[];
  mtu?: number;
}

/** Reads the lease (errors as the CNI plugin's: missing, malformed, naming the field). */
export function readLeaseView(path: string): LeaseView {
  const lease = readLease(path);
  const raw = JSON.parse(readFileSync(path, 'utf8')) as { disabledSubnets?: unknown };
  const disabledSubnets = Array.isArray(raw.disabledSubnets) ? raw.disabledSubnets.filter((s): s is string => typeof s === 'string') : [];
  return { subnets: lease.subnets, disabledSubnets, ...(lease.mtu !== undefined && { mtu: lease.mtu }) };
}
