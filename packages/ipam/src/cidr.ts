// Address math for IPv4 and IPv6: parse strictly (ip-num does the validation), then do everything else
// with plain bigints so one code path serves both families and a /8 costs the same as a /24.
import { Validator } from 'ip-num';
import { formatIPv6 } from '@netboot/core';

export type Family = 4 | 6;

/** A parsed address: its family and its value as an unsigned integer. */
export interface ParsedIp {
  family: Family;
  value: bigint;
}

/** An address string that is not a valid IPv4 or IPv6 address (or is outside a range it must be in). */
export class InvalidIpError extends Error {
  constructor(readonly input: string, reason: string) {
    super(`invalid IP address ${JSON.stringify(input)}: ${reason}`);
    this.name = 'InvalidIpError';
  }
}

/** A CIDR string that is malformed, has host bits set, or a prefix length out of range. */
export class InvalidCidrError extends Error {
  constructor(readonly input: string, reason: string) {
    super(`invalid CIDR ${JSON.stringify(input)}: ${reason}`);
    this.name = 'InvalidCidrError';
  }
}

/** Number of bits in an address of `family`. */
export function familyBits(family: Family): number {
  return family === 4 ? 32 : 128;
}

function maxValue(family: Family): bigint {
  return (1n << BigInt(familyBits(family))) - 1n;
}

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const DOTTED_QUAD = new RegExp(`^(?:${OCTET}\\.){3}${OCTET}$`);

/** Parses `10.244.1.7` or `fd00::1` (no zone ids, no leading zeros in IPv4 octets, no surrounding spaces). */
export function parseIp(s: string): ParsedIp {
  if (typeof s !== 'string' || s.length === 0) throw new InvalidIpError(String(s), 'empty or not a string');
  if (s.trim() !== s) throw new InvalidIpError(s, 'surrounding whitespace');
  if (s.includes(':')) {
    if (s.includes('%')) throw new InvalidIpError(s, 'zone ids are not allowed');
    const [ok, why] = Validator.isValidIPv6String(s);
    if (!ok) throw new InvalidIpError(s, why.join('; ') || 'not an IPv6 address');
    return { family: 6, value: parseIpv6(s) };
  }
  // The common case, a well-formed dotted quad, without ip-num's slower generic validation.
  if (DOTTED_QUAD.test(s)) return { family: 4, value: s.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(octet), 0n) };
  const [ok, why] = Validator.isValidIPv4String(s);
  // ip-num accepts '1.2.3.04'-style octets in some versions; CNI (Go's net.ParseIP) does not.
  if (!ok || /(^|\.)0\d/.test(s)) throw new InvalidIpError(s, why.join('; ') || 'leading zeros in an octet');
  return { family: 4, value: s.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(octet), 0n) };
}

