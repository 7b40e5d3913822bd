// Result types shared by every IPAM front end (node-local LocalIpam, cluster-wide ClusterIpam) so the
// CLI can print and feed back (`releaseReport(report)`) the output of either one.
import { ipToValue } from '@netboot/core/ip';

/** The CNI identity of one pod interface: what an IP is reserved for. */
export interface Attachment {
  containerId: string;
  ifname: string;
}

/** One reserved IP and what holds it; `pool`, `block`, `node` are set by the cluster IPAM. */
export interface Reservation {
  ip: string;
  containerId: string;
  ifname: string;
  pool?: string;
  block?: string;
  node?: string;
}

/**
 * What a release, a GC or acting on a report did: the reservations it released, and what it left for a
 * human — entries that do not parse (with their block and node where known), problems it may not fix.
 */
export interface ReleaseResult {
  released: Reservation[];
  skipped: Problem[];
}

export type ProblemKind = 'outside-pools' | 'duplicate-ip' | 'orphan-block' | 'invalid-attachment' | 'corrupt-entry';

/** One inconsistency found by `check`; `detail` is a sentence for a human. */
export interface Problem {
  kind: ProblemKind;
  ip?: string;
  block?: string;
  node?: string;
  containerId?: string;
  ifname?: string;
  detail: string;
}

/** Output of `check`, in the shape `releaseReport(report)` accepts (like `calicoctl ipam check -o report`). */
export interface CheckReport {
  problems: Problem[];
}

export interface BlockUsage {
  cidr: string;
  node: string;
  size: number;
  allocated: number;
  free: number;
}

export interface PoolUsage {
  /** Set by the cluster IPAM; node-local usage reports ranges without names. */
  name?: string;
  cidr: string;
  size: number;
  allocated: number;
  free: number;
  blocks: BlockUsage[];
}

/** Counts of usable addresses (network, gateway and broadcast excluded), like `calicoctl ipam show`. */
export interface Usage {
  pools: PoolUsage[];
  /** Entries that could not be read and are not counted (`check` reports them too). */
  skipped: Problem[];
}

/** Sorts reservations in place by family, then numeric address (`10.0.0.9` before `10.0.0.10`). */
export function sortByAddress(list: Reservation[]): Reservation[] {
  const keyed = new Map(list.map((r) => [r, ipToValue(r.ip)]));
  return list.sort((a, b) => {
    const [x, y] = [keyed.get(a)!, keyed.get(b)!];
    return x.family - y.family || (x.value < y.value ? -1 : x.value > y.value ? 1 : 0);
  });
}
