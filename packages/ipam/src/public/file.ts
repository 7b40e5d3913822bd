// `@netboot/ipam/file`: the host-local-compatible file store and node-local IPAM on it. The one ipam
// entry that loads the FFI (for flock), so the rest of @netboot/ipam stays pure.
export * from '../store/file.js';
export * from '../local.js';
