// A pure in-memory allocator over a set of address ranges (a host-local "range set"): a bitmap of taken
// slots kept in 8 KiB pages created on first use, so an IPv4 /16 costs 8 KiB, an untouched IPv6 /64
// costs nothing, and finding the next free slot scans one 32-bit word at a time from a round-robin cursor.
import { InvalidAddressError, ipToValue, valueToIp, type IpFamily as Family } from '@netboot/core/ip';
import { InvalidInputError, NetbootError } from '@netboot/core/errors';
import { Cidr } from './cidr.js';
import { InvalidArgumentError } from './validate.js';

/** One range: a subnet, optionally narrowed to [rangeStart, rangeEnd], with a gateway that is never handed out. */
export interface RangeSpec {
  subnet: Cidr | string;
  rangeStart?: string;
  rangeEnd?: string;
  /** Defaults to the subnet's first usable address (host-local's default). */
  gateway?: string;
}

/** One handed-out address; `offset` counts from the subnet's network address. */
export interface Allocation<O> {
  ip: string;
  range: number;
  offset: bigint;
  owner: O | undefined;
}

/** Every slot of the range set is taken; `ranges` names each range as it was narrowed (`rangeStart-rangeEnd`). */
export class RangeExhaustedError extends NetbootError {
  readonly kind = 'exhausted' as const;

  constructor(readonly ranges: string[]) {
    super(`no free address left in ${ranges.join(', ')}`);
  }
}

/**
 * A specific address was asked for but is already taken. Kind `conflict`, not
 * `exists`: someone else's state is in the way. `exists` would say that what the caller asked to create is
 * already there, but an attachment asking again for an address it holds gets it back, never this error.
 */
export class IpInUseError extends NetbootError {
  readonly kind = 'conflict' as const;

  constructor(
    readonly ip: string,
    reason: string,
  ) {
    super(`${ip} is not available: ${reason}`);
  }
}

/** A range set that is malformed: mixed families, overlapping ranges, a start after its end, too small, … */
export class InvalidRangeError extends InvalidInputError {
  constructor(
    readonly range: string,
    reason: string,
  ) {
    super(`invalid range ${range}: ${reason}`);
  }
}

const PAGE_BITS = 16; // 65 536 slots = 2 048 words = 8 KiB per page
const PAGE_SLOTS = 1n << BigInt(PAGE_BITS);
const FULL_WORD = 0xffffffff;

interface Page {
  words: Uint32Array;
  count: number;
}

interface ResolvedRange {
  subnet: Cidr;
  /** First and last usable value (inclusive). */
  first: bigint;
  last: bigint;
  /** Slot index of `first` in the allocator's single index space. */
  base: bigint;
  gateway: bigint;
  /** How errors name it: the subnet, or `rangeStart-rangeEnd (of subnet)` where narrowed. */
  label: string;
}

// host-local refuses a /31 or /32 (/127, /128) when it reads the config ("Network 10.0.0.0/31 too small to
// allocate from"): with the network address, the IPv4 broadcast and the gateway set aside, nothing is left.
const MIN_HOST_BITS = 2;

function resolveRange(spec: RangeSpec): Omit<ResolvedRange, 'base'> {
  const subnet = typeof spec.subnet === 'string' ? Cidr.parse(spec.subnet) : spec.subnet;
  const bits = subnet.family === 4 ? 32 : 128;
  if (bits - subnet.prefixLen < MIN_HOST_BITS) {
    throw new InvalidRangeError(subnet.toString(), `network too small to allocate from: the smallest range is a /${bits - MIN_HOST_BITS}`);
  }
  const inside = (field: string, text: string | undefined, fallback: bigint): bigint => {
    if (text === undefined) return fallback;
    const value = ipToValue(text);
    if (value.family !== subnet.family || !subnet.contains(value.value)) {
      throw new InvalidRangeError(subnet.toString(), `${field} ${text} is not inside the subnet`);
    }
    return value.value;
  };
  const first = inside('rangeStart', spec.rangeStart, subnet.firstUsable());
  const last = inside('rangeEnd', spec.rangeEnd, subnet.lastUsable());
  if (first > last) throw new InvalidRangeError(subnet.toString(), `rangeStart ${spec.rangeStart} is after rangeEnd ${valueToIp(subnet.family, last)}`);
  const whole = first === subnet.firstUsable() && last === subnet.lastUsable();
  const label = whole ? subnet.toString() : `${valueToIp(subnet.family, first)}-${valueToIp(subnet.family, last)} (of ${subnet})`;
  return { subnet, first, last, gateway: inside('gateway', spec.gateway, subnet.gateway()), label };
}

