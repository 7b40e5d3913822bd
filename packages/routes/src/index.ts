// @netboot/routes public API: peers in, owned kernel state out.

// What routing works on
export type {
  Kernel,
  Peer,
  LocalNode,
  UnderlayAddress,
  DesiredState,
  PeerState,
  DesiredRoute,
  DesiredNeigh,
  DesiredFdb,
  DesiredNexthop,
  Ipv4Parsed,
  DeviceSpec,
  IpipSpec,
  Refusal,
} from './types.js';
export { vtepMac, checkPeer, type CheckedPeer, type PodCidr } from './peer.js';

// Routing modes
export type { Mode, ModeName } from './mode.js';
export { hostGw } from './modes/host-gw.js';
export { vxlan, vxlanOverhead, VXLAN_DEFAULTS, type VxlanOptions } from './modes/vxlan.js';
export { crossSubnet, type CrossSubnetOptions } from './modes/cross-subnet.js';
export { ipip, type IpipOptions } from './modes/ipip.js';

// The pure diff
export {
  diff,
  applyPlan,
  planSize,
  NETBOOT_PROTOCOL,
  type Plan,
  type Conflict,
  type CurrentState,
  type Ownership,
  type RouteChange,
  type NeighChange,
  type NexthopChange,
} from './diff.js';
export { NEXTHOP_IDS, NEXTHOP_PEERS } from './nexthops.js';

// Errors
export { InvalidPeerError, UnreachablePeerError, ModeUnavailableError, AlreadyRunningError } from './errors.js';

// The kernel side: the local node, the device, reconcile
export { discoverNode } from './node.js';
export { ensureDevice, type DeviceReport } from './device.js';
export { reconcile, Reconciler, type ReconcileOptions, type Report } from './reconcile.js';
export type { Failure } from './apply.js';

// The loop
export { Network, type NetworkOptions } from './network.js';
