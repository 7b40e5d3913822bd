// @netboot/ipam: IP address management, pure TypeScript — it loads neither core's FFI nor the etcd
// client, so a planner, a kubeadm-config generator or a test on a laptop can use it. The node-local file
// store and LocalIpam are `@netboot/ipam/file` (flock loads the FFI); the etcd store is
// `@netboot/ipam/etcd` (gRPC costs tens of milliseconds to load). Every export is named here on purpose:
// test/exports.test.ts pins the list, so a change to the surface is a deliberate one.

// ---- Pod IPAM: the seam the CNI plugin and the node agent depend on (implemented by LocalIpam and
// ClusterIpam.forNode), and the result types every implementation shares.
export type { PodAddress, PodAllocateOptions, PodIpam, ReservationFilter } from './pod-ipam.js';
export type { Attachment, BlockUsage, CheckReport, PoolUsage, Problem, ProblemKind, ReleaseResult, Reservation, Usage } from './report.js';

// ---- Cluster-wide IPAM over a compare-and-swap key-value store: pools, node blocks, pod IPs, GC and
// checks (Calico IPAM plus `calicoctl ipam` / `calicoctl ippool`).
export { BlockInUseError, ClusterIpam, IpExhaustedError } from './cluster.js';
export type { AllocateOptions, ClaimOptions, ClusterIpamOptions, ForNodeOptions, NodeOptions } from './cluster.js';
export type { CheckOptions } from './check.js';
export { BlockAffinityError, type BlockInfo } from './block.js';
export { CorruptEntryError } from './records.js';

// ---- IP pools: definitions, defaults and checks, usable offline (e.g. to validate a pool before a cluster exists).
export {
  BLOCK_SIZE_RANGE,
  checkPoolFits,
  DEFAULT_BLOCK_SIZE,
  definePool,
  type IpPool,
  type IpPoolPatch,
  type IpPoolSpec,
  PoolExistsError,
  PoolInUseError,
  PoolNotFoundError,
  PoolOverlapError,
  poolBlockCount,
  ROUTING_MODES,
  ServiceCidrOverlapError,
  type RoutingMode,
} from './pool.js';

// ---- Key-value stores: the seam ClusterIpam writes through, and the in-process one (etcd's is `/etcd`).
export { KvConflictError, type KvEntry, type KvOp, type KvRead, type KvStore, KvUnavailableError, MAX_READS_PER_TXN, readInTransactions } from './store/kv.js';
export { MemoryKv, MemoryKvClosedError } from './store/memory.js';

// ---- Address math and ranges. The parsers and formatters themselves are `@netboot/core/ip`; every bad
// address, CIDR or MAC ipam refuses is its InvalidAddressError.
export { Cidr, parseCidrList } from './cidr.js';
export { InvalidAddressError } from '@netboot/core/ip';
export { type Allocation, InvalidRangeError, IpInUseError, RangeAllocator, RangeExhaustedError, type RangeSpec } from './allocator.js';

// ---- CNI input rules (libcni's): what may become a file name or a key segment.
export {
  InvalidArgumentError,
  validateAttachment,
  validateContainerId,
  validateIfname,
  validateNetworkName,
  validateNodeName,
} from './validate.js';
