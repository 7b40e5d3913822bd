// @netboot/core's public surface: everything a user imports from '@netboot/core', named one by one so
// that a change to it is deliberate (test/exports.test.ts pins the list). Pure pieces have subpaths
// of their own that load no FFI: `@netboot/core/ip` (address math) and `@netboot/core/errors` (the
// error kinds); `@netboot/core/flock` and `@netboot/core/testing` carry the rest. Kernel constants
// (RTM_*, IFLA_*, RTPROT_*, …) are grouped under `constants` so they never clash with the API's names.

// Namespaces and sysctls
export {
  AsyncInNetnsError,
  createNetns,
  currentNetns,
  deleteNetns,
  InvalidNetnsNameError,
  listNetns,
  NETNS_RUN_DIR,
  type Netns,
  NetnsExistsError,
  NetnsNotFoundError,
  type NetnsRef,
  NotANetnsError,
  openNetns,
  runIn,
  sameNetns,
  validateNetnsName,
} from './netns.js';
export { SysctlError, sysctlGet, type SysctlOptions, sysctlSet } from './sysctl.js';

// The facade that puts the four object APIs on one socket in one namespace
export { openSocket, Rtnl, type RtnlOpenOptions } from './rtnl.js';

// Links
export {
  type BridgeSpec,
  decodeLink,
  ensureLink,
  InvalidLinkSpecError,
  type Link,
  LinkApi,
  type LinkKind,
  LinkNotFoundError,
  type LinkPatch,
  type LinkRef,
  type LinkSpec,
  type MacvlanMode,
  type MacvlanSpec,
  validateIfName,
  type VethPeerSpec,
  type VethSpec,
  type VxlanSpec,
} from './link.js';

// Addresses
export { AddrApi, type AddrOptions, type AddrScope, AddrSpecError, type Address, decodeAddress, ensureAddr } from './addr.js';

// Routes
export {
  decodeRoute,
  isRoute,
  type Nexthop,
  type Route,
  RouteApi,
  routeDstAt,
  type RouteFilter,
  type RouteGetOptions,
  type RouteScope,
  type RouteSpec,
  RouteSpecError,
  type RouteType,
} from './route.js';

// Nexthop objects (`ip nexthop …`), which routes name with `nhid`
export {
  decodeNexthop,
  isNexthop,
  NexthopApi,
  nexthopIdAt,
  type NexthopFilter,
  type NexthopObject,
  type NexthopObjectSpec,
  NexthopSpecError,
} from './nexthop.js';

// nf_tables set elements without running nft (`nft add element …`)
export { Nft, type NftElement, NftElementError, type NftFamily, type NftOpenOptions, type NftSetChange, type NftSetRef, setElementRequests } from './nft.js';

// Neighbours and bridge FDB entries
export {
  decodeNeigh,
  isNeigh,
  type Neigh,
  NeighApi,
  neighAt,
  type NeighFamily,
  type NeighFilter,
  type NeighSpec,
  NeighSpecError,
  type NeighState,
} from './neigh.js';

// Change events (`ip monitor`)
export { type MonitorEvent, type MonitorGroup, monitor, type NetnsMonitorOptions, RawEvent } from './monitor.js';

// The protocol layer, for messages the typed APIs do not cover, and the seam the APIs talk through
export { NetlinkSocket, type OpenOptions, type Request, type Transport } from './netlink/socket.js';
// Who is at the other end of a unix socket (netboot's CNI server checks its plugin's namespaces)
export { peerPid } from './ffi/libc.js';
export { DumpCache } from './netlink/dump-cache.js';
export { type Attrs, type AttrValue, decodeMessages, encodeMessage, type NlMessage } from './netlink/codec.js';
export * as constants from './netlink/generated/index.js';

// Errors. Every one is a NetbootError with a `kind`; the base and the IP module's error are repeated
// here from `@netboot/core/errors` and `@netboot/core/ip` so callers of these APIs can catch them.
export { type ErrorKind, errorKind, InvalidInputError, NetbootError, UnsupportedPlatformError } from './base/errors.js';
export { InvalidAddressError, type IpFamily } from './base/ip.js';
export { SpecError, SyscallError } from './errors.js';
export {
  type DecodeContext,
  DumpInterruptedError,
  isBusy,
  isExist,
  isNotFound,
  NetlinkDecodeError,
  NetlinkEncodeError,
  NetlinkError,
  NetlinkOptionsError,
  NetlinkSchemaError,
  NetlinkTimeoutError,
  SocketClosedError,
} from './netlink/errors.js';
