// CIDR math for IPv4 and IPv6 on top of core's one address module (@netboot/core/ip, which parses and
// formats): networks as plain bigints, so one code path serves both families and a /8 costs the same
// as a /24.
import { bitsOf, InvalidAddressError, ipToValue, parsePrefix, valueToIp, type IpFamily } from '@netboot/core/ip';

function maxValue(family: IpFamily): bigint {
  return (1n << BigInt(bitsOf(family))) - 1n;
}

/** An IP network: family, network address and prefix length. Immutable; host bits are always zero. */
export class Cidr {
  private constructor(
    readonly family: IpFamily,
    readonly network: bigint,
    readonly prefixLen: number,
  ) {}

  /** Parses `10.244.0.0/16` or `fd00:10:244::/56`. Rejects host bits (`10.244.1.7/16`) instead of fixing them. */
  static parse(s: string): Cidr {
    const { address, prefixLen } = parsePrefix(s);
    const { family, value } = ipToValue(address);
    const cidr = new Cidr(family, value & ~hostMask(family, prefixLen) & maxValue(family), prefixLen);
    if (cidr.network !== value) throw new InvalidAddressError(s, 'CIDR', `host bits are set (the network is ${cidr.toString()})`);
    return cidr;
  }

  /** Builds a CIDR from parts; the same strictness as `parse`. */
  static of(family: IpFamily, network: bigint, prefixLen: number): Cidr {
    return Cidr.parse(`${valueToIp(family, network)}/${prefixLen}`);
  }

  toString(): string {
    return `${valueToIp(this.family, this.network)}/${this.prefixLen}`;
  }

  equals(other: Cidr): boolean {
    return this.family === other.family && this.network === other.network && this.prefixLen === other.prefixLen;
  }

  /** Number of addresses, usable or not. */
  size(): bigint {
    return 1n << BigInt(bitsOf(this.family) - this.prefixLen);
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
      const parsed = ipToValue(ip);
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
    if (!Number.isInteger(prefixLen) || prefixLen < this.prefixLen || prefixLen > bitsOf(this.family)) {
      throw new InvalidAddressError(this.toString(), 'CIDR', `cannot split into /${prefixLen} subnets`);
    }
    return 1n << BigInt(prefixLen - this.prefixLen);
  }

  /** The `n`th (0-based) /`prefixLen` subnet: `10.244.0.0/16`.nthSubnet(24, 3n) is `10.244.3.0/24`. */
  nthSubnet(prefixLen: number, n: bigint): Cidr {
    const count = this.subnetCount(prefixLen);
    if (n < 0n || n >= count) {
      throw new InvalidAddressError(this.toString(), 'CIDR', `has ${count} /${prefixLen} subnets; index ${n} is out of range`);
    }
    return new Cidr(this.family, this.network + n * (1n << BigInt(bitsOf(this.family) - prefixLen)), prefixLen);
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
      throw new InvalidAddressError(`${this}+${offset}`, 'IP address', `offset is outside ${this} (size ${this.size()})`);
    }
    return valueToIp(this.family, this.network + offset);
  }

  /** Distance of `ip` from the network address; throws InvalidAddressError if `ip` is not inside this network. */
  offsetOf(ip: string | bigint): bigint {
    if (!this.contains(ip)) {
      const text = typeof ip === 'string' ? ip : formatIpSafe(this.family, ip);
      throw new InvalidAddressError(text, 'IP address', `not inside ${this}`);
    }
    return (typeof ip === 'string' ? ipToValue(ip).value : ip) - this.network;
  }

  private isPointToPoint(): boolean {
    return this.family === 4 ? this.prefixLen >= 31 : this.prefixLen === 128;
  }
}

function hostMask(family: IpFamily, prefixLen: number): bigint {
  return (1n << BigInt(bitsOf(family) - prefixLen)) - 1n;
}

function formatIpSafe(family: IpFamily, value: bigint): string {
  return value >= 0n && value <= maxValue(family) ? valueToIp(family, value) : value.toString();
}

/**
 * Parses a dual-stack list as kubeadm writes it (`10.244.0.0/16,fd00:10:244::/56`, or an array): at most one
 * CIDR per family, because a cluster has one pod network per family.
 */
export function parseCidrList(input: string | readonly string[]): Cidr[] {
  const parts = typeof input === 'string' ? input.split(',').map((p) => p.trim()) : [...input];
  if (parts.length === 0 || parts.some((p) => p === '')) {
    throw new InvalidAddressError(String(input), 'CIDR list', 'expected one or two comma-separated CIDRs');
  }
  const cidrs = parts.map((p) => Cidr.parse(p));
  const families = new Set(cidrs.map((c) => c.family));
  if (families.size !== cidrs.length) {
    throw new InvalidAddressError(String(input), 'CIDR list', 'at most one CIDR per IP family (dual-stack is one IPv4 + one IPv6)');
  }
  return cidrs;
}
