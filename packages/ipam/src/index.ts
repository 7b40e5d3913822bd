// @netboot/ipam public API.
export * from './cidr.js';
// Every bad address, CIDR or MAC that ipam refuses; the parsers themselves are @netboot/core/ip.
export { InvalidAddressError } from '@netboot/core/ip';
export * from './validate.js';
export * from './report.js';
export * from './allocator.js';
export * from './pool.js';
export * from './pod-ipam.js';
export { BlockAffinityError, type BlockInfo } from './block.js';
export { CorruptEntryError } from './records.js';
export * from './cluster.js';
export * from './store/kv.js';
export * from './store/memory.js';
