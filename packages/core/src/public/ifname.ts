// `@netboot/core/ifname`: the one interface-name check (libcni's and the kernel's rules), for core's
// link APIs and ipam's CNI_IFNAME alike. Pure: loads no FFI.
export { GO_SPACE, IFNAME_MAX_BYTES, ifNameProblem } from '../base/ifname.js';
