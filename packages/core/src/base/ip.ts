// The one address module of netboot: IPv4, IPv6, MAC addresses and prefixes (CIDRs) as text ↔ bytes ↔
// values, like flannel's pkg/ip or mdlayher's nlenc. Every parser and formatter of addresses in the
// project lives here; the netlink codec, the resource APIs and @netboot/ipam all build on it.
//
// Text forms are what `ip` reads and prints: strict dotted quads (no leading zeros: '010' is octal to
// inet_aton), IPv6 as inet_pton reads it (no zone ids) and as inet_ntop writes it (RFC 5952: lower
// case, the longest run of two or more zero groups as '::', IPv4-mapped and -compatible addresses with
// a dotted tail), MACs as 'aa:bb:cc:dd:ee:ff'.
//
// Leaf module: imports nothing but the error base beside it, not even the generated constants, so
// `@netboot/core/ip` loads no FFI. Pure: no I/O, no state that outlives a call.
import { InvalidInputError } from './errors.js';

export type IpFamily = 4 | 6;

/** Address families as the kernel numbers them (<sys/socket.h>); a test pins them to the generated ones. */
export const AF_INET = 2;
export const AF_INET6 = 10;

/** An address checked and in canonical text. */
export interface ParsedIp {
  family: IpFamily;
  /** Dotted quad, or RFC 5952 IPv6 ('fd00::1', lower case, longest zero run compressed). */
  address: string;
}

/** 'address/length' with the address canonical; host bits are kept ('10.244.1.1/24' is an interface address). */
export interface ParsedPrefix extends ParsedIp {
  prefixLen: number;
}

/** An address as an unsigned integer, for arithmetic (ipam's pools, blocks and offsets). */
export interface IpValue {
  family: IpFamily;
  value: bigint;
}

/** A string (or number) that is not the address, prefix, CIDR or MAC it was meant to be. */
export class InvalidAddressError extends InvalidInputError {
  /** The input as given. */
  readonly input: string;
  /** What it should have been: 'IP address', 'CIDR', 'MAC address', … */
  readonly expected: string;

  constructor(input: unknown, expected: string, reason?: string) {
    const shown = typeof input === 'string' ? JSON.stringify(input) : String(input);
    super(`invalid ${expected} ${shown}${reason === undefined ? '' : `: ${reason}`}`);
    this.input = String(input);
    this.expected = expected;
  }
}

/** 32 or 128. */
export function bitsOf(family: IpFamily): number {
  return family === 4 ? 32 : 128;
}

/** The kernel's AF_* number for a family. */
export function afOf(family: IpFamily): number {
  return family === 4 ? AF_INET : AF_INET6;
}

/** The family for a kernel AF_* number; InvalidAddressError for anything but AF_INET/AF_INET6. */
export function familyOfAf(af: number): IpFamily {
  if (af === AF_INET) return 4;
  if (af === AF_INET6) return 6;
  throw new InvalidAddressError(af, 'address family (AF_INET or AF_INET6)');
}

// =============================================================================================
// The parsers. Everything below reads text through these three.

/**
 * A strict dotted quad in s[start..end) (four decimal octets ≤ 255, no leading zeros) as a number,
 * or -1. Allocation-free: route programming parses two addresses per route, and at 10,000 routes
 * a parser that builds objects shows up in profiles.
 */
export function ipv4Value(s: string, start = 0, end = s.length): number {
  let value = 0;
  let dots = 0;
  let octet = 0;
  let digits = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || ++dots > 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return -1;
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return -1;
    } else {
      return -1;
    }
  }
  return dots === 3 && digits > 0 ? value * 256 + octet : -1;
}

/** Decimal digits s[start..] as a number ≤ max without leading zeros ('024' is refused), or -1. Allocation-free. */
export function decimalValue(s: string, start: number, max: number): number {
  if (start >= s.length || s.length - start > 3 || (s.charCodeAt(start) === 48 && s.length - start > 1)) return -1;
  let n = 0;
  for (let i = start; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    n = n * 10 + (c - 48);
  }
  return n <= max ? n : -1;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const lower = c | 0x20;
  return lower >= 97 && lower <= 102 ? lower - 87 : -1;
}

