// Node-local pod IPs with host-local's semantics on host-local's files: one IP per range set,
// round-robin from `last_reserved_ip.<set>`, the gateway never handed out, the same attachment gets
// the same IP back. The bitmaps (RangeAllocator) are a cache of the directory, rebuilt whenever the
// FileStore sees that someone else wrote to it; the files stay the only truth.
import { hostname } from 'node:os';
import { IpInUseError, RangeAllocator, RangeExhaustedError } from './allocator.js';
import type { Allocation, RangeSpec } from './allocator.js';
import { normalizeIp, valueToIp } from '@netboot/core/ip';
import { Cidr } from './cidr.js';
import type { PodAddress, PodAllocateOptions, PodIpam, ReservationFilter } from './pod-ipam.js';
import { CorruptEntryError } from './records.js';
import { sortByAddress } from './report.js';
import type { Attachment, CheckReport, Problem, ReleaseResult, Reservation, Usage } from './report.js';
import type { CorruptFileEntry, FileEntry, FileStore } from './store/file.js';
import { InvalidArgumentError, attachmentKey, validateAttachment } from './validate.js';

/** Every address of a range set on this node is reserved. */
export class NodeRangeExhaustedError extends RangeExhaustedError {
  constructor(
    ranges: string[],
    readonly node: string,
  ) {
    super(ranges);
    this.message = `no free address left in ${ranges.join(', ')} on node ${node}`;
  }
}

// A reservation file as a Reservation; a corrupt file holds its address for nobody we can name ('').
function toReservation(entry: FileEntry | CorruptFileEntry): Reservation {
  return 'containerId' in entry ? { ip: entry.ip, containerId: entry.containerId, ifname: entry.ifname ?? '' } : { ip: entry.ip, containerId: '', ifname: '' };
}

/**
 * Whether a file belongs to one of the runtime's `valid` attachments; files in host-local's old one-line
 * format (no ifname) match by container ID alone.
 */
function liveFilter(valid: readonly Attachment[]): (e: FileEntry) => boolean {
  const keep = new Set(valid.map((a) => attachmentKey(validateAttachment(a))));
  const keepIds = new Set(valid.map((a) => a.containerId));
  return (e) => (e.ifname === undefined ? keepIds.has(e.containerId) : keep.has(attachmentKey({ containerId: e.containerId, ifname: e.ifname })));
}

/**
 * host-local on netboot's store, as a {@link PodIpam}: `allocate` = CNI ADD (one IP per range set),
 * `release` = CNI DEL, `gc` = CNI GC with the runtime's valid attachments.
 */
export class LocalIpam implements PodIpam {
  readonly node: string;
  private readonly ranges: RangeSpec[][];
  private readonly subnets: Cidr[][];
  private allocators: RangeAllocator[];
  private loaded = false;

  constructor(
    readonly store: FileStore,
    ranges: RangeSpec[][],
    opts: { node?: string } = {},
  ) {
    if (ranges.length === 0) throw new InvalidArgumentError('ranges', ranges, 'needs at least one range set');
    this.node = opts.node ?? hostname();
    this.ranges = ranges.map((set) => set.map((r) => ({ ...r })));
    this.subnets = this.ranges.map((set) => set.map((r) => (typeof r.subnet === 'string' ? Cidr.parse(r.subnet) : r.subnet)));
    this.allocators = this.ranges.map((set) => new RangeAllocator(set)); // validates each set
    const all = this.subnets.flatMap((set, i) => set.map((cidr) => ({ cidr, i })));
    for (const a of all) {
      const clash = all.find((b) => b.i > a.i && b.cidr.overlaps(a.cidr));
      if (clash) throw new InvalidArgumentError('ranges', `${a.cidr} / ${clash.cidr}`, `range sets ${a.i} and ${clash.i} overlap`);
    }
    store.onChange(({ added, removed }) => {
      if (!this.loaded) return; // the first sync() reads everything anyway
      for (const ip of removed) this.forget(ip);
      for (const ip of added) this.take(ip);
    });
  }

  /**
   * Reserves one IP per range set for the attachment (CNI ADD); returns the existing ones if it already
   * holds them. `ips` requests specific addresses, each inside one range set (host-local's `ips`).
   */
  async allocate(attachment: Attachment, opts: PodAllocateOptions = {}): Promise<PodAddress[]> {
    const { containerId, ifname } = validateAttachment(attachment);
    const requested = this.requestedBySet(opts.ips ?? []);
    return this.store.withLock(() => {
      this.sync();
      const existing = this.store.getById({ containerId, ifname });
      const made: string[] = [];
      try {
        return this.ranges.map((_, set) => {
          const held = existing.find((ip) => this.allocators[set]!.isAllocated(ip));
          const wanted = requested.get(set);
          if (held !== undefined) {
            if (wanted !== undefined && wanted !== held) throw new IpInUseError(wanted, `${containerId}/${ifname} already holds ${held}`);
            return this.describe(set, held, { containerId, ifname });
          }
          const ip = wanted === undefined ? this.allocateIn(set, { containerId, ifname }) : this.reserveIn(set, wanted, { containerId, ifname });
          made.push(ip);
          return this.describe(set, ip, { containerId, ifname });
        });
      } catch (e) {
        for (const ip of made) this.store.release(ip);
        throw e;
      }
    });
  }