function lowestZeroBit(word: number): number {
  const free = ~word >>> 0;
  return 31 - Math.clz32(free & -free);
}

/**
 * Hands out addresses round-robin from the last one reserved, so a just-released address is not reused at
 * once (a pod's old IP lingering in a peer's conntrack or ARP cache must not reach a new pod).
 */
export class RangeAllocator<O = undefined> {
  readonly family: Family;
  private readonly ranges: ResolvedRange[] = [];
  private readonly slots: bigint;
  private readonly pages = new Map<bigint, Page>();
  private readonly owners = new Map<bigint, O>();
  private readonly blocked: bigint;
  private taken = 0n;
  private cursor: bigint | undefined;
  /** Words (or whole pages) examined while searching; tests assert on it instead of on time. */
  wordsScanned = 0;

  constructor(ranges: RangeSpec | readonly RangeSpec[], opts: { lastReserved?: string } = {}) {
    const specs = Array.isArray(ranges) ? (ranges as readonly RangeSpec[]) : [ranges as RangeSpec];
    if (specs.length === 0) throw new InvalidRangeError('[]', 'a range set needs at least one range');
    let base = 0n;
    for (const spec of specs) {
      const range = { ...resolveRange(spec), base };
      const clash = this.ranges.find((r) => r.subnet.family !== range.subnet.family || (r.first <= range.last && range.first <= r.last));
      if (clash) throw new InvalidRangeError(range.subnet.toString(), `mixes families or overlaps ${clash.subnet}`);
      this.ranges.push(range);
      base += range.last - range.first + 1n;
    }
    this.family = this.ranges[0]!.subnet.family;
    this.slots = base;
    let blocked = 0n;
    for (const r of this.ranges) {
      if (r.gateway >= r.first && r.gateway <= r.last) {
        this.setBit(r.base + r.gateway - r.first);
        blocked++;
      }
    }
    this.blocked = blocked;
    if (opts.lastReserved !== undefined) this.setLastReserved(opts.lastReserved);
  }

  /** Usable addresses (the gateway excluded). */
  size(): bigint {
    return this.slots - this.blocked;
  }

  allocated(): bigint {
    return this.taken;
  }

  free(): bigint {
    return this.size() - this.taken;
  }

  /** The address the next allocation continues after (host-local's `last_reserved_ip`). */
  lastReserved(): string | undefined {
    return this.cursor === undefined ? undefined : this.formatIndex(this.cursor);
  }

  /** Moves the round-robin cursor, e.g. to the value a store persisted. An address outside the ranges resets it. */
  setLastReserved(ip: string | undefined): void {
    this.cursor = ip === undefined ? undefined : this.indexOf(ip);
  }

  /** setLastReserved by address value (`ipToValue(ip).value`): for stores that keep numbers, not text. */
  setLastReservedValue(value: bigint | undefined): void {
    this.cursor = value === undefined ? undefined : this.indexOfValue(value);
  }

  /** Takes the next free address after the last reserved one (wrapping), or throws RangeExhaustedError. */
  allocate(owner?: O): Allocation<O> {
    const start = this.cursor === undefined ? 0n : (this.cursor + 1n) % this.slots;
    const index = this.findFree(start);
    if (index === undefined) throw new RangeExhaustedError(this.ranges.map((r) => r.label));
    this.take(index, owner);
    this.cursor = index;
    return this.allocationAt(index);
  }

