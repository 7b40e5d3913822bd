// The node lease file the CNI plugin reads (`/run/netboot/subnet.json`; see ../cni/lease.ts): `subnets`
// are where new pods get their addresses — one per family, in an enabled pool — with each one's gateway
// (the bridge address, first usable); `disabledSubnets` are the node's other subnets (in a disabled
// pool, during a pool migration), where pods keep their addresses but new ones get none; then the pod
// MTU for the routing mode and the cluster's CIDRs. A plugin that knows only `subnets` does the right
// thing. Written atomically, so the plugin never reads half a file; rewritten only when it changes.
import { readFileSync, rmSync } from 'node:fs';
import { Cidr } from '@netboot/ipam';
import type { NodeLease } from '../datastore/index.js';
import { writeFileAtomic } from '../datastore/atomic.js';

export interface NodeLeaseFile {
  subnets: string[];
  gateways: string[];
  /** Present only when the node has such subnets. */
  disabledSubnets?: string[];
  mtu: number;
  clusterCIDRs: string[];
}

export function leaseOf(lease: NodeLease, mtu: number, clusterCIDRs: readonly string[]): NodeLeaseFile {
  const family = (s: string) => Cidr.parse(s).family;
  const open = lease.podCIDRs.filter((s) => !lease.disabled.includes(s));
  // The first open subnet of each family (the datastore lists the one to use first).
  const subnets = open.filter((s, i) => open.findIndex((o) => family(o) === family(s)) === i);
  const closed = lease.podCIDRs.filter((s) => !subnets.includes(s));
  return {
    subnets,
    gateways: subnets.map((s) => Cidr.parse(s).addressAt(1n)),
    ...(closed.length > 0 && { disabledSubnets: closed }),
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
