// @netboot/core's public surface: everything a user imports from '@netboot/core'.
// Kernel constants (RTM_*, IFLA_*, RTPROT_*, …) are grouped under `constants` so they never clash
// with the API's own names; `flock` and LOCK_* are here because @netboot/ipam's file store needs a
// real flock(2) and koffi stays inside core.

// Namespaces and sysctls
export * from './netns.js';
export * from './sysctl.js';

// Addresses, links, routes, neighbours, and the facade that puts them on one socket
export * from './public/ip.js'; // the curated list lives there, shared with @netboot/core/ip
export * from './link.js';
export * from './addr.js';
export * from './route.js';
export * from './neigh.js';
export * from './rtnl.js';

// The protocol layer, for messages the typed APIs do not cover
export { NetlinkSocket, type OpenOptions, type Request, type Transport } from './netlink/socket.js';
export { encodeMessage, decodeMessages, type Attrs, type AttrValue, type NlMessage } from './netlink/codec.js';
export * from './netlink/errors.js';
export * from './monitor.js';
export * as constants from './netlink/generated/index.js';

// Errors below netlink, and file locking for @netboot/ipam
export { SpecError, SyscallError, errnoName } from './errors.js';
export { flock } from './ffi/libc.js';
export { LOCK_EX, LOCK_NB, LOCK_SH, LOCK_UN } from './ffi/generated.js';