  /** Takes a specific address (a static IP request) and, like host-local, continues round-robin after it. */
  reserve(ip: string, owner?: O): Allocation<O> {
    const allocation = this.restore(ip, owner);
    this.cursor = this.requireIndex(ip);
    return allocation;
  }

  /** Marks an address taken without moving the cursor: for rebuilding state from a store. */
  restore(ip: string, owner?: O): Allocation<O> {
    const index = this.requireIndex(ip);
    this.takeFree(index, owner);
    return this.allocationAt(index);
  }

  /**
   * restore for rebuilding from a store's names: takes `ip` if it is a free, usable address of these
   * ranges and says whether it did (false outside them, for the gateway or a taken address), parsing the
   * address once where isUsable + isAllocated + restore parse it three times.
   */
  restoreIfFree(ip: string): boolean {
    const index = this.indexOf(ip);
    if (index === undefined || this.isGatewayIndex(index) || this.getBit(index)) return false;
    this.take(index, undefined);
    return true;
  }

  /**
   * restore by address value (`ipToValue(ip).value`), for stores that keep numbers (a cluster block's
   * offsets): rebuilding a block formats and parses no address text.
   */
  restoreValue(value: bigint, owner?: O): void {
    this.takeFree(this.indexOfValue(value) ?? this.requireIndex(valueToIp(this.family, value)), owner);
  }

  private takeFree(index: bigint, owner: O | undefined): void {
    // Asking again can never help: the request is wrong, not in someone's way.
    if (this.isGatewayIndex(index)) throw new InvalidArgumentError('ip', this.formatIndex(index), 'is the gateway address, which is never handed out');
    if (this.getBit(index)) throw new IpInUseError(this.formatIndex(index), 'already allocated');
    this.take(index, owner);
  }

  /** Frees an address; returns false (and changes nothing) if it was not allocated or is outside the ranges. */
  release(ip: string): boolean {
    const index = this.indexOf(ip);
    if (index === undefined || !this.isTakenIndex(index)) return false;
    this.clearBit(index);
    this.owners.delete(index);
    this.taken--;
    return true;
  }

  isAllocated(ip: string): boolean {
    const index = this.indexOf(ip);
    return index !== undefined && this.isTakenIndex(index);
  }

  ownerOf(ip: string): O | undefined {
    const index = this.indexOf(ip);
    return index === undefined ? undefined : this.owners.get(index);
  }

  /** True if `ip` is an address this allocator may hand out (inside a range, not the gateway). */
  isUsable(ip: string): boolean {
    const index = this.indexOf(ip);
    return index !== undefined && !this.isGatewayIndex(index);
  }

