// `@netboot/core/ip`: address text ↔ bytes ↔ values for IPv4, IPv6, MACs and CIDRs. Pure: loads no FFI.
export * from '../ip.js';