/**
 * Writes the IPv6 address in s[start..end) as 16 bytes at buf[at], as inet_pton reads it: 1–4 hex
 * digits a group, at most one '::' standing for one or more zero groups, an optional dotted-quad
 * tail. Returns 16, or -1 (buf[at..at+16) may then hold garbage).
 */
function writeIPv6(s: string, start: number, end: number, buf: Uint8Array, at: number): number {
  let groups = 0;
  let gap = -1; // group index where '::' stands
  let i = start;
  if (end - start >= 2 && s.charCodeAt(i) === 58 && s.charCodeAt(i + 1) === 58) {
    gap = 0;
    i += 2;
  }
  while (i < end) {
    if (groups === 8) return -1;
    const groupStart = i;
    let value = 0;
    while (i < end && i - groupStart < 5) {
      const h = hexDigit(s.charCodeAt(i));
      if (h < 0) break;
      value = value * 16 + h;
      i++;
    }
    if (i < end && s.charCodeAt(i) === 46 /* . */) {
      const v4 = groups <= 6 ? ipv4Value(s, groupStart, end) : -1;
      if (v4 < 0) return -1;
      buf[at + 2 * groups] = v4 >>> 24;
      buf[at + 2 * groups + 1] = (v4 >>> 16) & 0xff;
      buf[at + 2 * groups + 2] = (v4 >>> 8) & 0xff;
      buf[at + 2 * groups + 3] = v4 & 0xff;
      groups += 2;
      break;
    }
    const digits = i - groupStart;
    if (digits === 0 || digits > 4) return -1;
    buf[at + 2 * groups] = value >>> 8;
    buf[at + 2 * groups + 1] = value & 0xff;
    groups++;
    if (i === end) break;
    if (s.charCodeAt(i) !== 58 /* : */ || ++i === end) return -1;
    if (s.charCodeAt(i) === 58) {
      if (gap >= 0) return -1;
      gap = groups;
      i++;
    }
  }
  if (gap < 0) return groups === 8 ? 16 : -1;
  if (groups > 7) return -1;
  // Slide the groups after '::' to the end and zero the ones it stands for.
  const tailBytes = 2 * (groups - gap);
  buf.copyWithin(at + 16 - tailBytes, at + 2 * gap, at + 2 * groups);
  buf.fill(0, at + 2 * gap, at + 16 - tailBytes);
  return 16;
}

/**
 * Writes an IPv4 (4 bytes) or IPv6 (16 bytes) address at buf[at]; returns the byte count, or -1 when
 * `s` is neither. IPv4 takes the allocation-free path (the codec writes every RTA_DST/RTA_GATEWAY here).
 */
export function writeIp(s: string, buf: Uint8Array, at: number): number {
  const v4 = ipv4Value(s);
  if (v4 >= 0) {
    buf[at] = v4 >>> 24;
    buf[at + 1] = (v4 >>> 16) & 0xff;
    buf[at + 2] = (v4 >>> 8) & 0xff;
    buf[at + 3] = v4 & 0xff;
    return 4;
  }
  return writeIPv6(s, 0, s.length, buf, at);
}

/**
 * Writes a hardware address 'aa:bb:…' (1–2 hex digits an octet, any number of octets, '' for none, as
 * `ip link set address` reads it) at buf[at]; returns the byte count, or -1 when `s` is not one.
 */
export function writeMac(s: string, buf: Uint8Array, at: number): number {
  if (s === '') return 0;
  let n = 0;
  let octet = 0;
  let digits = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 58; // the end closes the last octet like a ':'
    if (c === 58) {
      if (digits === 0) return -1;
      buf[at + n++] = octet;
      octet = 0;
      digits = 0;
    } else {
      const h = hexDigit(c);
      if (h < 0 || ++digits > 2) return -1;
      octet = octet * 16 + h;
    }
  }
  return n;
}

// =============================================================================================
// The formatters.

// Addresses are written as text into one scratch buffer and read back as one string: a template
// literal makes a string per step (and a rope of the last ones, flattened again where the text becomes
// a key), about three times the bytes and twice the time — and a dump decodes thousands of addresses.
const text = Buffer.alloc(96);
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');