  /** Every allocated address, in index order. */
  *entries(): Iterable<Allocation<O>> {
    for (const pageNo of [...this.pages.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
      const page = this.pages.get(pageNo)!;
      for (let w = 0; w < page.words.length; w++) {
        let word = page.words[w]!;
        while (word !== 0) {
          const bit = 31 - Math.clz32(word & -word);
          word &= word - 1;
          const index = (pageNo << BigInt(PAGE_BITS)) + BigInt(w * 32 + bit);
          if (this.isTakenIndex(index)) yield this.allocationAt(index);
        }
      }
    }
  }

  // A gateway bit is set in the bitmap (so the scan skips it) but is not an allocation.
  private isTakenIndex(index: bigint): boolean {
    return this.getBit(index) && !this.isGatewayIndex(index);
  }

  private isGatewayIndex(index: bigint): boolean {
    const r = this.rangeOfIndex(index);
    return r.gateway === r.first + index - r.base;
  }

  private take(index: bigint, owner: O | undefined): void {
    this.setBit(index);
    if (owner !== undefined) this.owners.set(index, owner);
    this.taken++;
  }

  private allocationAt(index: bigint): Allocation<O> {
    const r = this.rangeOfIndex(index);
    const value = r.first + index - r.base;
    return { ip: valueToIp(this.family, value), range: this.ranges.indexOf(r), offset: value - r.subnet.network, owner: this.owners.get(index) };
  }

  private findFree(start: bigint): bigint | undefined {
    if (this.taken + this.blocked >= this.slots) return undefined;
    // A free slot exists, so walking forward (wrapping once) must reach it.
    let index = start;
    for (;;) {
      const pageNo = index >> BigInt(PAGE_BITS);
      const pageStart = pageNo << BigInt(PAGE_BITS);
      const pageEnd = pageStart + PAGE_SLOTS < this.slots ? pageStart + PAGE_SLOTS : this.slots;
      const page = this.pages.get(pageNo);
      this.wordsScanned++;
      if (page === undefined) return index;
      const limit = Number(pageEnd - pageStart);
      if (page.count < limit) {
        const found = this.scanPage(page, Number(index - pageStart), limit);
        if (found !== undefined) return pageStart + BigInt(found);
      }
      index = pageEnd === this.slots ? 0n : pageEnd;
    }
  }

  private scanPage(page: Page, from: number, limit: number): number | undefined {
    let w = from >>> 5;
    // Treat the bits below `from` in the first word as taken.
    let word = (page.words[w]! | ((1 << (from & 31)) - 1)) >>> 0;
    for (;;) {
      if (word !== FULL_WORD) {
        const bit = w * 32 + lowestZeroBit(word);
        return bit < limit ? bit : undefined;
      }
      w++;
      if (w * 32 >= limit) return undefined;
      this.wordsScanned++;
      word = page.words[w]!;
    }
  }

  private getBit(index: bigint): boolean {
    const page = this.pages.get(index >> BigInt(PAGE_BITS));
    if (page === undefined) return false;
    const bit = Number(index & (PAGE_SLOTS - 1n));
    return ((page.words[bit >>> 5]! >>> (bit & 31)) & 1) === 1;
  }

  private setBit(index: bigint): void {
    const pageNo = index >> BigInt(PAGE_BITS);
    let page = this.pages.get(pageNo);
    if (page === undefined) {
      page = { words: new Uint32Array(Number(PAGE_SLOTS) / 32), count: 0 };
      this.pages.set(pageNo, page);
    }
    const bit = Number(index & (PAGE_SLOTS - 1n));
    page.words[bit >>> 5] = (page.words[bit >>> 5]! | (1 << (bit & 31))) >>> 0;
    page.count++;
  }

  private clearBit(index: bigint): void {
    const pageNo = index >> BigInt(PAGE_BITS);
    const page = this.pages.get(pageNo)!;
    const bit = Number(index & (PAGE_SLOTS - 1n));
    page.words[bit >>> 5] = (page.words[bit >>> 5]! & ~(1 << (bit & 31))) >>> 0;
    // Dropping an empty page keeps a long-lived allocator small after churn.
    if (--page.count === 0) this.pages.delete(pageNo);
  }

  private rangeOfIndex(index: bigint): ResolvedRange {
    let found = this.ranges[0]!;
    for (const r of this.ranges) if (r.base <= index) found = r;
    return found;
  }

  private indexOf(ip: string): bigint | undefined {
    const parsed = ipToValue(ip);
    return parsed.family === this.family ? this.indexOfValue(parsed.value) : undefined;
  }

  private indexOfValue(value: bigint): bigint | undefined {
    const r = this.ranges.find((range) => value >= range.first && value <= range.last);
    return r === undefined ? undefined : r.base + value - r.first;
  }

  private requireIndex(ip: string): bigint {
    const index = this.indexOf(ip);
    if (index === undefined) {
      throw new InvalidAddressError(
        ip,
        'IP address',
        `not inside the allocatable ranges ${this.ranges.map((r) => `${valueToIp(this.family, r.first)}-${valueToIp(this.family, r.last)}`).join(', ')}`,
      );
    }
    return index;
  }

  private formatIndex(index: bigint): string {
    const r = this.rangeOfIndex(index);
    return valueToIp(this.family, r.first + index - r.base);
  }
}