  /** Releases every IP of the attachment (CNI DEL); returns what was released (nothing is not an error). */
  async release(attachment: Attachment): Promise<ReleaseResult> {
    const valid = validateAttachment(attachment);
    return this.store.withLock(() => {
      this.sync();
      return { released: this.store.releaseById(valid).map(toReservation), skipped: [] };
    });
  }

  /**
   * Releases one address whoever holds it; undefined if it was not reserved. A file that is not a
   * reservation is refused with CorruptEntryError, as ClusterIpam refuses a corrupt block: a human must look.
   */
  async releaseIp(ip: string): Promise<Reservation | undefined> {
    const canonical = normalizeIp(ip); // InvalidAddressError before the lock is taken
    return this.store.withLock(() => {
      this.sync();
      if (this.current(canonical) === undefined) return undefined;
      const entry = this.store.release(canonical);
      return entry && toReservation(entry);
    });
  }

  /**
   * CNI GC: releases every reservation whose attachment is not in `valid` (files in host-local's old
   * one-line format count as valid if their container ID is). Corrupt files are left alone and returned
   * as skipped.
   */
  async gc(valid: readonly Attachment[]): Promise<ReleaseResult> {
    const live = liveFilter(valid);
    return this.store.withLock(() => {
      this.sync();
      this.store.reload();
      const { entries, corrupt } = this.store.list();
      const released: Reservation[] = [];
      for (const entry of entries) {
        if (live(entry)) continue;
        this.store.release(entry.ip);
        released.push(toReservation(entry));
      }
      return { released, skipped: corrupt.map((c) => this.corruptProblem(c)) };
    });
  }

  /**
   * Finds what needs an operator: reservations outside every range (or on a gateway), files that are
   * not reservations, and — given the runtime's `valid` attachments — reservations nobody owns.
   */
  async check(opts: { valid?: readonly Attachment[] } = {}): Promise<CheckReport> {
    const live = opts.valid && liveFilter(opts.valid);
    return this.store.withLock(() => {
      this.sync();
      this.store.reload();
      const { entries, corrupt } = this.store.list();
      const problems: Problem[] = corrupt.map((c) => this.corruptProblem(c));
      for (const e of entries) {
        const who = { ip: e.ip, node: this.node, containerId: e.containerId, ...(e.ifname === undefined ? {} : { ifname: e.ifname }) };
        if (!this.allocators.some((a) => a.isUsable(e.ip))) {
          problems.push({ kind: 'outside-pools', ...who, detail: `${e.ip} (${e.containerId}) is not an allocatable address of any configured range` });
        }
        if (live && !live(e)) {
          problems.push({
            kind: 'invalid-attachment',
            ...who,
            detail: `${e.ip} is held by ${e.containerId}/${e.ifname ?? '?'}, which the runtime does not list`,
          });
        }
      }
      return { problems };
    });
  }

  /**
   * Acts on a `check` report (like `calicoctl ipam release --from-report`): releases each reported
   * invalid-attachment or outside-pools reservation only if the same holder still has it, so a report
   * that went stale never frees someone else's address. Corrupt entries and other nodes' problems need a
   * human and come back as skipped.
   */
  async releaseReport(report: CheckReport): Promise<ReleaseResult> {
    return this.store.withLock(() => {
      this.sync();
      this.store.reload();
      const current = new Map(this.store.list().entries.map((e) => [e.ip, e]));
      const released: Reservation[] = [];
      const skipped: Problem[] = [];
      for (const p of report.problems) {
        const fixable = (p.kind === 'invalid-attachment' || p.kind === 'outside-pools') && p.ip !== undefined && p.containerId !== undefined;
        if (!fixable || (p.node !== undefined && p.node !== this.node)) {
          skipped.push(p);
          continue;
        }
        const entry = current.get(normalizeIp(p.ip!));
        if (!entry || entry.containerId !== p.containerId || entry.ifname !== p.ifname) continue; // gone or reused since
        this.store.release(entry.ip);
        current.delete(entry.ip);
        released.push(toReservation(entry));
      }
      return { released, skipped };
    });
  }

  /** Who holds `ip`, or undefined if nobody does; CorruptEntryError if its file is not a reservation. */
  async holder(ip: string): Promise<Reservation | undefined> {
    const canonical = normalizeIp(ip);
    return this.store.withLock(() => {
      this.sync();
      return this.current(canonical);
    });
  }

