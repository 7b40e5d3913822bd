// What `netboot doctor` gathers about a node (gather.ts) and judges (judge.ts): plain data, so the
// judging is tested without a kernel, files or a cluster. A part that could not be gathered carries
// the reason instead, and its checks say they were skipped and why.
import type { Link, Neigh, NexthopObject, Route } from '@netboot/core';
import type { DesiredState, LocalNode } from '@netboot/routes';
import type { NodeRecord } from '../../datastore/types.js';
import type { CachedAttachment } from '../cni-cache.js';
import type { AgentHealth } from '../health.js';

/** One file of the CNI conf dir, as a runtime reads it. */
export interface ConfFile {
  file: string;
  /** The network name, the plugin types in chain order, and netboot's settings when it is netboot's. */
  name?: string;
  types: string[];
  cniVersion?: string;
  /** `ipam.ranges` subnets, `mtu` and `bridge` of the netboot plugin entry. */
  ranges?: string[];
  mtu?: number;
  bridge?: string;
  /** Where the plugin keeps reservations and reads the lease, when the conflist says (`ipam.dataDir`, `ipam.leaseFile`). */
  dataDir?: string;
  leaseFile?: string;
  /** Why it does not parse (a runtime skips or fails on it). */
  error?: string;
}

export interface CniFacts {
  binDir: string;
  confDir: string;
  /** Every .conf/.conflist/.json in confDir, in the order libcni loads them (by file name). */
  files: ConfFile[];
  /** Plugin executables looked for in binDir (netboot's and its chain's): true when present and executable. */
  binaries: Record<string, boolean>;
  /** sha256 of the installed netboot binary and of the one `--from` names, when given. */
  installedSha256?: string;
  expectedSha256?: { path: string; sha256: string };
}

export interface LeaseFacts {
  path: string;
  /** Where new pods get addresses, and the node's subnets in disabled pools (pods keep theirs). */
  subnets?: string[];
  disabledSubnets?: string[];
  mtu?: number;
  /** Missing or malformed: why. */
  error?: string;
}

/** The cluster's pod network as each party records it. */
export interface ClusterFacts {
  datastore: string;
  /** This node's record and the other complete ones; `error` when the datastore could not be read. */
  node: string;
  record?: NodeRecord;
  peers: NodeRecord[];
  error?: string;
  /** kubeadm's networking.podSubnet (comma-separated list split) and where it was read. */
  podSubnet?: { cidrs: string[]; source: string };
  podSubnetError?: string;
  /** This node's Node.spec.podCIDRs (a kubeconfig worked). */
  nodePodCIDRs?: string[];
  /** The etcd datastore's pools. */
  pools?: { name: string; cidr: string; disabled: boolean }[];
}

export interface KernelFacts {
  /** The namespace judged (`--netns`), or the caller's. */
  netns?: string;
  links: Link[];
  routes: Route[];
  neighbours: Neigh[];
  fdb: Neigh[];
  nexthops: NexthopObject[];
  /** ip_forward and friends: value, or undefined when unreadable. */
  sysctls: Record<string, string | undefined>;
  /** This node as routes sees it (uplinks, MTUs), the mode's wanted state and pod MTU; or why not. */
  node?: LocalNode;
  mode?: string;
  desired?: DesiredState;
  podMtu?: number;
  nodeError?: string;
}

export interface LeakFacts {
  dataDir: string;
  reservations?: { ip: string; containerId: string; ifname: string }[];
  /** libcni's cache entries of the network; undefined when there is no cache to tell live pods by. */
  cache?: CachedAttachment[];
  error?: string;
}

export interface DoctorFacts {
  cni: CniFacts;
  lease: LeaseFacts;
  cluster: ClusterFacts;
  kernel: KernelFacts;
  leaks: LeakFacts;
  /** The local agent's /readyz and /metrics; undefined when not asked. */
  agent?: AgentHealth;
}
