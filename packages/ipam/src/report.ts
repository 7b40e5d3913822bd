// Result types shared by every IPAM front end (node-local LocalIpam, cluster-wide ClusterIpam) so the
// CLI can print and feed back (`release(report)`) the output of either one.

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

/** What a garbage collection released. */
export interface GcResult {
  released: Reservation[];
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

/** Output of `check`, in the shape `release(report)` accepts (like `calicoctl ipam check -o report`). */
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
}