  // Who holds `ip` according to its file now; a file that is not a reservation needs a human.
  private current(ip: string): Reservation | undefined {
    const entry = this.store.get(ip);
    if (entry && 'detail' in entry) throw new CorruptEntryError(`${this.store.dir}/${ip}`, entry.detail);
    return entry && toReservation(entry);
  }

  /** The reservations in this directory inside `cidr`, sorted by address; none for another `node`. */
  async reservations(filter: ReservationFilter = {}): Promise<Reservation[]> {
    const range = filter.cidr === undefined ? undefined : Cidr.parse(filter.cidr);
    if (filter.node !== undefined && filter.node !== this.node) return [];
    return this.store.withLock(() => {
      const { entries } = this.store.list();
      return sortByAddress(entries.filter((e) => range === undefined || range.contains(e.ip)).map(toReservation));
    });
  }

  /** Allocated and free addresses per range set (gateway excluded), like `calicoctl ipam show`. */
  async usage(): Promise<Usage> {
    return this.store.withLock(() => {
      this.sync();
      return {
        pools: this.allocators.map((a, set) => {
          const counts = { size: Number(a.size()), allocated: Number(a.allocated()), free: Number(a.free()) };
          const cidr = this.subnets[set]!.join(',');
          return { cidr, ...counts, blocks: [{ cidr, node: this.node, ...counts }] };
        }),
        skipped: [], // corrupt files hold their address: counted as allocated
      };
    });
  }

  // Loads the bitmaps from the files on first use; from then on onChange keeps them current.
  private sync(): void {
    if (this.loaded) return;
    const { entries, corrupt } = this.store.list();
    for (const { ip } of [...entries, ...corrupt]) this.take(ip);
    this.loaded = true;
  }

  // Range sets do not overlap (the constructor checks): at most one allocator can take `ip`.
  private take(ip: string): void {
    for (const a of this.allocators) if (a.restoreIfFree(ip)) return;
  }

  private allocateIn(set: number, attachment: Attachment): string {
    for (;;) {
      const allocator = this.allocators[set]!;
      // Another process (host-local too) may have moved the cursor since we last looked.
      allocator.setLastReserved(this.store.lastReserved(set));
      let allocation: Allocation<undefined>;
      try {
        allocation = allocator.allocate();
      } catch (e) {
        if (e instanceof RangeExhaustedError) throw new NodeRangeExhaustedError(e.ranges, this.node);
        throw e;
      }
      // false: the file existed after all; the store re-read the directory, which updated the bitmap.
      if (this.persist(set, allocation.ip, attachment)) return allocation.ip;
    }
  }

  private reserveIn(set: number, ip: string, attachment: Attachment): string {
    this.allocators[set]!.reserve(ip); // throws for the gateway, a taken or out-of-range IP
    if (!this.persist(set, ip, attachment)) throw new IpInUseError(ip, 'already reserved');
    return ip;
  }

  // Writes the file for an address the bitmap just took; gives the bit back if the write fails.
  private persist(set: number, ip: string, attachment: Attachment): boolean {
    try {
      return this.store.reserve(ip, attachment, set);
    } catch (e) {
      this.allocators[set]!.release(ip);
      throw e;
    }
  }

  private corruptProblem(c: CorruptFileEntry): Problem {
    return { kind: 'corrupt-entry', ip: c.ip, node: this.node, detail: `${this.store.dir}/${c.ip}: ${c.detail}` };
  }

  private forget(ip: string): void {
    for (const a of this.allocators) a.release(ip);
  }

  private describe(set: number, ip: string, attachment: Attachment): PodAddress {
    const range = Math.max(
      0,
      this.subnets[set]!.findIndex((c) => c.contains(ip)),
    );
    const spec = this.ranges[set]![range]!;
    const subnet = this.subnets[set]![range]!;
    return {
      ip,
      ...attachment,
      subnet: subnet.toString(),
      prefixLen: subnet.prefixLen,
      gateway: spec.gateway ?? valueToIp(subnet.family, subnet.gateway()),
    };
  }

  // Maps each requested IP to the one range set whose subnets contain it.
  private requestedBySet(ips: readonly string[]): Map<number, string> {
    const bySet = new Map<number, string>();
    for (const text of ips) {
      const ip = normalizeIp(text);
      const set = this.subnets.findIndex((subnets) => subnets.some((c) => c.contains(ip)));
      if (set < 0) throw new InvalidArgumentError('ip', text, 'is not inside any configured range');
      if (bySet.has(set)) throw new InvalidArgumentError('ip', text, `range set ${set} already has a requested address (${bySet.get(set)})`);
      bySet.set(set, ip);
    }
    return bySet;
  }
}