/** Writes the decimal digits of `n` (0..255) at text[o]; returns the offset after them. */
function decimal(n: number, o: number): number {
  if (n >= 100) {
    text[o++] = 48 + ((n / 100) | 0);
    text[o++] = 48 + (((n / 10) | 0) % 10);
  } else if (n >= 10) text[o++] = 48 + ((n / 10) | 0);
  text[o++] = 48 + (n % 10);
  return o;
}

/** Dotted quad of the 4 bytes at buf[p], followed by `/prefixLen` when that is given (0..255). */
function formatIPv4(buf: Uint8Array, p: number, prefixLen = -1): string {
  let o = decimal(buf[p]!, 0);
  for (let i = 1; i < 4; i++) {
    text[o++] = 46; // .
    o = decimal(buf[p + i]!, o);
  }
  if (prefixLen >= 0) {
    text[o++] = 47; // /
    o = decimal(prefixLen, o);
  }
  return text.toString('latin1', 0, o);
}

/** The 16 bytes at buf[p] as glibc's inet_ntop (what `ip` prints) writes them; see the header. */
export function formatIPv6(buf: Uint8Array, p: number): string {
  const w = (i: number): number => (buf[p + 2 * i]! << 8) | buf[p + 2 * i + 1]!;
  let bestBase = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (w(i) !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w(j) === 0) j++;
    if (j - i > bestLen) {
      bestBase = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) bestBase = -1;
  let s = '';
  for (let i = 0; i < 8; i++) {
    if (bestBase !== -1 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) s += ':';
      continue;
    }
    if (i !== 0) s += ':';
    if (i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && w(5) === 0xffff))) {
      s += formatIPv4(buf, p + 12);
      break;
    }
    s += w(i).toString(16);
  }
  if (bestBase !== -1 && bestBase + bestLen === 8) s += ':';
  return s;
}

/** The address in the `len` bytes at buf[p] (4 or 16), or undefined for any other length. */
export function readIp(buf: Uint8Array, p: number, len: number): string | undefined {
  if (len === 4) return formatIPv4(buf, p);
  if (len === 16) return formatIPv6(buf, p);
  return undefined;
}

/** readIp followed by `/prefixLen` (0..255): a route's destination, made as one string. */
export function readPrefix(buf: Uint8Array, p: number, len: number, prefixLen: number): string | undefined {
  if (len === 4) return formatIPv4(buf, p, prefixLen);
  if (len === 16) return `${formatIPv6(buf, p)}/${prefixLen}`;
  return undefined;
}

/** Whether `text` is exactly readIp's text for the IPv4 address at buf[p] (compared, not built). */
export function isIPv4Text(text: unknown, buf: Uint8Array, p: number): boolean {
  return typeof text === 'string' && ipv4Value(text) === ((buf[p]! << 24) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!) >>> 0;
}

/** Whether `text` is exactly readPrefix's text for the IPv4 address at buf[p] and `prefixLen`. */
export function isIPv4PrefixText(text: unknown, buf: Uint8Array, p: number, prefixLen: number): boolean {
  if (typeof text !== 'string') return false;
  const slash = text.indexOf('/');
  return (
    slash > 0 &&
    decimalValue(text, slash + 1, 255) === prefixLen &&
    ipv4Value(text, 0, slash) === ((buf[p]! << 24) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!) >>> 0
  );
}

/** Whether `text` is exactly formatMac's text for buf[p..end) (compared, not built). */
export function isMacText(text: unknown, buf: Uint8Array, p: number, end: number): boolean {
  if (typeof text !== 'string' || text.length !== (end > p ? 3 * (end - p) - 1 : 0)) return false;
  for (let i = p, k = 0; i < end; i++, k += 3) {
    if ((k > 0 && text.charCodeAt(k - 1) !== 58) || text.charCodeAt(k) !== HEX_DIGITS[buf[i]! >> 4] || text.charCodeAt(k + 1) !== HEX_DIGITS[buf[i]! & 15])
      return false;
  }
  return true;
}