// Own expansion instead of ip-num's so embedded IPv4 tails (`::ffff:1.2.3.4`) come out right.
function parseIpv6(s: string): bigint {
  let text = s;
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (tail?.[1]) {
    const v4 = parseIp(tail[1]).value;
    text = `${text.slice(0, -tail[1].length)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head = '', rest] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = rest === undefined || rest === '' ? [] : rest.split(':');
  const zeros = rest === undefined ? 0 : 8 - left.length - right.length;
  const groups = [...left, ...Array<string>(zeros).fill('0'), ...right];
  if (groups.length !== 8) throw new InvalidIpError(s, 'wrong number of groups');
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(`0x${g}`), 0n);
}

/** The canonical text of an address (`FD00:0::5` → `fd00::5`), the form stores key and compare by. */
export function normalizeIp(s: string): string {
  const { family, value } = parseIp(s);
  return formatIp(family, value);
}

/** Formats an address value: dotted quad for IPv4, RFC 5952 (lower case, longest zero run as `::`) for IPv6. */
export function formatIp(family: Family, value: bigint): string {
  if (value < 0n || value > maxValue(family)) {
    throw new InvalidIpError(value.toString(), `out of range for IPv${family}`);
  }
  if (family === 4) {
    return [24n, 16n, 8n, 0n].map((shift) => ((value >> shift) & 0xffn).toString()).join('.');
  }
  // One IPv6 text form for the whole project: core's (what `ip` and inet_ntop print, RFC 5952).
  const bytes = Buffer.alloc(16);
  bytes.writeBigUInt64BE(value >> 64n, 0);
  bytes.writeBigUInt64BE(value & 0xffff_ffff_ffff_ffffn, 8);
  return formatIPv6(bytes, 0);
}

/** An IP network: family, network address and prefix length. Immutable; host bits are always zero. */
export class Cidr {
  private constructor(
    readonly family: Family,
    readonly network: bigint,
    readonly prefixLen: number,
  ) {}

  /** Parses `10.244.0.0/16` or `fd00:10:244::/56`. Rejects host bits (`10.244.1.7/16`) instead of fixing them. */
  static parse(s: string): Cidr {
    if (typeof s !== 'string') throw new InvalidCidrError(String(s), 'not a string');
    const slash = s.indexOf('/');
    if (slash < 0 || slash !== s.lastIndexOf('/')) throw new InvalidCidrError(s, 'expected <address>/<prefix length>');
    const prefixText = s.slice(slash + 1);
    if (!/^(0|[1-9]\d{0,2})$/.test(prefixText)) throw new InvalidCidrError(s, 'prefix length must be a decimal number');
    let ip: ParsedIp;
    try {
      ip = parseIp(s.slice(0, slash));
    } catch (err) {
      throw new InvalidCidrError(s, err instanceof Error ? err.message : String(err));
    }
    const prefixLen = Number(prefixText);
    if (prefixLen > familyBits(ip.family)) {
      throw new InvalidCidrError(s, `prefix length ${prefixLen} exceeds ${familyBits(ip.family)} for IPv${ip.family}`);
    }
    const cidr = new Cidr(ip.family, ip.value & ~hostMask(ip.family, prefixLen) & maxValue(ip.family), prefixLen);
    if (cidr.network !== ip.value) {
      throw new InvalidCidrError(s, `host bits are set (the network is ${cidr.toString()})`);
    }
    return cidr;
  }

  /** Builds a CIDR from parts; the same strictness as `parse`. */
  static of(family: Family, network: bigint, prefixLen: number): Cidr {
    return Cidr.parse(`${formatIp(family, network)}/${prefixLen}`);
  }

  toString(): string {
    return `${formatIp(this.family, this.network)}/${this.prefixLen}`;
  }

  equals(other: Cidr): boolean {
    return this.family === other.family && this.network === other.network && this.prefixLen === other.prefixLen;
  }

  /** Number of addresses, usable or not. */
  size(): bigint {
    return 1n << BigInt(familyBits(this.family) - this.prefixLen);
  }

  /** The highest address in the network (the IPv4 broadcast address for prefixes shorter than /31). */
  lastAddress(): bigint {
    return this.network + this.size() - 1n;
  }

  /** True if the address (string or value of this family) or the whole other CIDR lies inside this one. */
  contains(ip: string | bigint | Cidr): boolean {
    if (ip instanceof Cidr) {
      return ip.family === this.family && ip.prefixLen >= this.prefixLen && this.contains(ip.network);
    }
    if (typeof ip === 'string') {
      const parsed = parseIp(ip);
      if (parsed.family !== this.family) return false;
      ip = parsed.value;
    }
    return ip >= this.network && ip <= this.lastAddress();
  }

  overlaps(other: Cidr): boolean {
    return other.family === this.family && (this.contains(other.network) || other.contains(this.network));
  }

  /** Every subnet of length `prefixLen`, in address order (lazily: a /8 split into /32s is fine to iterate). */
  *subnets(prefixLen: number): Iterable<Cidr> {
    const count = this.subnetCount(prefixLen);
    for (let n = 0n; n < count; n++) yield this.nthSubnet(prefixLen, n);
  }

  /** How many /`prefixLen` subnets this network splits into. */
  subnetCount(prefixLen: number): bigint {
    if (!Number.isInteger(prefixLen) || prefixLen < this.prefixLen || prefixLen > familyBits(this.family)) {
      throw new InvalidCidrError(this.toString(), `cannot split into /${prefixLen} subnets`);
    }
    return 1n << BigInt(prefixLen - this.prefixLen);
  }

  /** The `n`th (0-based) /`prefixLen` subnet: `10.244.0.0/16`.nthSubnet(24, 3n) is `10.244.3.0/24`. */
  nthSubnet(prefixLen: number, n: bigint): Cidr {
    const count = this.subnetCount(prefixLen);
    if (n < 0n || n >= count) {
      throw new InvalidCidrError(this.toString(), `has ${count} /${prefixLen} subnets; index ${n} is out of range`);
    }
    return new Cidr(this.family, this.network + n * (1n << BigInt(familyBits(this.family) - prefixLen)), prefixLen);
  }

  /**
   * First address a host may use. host-local semantics: IPv4 skips the network address except on /31 and
   * /32 (RFC 3021 point-to-point, single host); IPv6 skips the subnet-router anycast address (::0) except on /128.
   */
  firstUsable(): bigint {
    return this.isPointToPoint() ? this.network : this.network + 1n;
  }

  /** Last address a host may use: IPv4 skips the broadcast address except on /31 and /32; IPv6 uses the last. */
  lastUsable(): bigint {
    return this.broadcast() === undefined ? this.lastAddress() : this.lastAddress() - 1n;
  }

  /** The default gateway, as host-local and the bridge plugin choose it: the first usable address. */
  gateway(): bigint {
    return this.firstUsable();
  }

  /** The IPv4 broadcast address; undefined for IPv6 and for /31, /32. */
  broadcast(): bigint | undefined {
    return this.family === 4 && this.prefixLen < 31 ? this.lastAddress() : undefined;
  }

  /** The address `offset` addresses above the network address, formatted. */
  addressAt(offset: bigint): string {
    if (offset < 0n || offset >= this.size()) {
      throw new InvalidIpError(`${this}+${offset}`, `offset is outside ${this} (size ${this.size()})`);
    }
    return formatIp(this.family, this.network + offset);
  }

  /** Distance of `ip` from the network address; throws InvalidIpError if `ip` is not inside this network. */
  offsetOf(ip: string | bigint): bigint {
    if (!this.contains(ip)) {
      const text = typeof ip === 'string' ? ip : formatIpSafe(this.family, ip);
      throw new InvalidIpError(text, `not inside ${this}`);
    }
    return (typeof ip === 'string' ? parseIp(ip).value : ip) - this.network;
  }

  private isPointToPoint(): boolean {
    return this.family === 4 ? this.prefixLen >= 31 : this.prefixLen === 128;
  }
}

function hostMask(family: Family, prefixLen: number): bigint {
  return (1n << BigInt(familyBits(family) - prefixLen)) - 1n;
}

function formatIpSafe(family: Family, value: bigint): string {
  return value >= 0n && value <= maxValue(family) ? formatIp(family, value) : value.toString();
}

/**
 * Parses a dual-stack list as kubeadm writes it (`10.244.0.0/16,fd00:10:244::/56`, or an array): at most one
 * CIDR per family, because a cluster has one pod network per family.
 */
export function parseCidrList(input: string | readonly string[]): Cidr[] {
  const parts = typeof input === 'string' ? input.split(',').map((p) => p.trim()) : [...input];
  if (parts.length === 0 || parts.some((p) => p === '')) {
    throw new InvalidCidrError(String(input), 'expected one or two comma-separated CIDRs');
  }
  const cidrs = parts.map((p) => Cidr.parse(p));
  const families = new Set(cidrs.map((c) => c.family));
  if (families.size !== cidrs.length) {
    throw new InvalidCidrError(String(input), 'at most one CIDR per IP family (dual-stack is one IPv4 + one IPv6)');
  }
  return cidrs;
}
