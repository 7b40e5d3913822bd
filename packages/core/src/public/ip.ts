// `@netboot/core/ip`: address text ↔ bytes ↔ values for IPv4, IPv6, MACs and CIDRs. Pure: loads no FFI.
// The buffer-offset readers/writers and the allocation-free IPv4 scanners stay internal to core.
export {
  // Families
  AF_INET,
  AF_INET6,
  afOf,
  bitsOf,
  familyOf,
  familyOfAf,
  type IpFamily,
  // Addresses: canonical text, bytes, integer values
  parseIp,
  normalizeIp,
  ipToBytes,
  bytesToIp,
  ipToValue,
  valueToIp,
  type ParsedIp,
  type IpValue,
  // Prefixes
  parsePrefix,
  formatPrefix,
  networkOf,
  broadcastOf,
  type ParsedPrefix,
  // MAC addresses
  parseMac,
  macToBytes,
  bytesToMac,
  // Bad input
  InvalidAddressError,
} from '../base/ip.js';