/** Bytes buf[p..end) as 'aa:bb:…' (lower case, two digits an octet; '' for none). */
export function formatMac(buf: Uint8Array, p: number, end: number): string {
  if (end <= p) return '';
  const size = 3 * (end - p) - 1;
  const out = size <= text.length ? text : Buffer.allocUnsafe(size);
  let o = 0;
  for (let i = p; i < end; i++) {
    if (i !== p) out[o++] = 58; // :
    out[o++] = HEX_DIGITS[buf[i]! >> 4]!;
    out[o++] = HEX_DIGITS[buf[i]! & 15]!;
  }
  return out.toString('latin1', 0, o);
}

// =============================================================================================
// Text ↔ canonical text, bytes and values.

// Parsing is synchronous, so one scratch buffer serves every call.
const scratch = Buffer.alloc(16);

/** Parses an IPv4 or IPv6 address (no prefix, no zone) to its family and canonical text. */
export function parseIp(s: string): ParsedIp {
  if (typeof s === 'string') {
    if (ipv4Value(s) >= 0) return { family: 4, address: s }; // a strict dotted quad is canonical
    if (writeIPv6(s, 0, s.length, scratch, 0) === 16) return { family: 6, address: formatIPv6(scratch, 0) };
  }
  throw new InvalidAddressError(s, 'IP address');
}

/** The canonical text of an address ('FD00:0::5' → 'fd00::5'): the form stores key and compare by. */
export function normalizeIp(s: string): string {
  return parseIp(s).address;
}

/** 4 or 6 for a valid address; InvalidAddressError otherwise. */
export function familyOf(s: string): IpFamily {
  return parseIp(s).family;
}

/** Network-order bytes of an address (4 or 16). */
export function ipToBytes(s: string): Buffer {
  const out = Buffer.alloc(16);
  const n = typeof s === 'string' ? writeIp(s, out, 0) : -1;
  if (n < 0) throw new InvalidAddressError(s, 'IP address');
  return out.subarray(0, n);
}

/** Canonical text of 4 or 16 network-order bytes. */
export function bytesToIp(b: Uint8Array): string {
  const text = readIp(b, 0, b.length);
  if (text === undefined) throw new InvalidAddressError(`<${b.length} bytes>`, 'IP address bytes (4 or 16)');
  return text;
}

/** An address as an unsigned integer: '10.244.1.7' → { family: 4, value: 0x0af40107n }. */
export function ipToValue(s: string): IpValue {
  const v4 = typeof s === 'string' ? ipv4Value(s) : -1;
  if (v4 >= 0) return { family: 4, value: BigInt(v4) };
  if (typeof s === 'string' && writeIPv6(s, 0, s.length, scratch, 0) === 16) {
    return { family: 6, value: (scratch.readBigUInt64BE(0) << 64n) | scratch.readBigUInt64BE(8) };
  }
  throw new InvalidAddressError(s, 'IP address');
}

