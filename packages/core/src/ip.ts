// Pure address helpers: strings in the forms users and `ip` write ('10.244.1.2', 'fd00::1',
// '10.244.1.1/24', 'aa:bb:cc:dd:ee:ff') checked, normalised and converted to bytes. No effects.
import { isIPv6 } from 'node:net';
import { AF_INET, AF_INET6 } from './netlink/generated/index.js';

export type IpFamily = 4 | 6;

/** Address families as the kernel numbers them (<sys/socket.h>), for callers that map families. */
export { AF_INET, AF_INET6 };

export interface ParsedIp {
  family: IpFamily;
  /** Canonical text: dotted quad, or RFC 5952 IPv6 ('fd00::1', lower case, longest zero run compressed). */
  address: string;
}

export interface ParsedPrefix extends ParsedIp {
  prefixLen: number;
}

/** A string that is not the address, prefix or MAC it was meant to be; names the input. */
export class InvalidAddressError extends Error {
  readonly input: string;
  constructor(input: unknown, expected: string) {
    super(`invalid ${expected}: ${JSON.stringify(input)}`);
    this.name = 'InvalidAddressError';
    this.input = String(input);
  }
}

/** Parses an IPv4 or IPv6 address (no prefix, no zone). */
export function parseIp(s: string): ParsedIp {
  if (typeof s === 'string') {
    if (ipv4Value(s) >= 0) return { family: 4, address: s };
    if (isIPv6(s) && !s.includes('%')) return { family: 6, address: bytesToIp(ipv6Bytes(s)) };
  }
  throw new InvalidAddressError(s, 'IP address');
}

/** 4 or 6 for a valid address; InvalidAddressError otherwise. */
export function familyOf(s: string): IpFamily {
  return parseIp(s).family;
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

/**
 * Parses 'address/len'. Host bits are allowed ('10.244.1.1/24' is an interface address); use
 * `networkOf` for the masked network. A bare address is not a prefix (no implied /32).
 */
export function parsePrefix(s: string): ParsedPrefix {
  const slash = typeof s === 'string' ? s.indexOf('/') : -1;
  if (slash < 0) throw new InvalidAddressError(s, 'prefix (address/length)');
  const lenText = s.slice(slash + 1);
  let ip: ParsedIp;
  try {
    ip = parseIp(s.slice(0, slash));
  } catch {
    throw new InvalidAddressError(s, 'prefix (address/length)');
  }
  const prefixLen = Number(lenText);
  if (!/^\d{1,3}$/.test(lenText) || prefixLen > bitsOf(ip.family)) {
    throw new InvalidAddressError(s, `prefix (length must be 0..${bitsOf(ip.family)})`);
  }
  return { ...ip, prefixLen };
}

/** 'address/len' from parts (the address is canonicalised). */
export function formatPrefix(p: { address: string; prefixLen: number }): string {
  const { family, address } = parseIp(p.address);
  if (!Number.isInteger(p.prefixLen) || p.prefixLen < 0 || p.prefixLen > bitsOf(family)) {
    throw new InvalidAddressError(`${p.address}/${p.prefixLen}`, `prefix (length must be 0..${bitsOf(family)})`);
  }
  return `${address}/${p.prefixLen}`;
}

/** 32 or 128. */
export function bitsOf(family: IpFamily): number {
  return family === 4 ? 32 : 128;
}

/** Network bytes of an address (4 or 16). */
export function ipToBytes(s: string): Buffer {
  const { family, address } = parseIp(s);
  return family === 4 ? Buffer.from(address.split('.').map(Number)) : ipv6Bytes(address);
}

/** Canonical text for 4 or 16 network-order bytes. */
export function bytesToIp(b: Uint8Array): string {
  if (b.length === 4) return Array.from(b).join('.');
  if (b.length !== 16) throw new InvalidAddressError(`<${b.length} bytes>`, 'IP address bytes (4 or 16)');
  return formatIPv6(Buffer.from(b.buffer, b.byteOffset, 16), 0);
}

/** Like glibc's inet_ntop (what `ip` prints): longest zero run ≥ 2 compressed, IPv4-mapped dotted. */
export function formatIPv6(buf: Buffer, p: number): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push(buf.readUInt16BE(p + 2 * i));
  let bestBase = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
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
    if (i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && w[5] === 0xffff))) {
      s += `${buf[p + 12]}.${buf[p + 13]}.${buf[p + 14]}.${buf[p + 15]}`;
      break;
    }
    s += w[i]!.toString(16);
  }
  if (bestBase !== -1 && bestBase + bestLen === 8) s += ':';
  return s;
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
  if (p.family !== 4) throw new InvalidAddressError(cidr, 'IPv4 prefix (IPv6 has no broadcast)');
  const b = ipToBytes(p.address);
  applyMask(b, p.prefixLen, (byte, mask) => byte | (~mask & 0xff));
  return bytesToIp(b);
}

function applyMask(b: Buffer, prefixLen: number, op: (byte: number, mask: number) => number): void {
  for (let i = 0; i < b.length; i++) {
    const bits = Math.max(0, Math.min(8, prefixLen - i * 8));
    const mask = (0xff << (8 - bits)) & 0xff;
    b[i] = op(b[i]!, mask);
  }
}

/** Validates and lower-cases a 6-byte MAC ('AA:bb:0c:…' → 'aa:bb:0c:…'). */
export function parseMac(s: string): string {
  if (typeof s !== 'string' || !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(s)) {
    throw new InvalidAddressError(s, 'MAC address (aa:bb:cc:dd:ee:ff)');
  }
  return s.toLowerCase();
}

function ipv6Bytes(s: string): Buffer {
  let text = s;
  const out = Buffer.alloc(16);
  // An embedded IPv4 tail ('::ffff:10.0.0.1') becomes two hex groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const q = v4[1]!.split('.').map(Number);
    text = `${text.slice(0, v4.index)}${((q[0]! << 8) | q[1]!).toString(16)}:${((q[2]! << 8) | q[3]!).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...headGroups, ...Array(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

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

/** Decimal digits s[start..] as a number ≤ max, or -1 (allocation-free, like ipv4Value). */
export function decimalValue(s: string, start: number, max: number): number {
  if (start >= s.length || s.length - start > 3) return -1;
  let n = 0;
  for (let i = start; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    n = n * 10 + (c - 48);
  }
  return n <= max ? n : -1;
}
