// The node lease file the CNI plugin reads (`/run/netboot/subnet.json`; see ../cni/lease.ts, which
// reads `subnets` and `mtu` and ignores the rest): this node's pod subnets, each subnet's gateway (the
// bridge address, first usable), the pod MTU for the routing mode, and the cluster's CIDRs. Written
// atomically, so the plugin never reads half a file; rewritten only when it changes.
import { readFileSync, rmSync } from 'node:fs';
import { Cidr } from '@netboot/ipam';
import { writeFileAtomic } from '../datastore/atomic.js';

export interface NodeLeaseFile {
  subnets: string[];
  gateways: string[];
  mtu: number;
  clusterCIDRs: string[];
}

export function leaseOf(subnets: readonly string[], mtu: number, clusterCIDRs: readonly string[]): NodeLeaseFile {
  return {
    subnets: [...subnets],
    gateways: subnets.map((s) => Cidr.parse(s).addressAt(1n)),
    mtu,
    clusterCIDRs: [...clusterCIDRs],
  };
}

/** Writes the lease unless the file already says exactly this; true when it wrote. */
export function writeLeaseFile(path: string, lease: NodeLeaseFile): boolean {
  const text = `${JSON.stringify(lease)}\n`;
  try {
    if (readFileSync(path, 'utf8') === text) return false;
  } catch {}
  writeFileAtomic(path, text);
  return true;
}

export function removeLeaseFile(path: string): void {
  rmSync(path, { force: true });
}