/** Canonical text of an address value; InvalidAddressError when it does not fit the family. */
export function valueToIp(family: IpFamily, value: bigint): string {
  if (typeof value !== 'bigint' || value < 0n || value >= 1n << BigInt(bitsOf(family))) {
    throw new InvalidAddressError(value, `IPv${family} address value`, `out of range for IPv${family}`);
  }
  if (family === 4) {
    const n = Number(value);
    return `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
  }
  scratch.writeBigUInt64BE(value >> 64n, 0);
  scratch.writeBigUInt64BE(value & 0xffff_ffff_ffff_ffffn, 8);
  return formatIPv6(scratch, 0);
}

// =============================================================================================
// Prefixes (CIDRs).

/**
 * Parses 'address/length' (length in decimal, no leading zeros). Host bits are allowed
 * ('10.244.1.1/24' is an interface address); `networkOf` masks them. A bare address is not a prefix.
 */
export function parsePrefix(s: string): ParsedPrefix {
  const slash = typeof s === 'string' ? s.indexOf('/') : -1;
  if (slash < 0) throw new InvalidAddressError(s, 'CIDR', 'expected address/length');
  let ip: ParsedIp;
  try {
    ip = parseIp(s.slice(0, slash));
  } catch (err) {
    throw new InvalidAddressError(s, 'CIDR', (err as Error).message);
  }
  const bits = bitsOf(ip.family);
  const prefixLen = decimalValue(s, slash + 1, bits);
  if (prefixLen < 0) throw new InvalidAddressError(s, 'CIDR', `the length must be a decimal 0..${bits}`);
  return { family: ip.family, address: ip.address, prefixLen };
}

/**
 * parsePrefix, plus whether any host bit is set, from one parse of the address (route destinations
 * refuse host bits; networkOf would parse the text twice more to find out).
 */
export function parseNetwork(s: string): ParsedPrefix & { hostBits: boolean } {
  const p = parsePrefix(s);
  if (p.family === 4) {
    const v = ipv4Value(p.address);
    return { ...p, hostBits: p.prefixLen < 32 && v % 2 ** (32 - p.prefixLen) !== 0 };
  }
  // parseIp, inside parsePrefix, left this address's 16 bytes in `scratch`: read them, do not parse again.
  let hostBits = false;
  for (let i = 0; i < 16 && !hostBits; i++) {
    const bits = Math.max(0, Math.min(8, p.prefixLen - i * 8));
    hostBits = (scratch[i]! & ~(0xff << (8 - bits)) & 0xff) !== 0;
  }
  return { ...p, hostBits };
}

/** 'address/length' from parts (the address is canonicalised). */
export function formatPrefix(p: { address: string; prefixLen: number }): string {
  const { family, address } = parseIp(p.address);
  const bits = bitsOf(family);
  if (!Number.isInteger(p.prefixLen) || p.prefixLen < 0 || p.prefixLen > bits) {
    throw new InvalidAddressError(`${p.address}/${p.prefixLen}`, 'CIDR', `the length must be 0..${bits}`);
  }
  return `${address}/${p.prefixLen}`;
}

/** The prefix with host bits cleared: '10.244.1.7/24' → '10.244.1.0/24'. */
export function networkOf(cidr: string): string {
  const p = parsePrefix(cidr);
  const b = ipToBytes(p.address);
  applyMask(b, p.prefixLen, (byte, mask) => byte & mask);
  return `${bytesToIp(b)}/${p.prefixLen}`;
}

/** IPv4 broadcast address of a prefix, as `ip addr add … brd +` computes it ('10.244.1.1/24' → '10.244.1.255'). */
export function broadcastOf(cidr: string): string {
  const p = parsePrefix(cidr);
  if (p.family !== 4) throw new InvalidAddressError(cidr, 'IPv4 prefix', 'IPv6 has no broadcast');
  const b = ipToBytes(p.address);
  applyMask(b, p.prefixLen, (byte, mask) => byte | (~mask & 0xff));
  return bytesToIp(b);
}

function applyMask(b: Uint8Array, prefixLen: number, op: (byte: number, mask: number) => number): void {
  for (let i = 0; i < b.length; i++) {
    const bits = Math.max(0, Math.min(8, prefixLen - i * 8));
    b[i] = op(b[i]!, (0xff << (8 - bits)) & 0xff);
  }
}

// =============================================================================================
// MAC addresses.

const MAC_TEXT_MAX = 17; // 'aa:bb:cc:dd:ee:ff'

/** Checks an Ethernet MAC (6 octets) and returns it canonical ('AA:bb:c:…' → 'aa:bb:0c:…'). */
export function parseMac(s: string): string {
  // Into the shared scratch (≥ the 9 octets 17 characters can hold): every neighbour and FDB request
  // checks its MAC here, and a fresh Buffer each was ~15 % of a 5,000-entry batch's JavaScript.
  writeEthernetMac(s, scratch);
  return formatMac(scratch, 0, 6);
}

/** The 6 bytes of an Ethernet MAC. */
export function macToBytes(s: string): Buffer {
  const out = Buffer.alloc(MAC_TEXT_MAX);
  writeEthernetMac(s, out);
  return out.subarray(0, 6);
}

function writeEthernetMac(s: string, out: Buffer): void {
  if (typeof s !== 'string' || s.length > MAC_TEXT_MAX || writeMac(s, out, 0) !== 6) {
    throw new InvalidAddressError(s, 'MAC address', 'expected six octets aa:bb:cc:dd:ee:ff');
  }
}

/** 'aa:bb:…' for hardware-address bytes of any length. */
export function bytesToMac(b: Uint8Array): string {
  return formatMac(b, 0, b.length);
}
