// Neighbours (ARP/NDP entries) and bridge FDB entries: RTM_NEWNEIGH / RTM_DELNEIGH / RTM_GETNEIGH.
// Both are ndmsg messages; an FDB entry is one with ndm_family AF_BRIDGE keyed by MAC instead of IP,
// which is how a VXLAN device learns which remote VTEP (NDA_DST) owns a MAC.
import { AttrScan, hasFields, headerLayout, sameFlag, type Attrs, type NlMessage } from './netlink/codec.js';
import { dumpDecoded, type Request, type Transport } from './netlink/socket.js';
import type { DumpCache } from './netlink/dump-cache.js';
import { NetlinkError } from './netlink/errors.js';
import {
  AF_BRIDGE,
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  NLM_F_APPEND,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  NTF_MASTER,
  NTF_ROUTER,
  NTF_SELF,
  NUD_DELAY,
  NUD_FAILED,
  NUD_INCOMPLETE,
  NUD_NOARP,
  NUD_PERMANENT,
  NUD_PROBE,
  NUD_REACHABLE,
  NUD_STALE,
  RTM_DELNEIGH,
  RTM_GETNEIGH,
  NDA_CACHEINFO,
  NDA_DST,
  NDA_LLADDR,
  NDA_MASTER,
  NDA_PORT,
  NDA_VNI,
  RTM_NEWNEIGH,
} from './netlink/generated/index.js';
import { isMacText, parseIp, parseMac, type IpFamily } from './base/ip.js';
import { linkIndex, type LinkRef } from './link.js';
import { neighRequest } from './request-bodies.js';
import { checkFlag, checkInteger, SpecError } from './errors.js';
import { NameTable } from './name-table.js';

/** NUD_* states by the names `ip neigh` prints (lower case). */
export type NeighState = 'incomplete' | 'reachable' | 'stale' | 'delay' | 'probe' | 'failed' | 'noarp' | 'permanent';

export type NeighFamily = IpFamily | 'bridge';

export interface NeighSpec {
  /** 'bridge' for an FDB entry; otherwise taken from `dst`. */
  family?: NeighFamily;
  dev: LinkRef;
  /** The neighbour's IP; for an FDB entry on a VXLAN device, the remote VTEP's IP. */
  dst?: string;
  /** The neighbour's MAC; required for FDB entries. */
  lladdr?: string;
  /**
   * Default: 'permanent' for neighbours (like `ip neigh`); ['noarp', 'permanent'] for FDB entries, as
   * `bridge fdb` sends without a state word (its `static` is ['noarp', 'reachable'], `dynamic` is
   * 'reachable'). A VXLAN device's FDB refuses a state without 'permanent' or 'reachable'.
   */
  state?: NeighState | NeighState[];
  /** FDB: the entry lives in the device's own table (NTF_SELF, `bridge fdb … self`; the default). */
  self?: boolean;
  /**
   * FDB: the entry lives in the master bridge's table (NTF_MASTER, `bridge fdb … master`). Read back,
   * an entry of the bridge's table has it (the kernel marks those with NDA_MASTER, not NTF_MASTER).
   */
  master?: boolean;
  /** Neighbour is a router (NTF_ROUTER, `ip -6 neigh … router`). */
  router?: boolean;
  /** FDB on VXLAN: the remote's VNI (NDA_VNI, `bridge fdb … vni N`). */
  vni?: number;
  /** FDB on VXLAN: the remote's UDP port (NDA_PORT, `bridge fdb … port N`). */
  port?: number;
}

/** A neighbour or FDB entry as the kernel reports it; a valid NeighSpec for del/set. */
export interface Neigh extends NeighSpec {
  family: NeighFamily;
  dev: number;
  state: NeighState[];
  /** FDB: the bridge the port belongs to (NDA_MASTER). */
  bridge?: number;
}

export interface NeighFilter {
  dev?: LinkRef;
  family?: NeighFamily;
  /** Entries in any of these states. */
  state?: NeighState | NeighState[];
}

/** A neighbour spec that cannot be sent as given. Nothing was sent. */
export class NeighSpecError extends SpecError {
  static override readonly subject = 'neighbour ';
}

const STATES = new NameTable<NeighState>([
  ['incomplete', NUD_INCOMPLETE],
  ['reachable', NUD_REACHABLE],
  ['stale', NUD_STALE],
  ['delay', NUD_DELAY],
  ['probe', NUD_PROBE],
  ['failed', NUD_FAILED],
  ['noarp', NUD_NOARP],
  ['permanent', NUD_PERMANENT],
]);

export class NeighApi {
  readonly #sock: Transport;

  constructor(sock: Transport) {
    this.#sock = sock;
  }

  /** `ip neigh replace DST lladdr MAC dev DEV nud STATE` / `bridge fdb replace MAC dev DEV [dst IP]`. */
  set(n: NeighSpec): void {
    this.#send(RTM_NEWNEIGH, n, NLM_F_CREATE | NLM_F_REPLACE);
  }

  /** `ip neigh add …` / `bridge fdb add …`: fails with EEXIST if the entry exists. */
  add(n: NeighSpec): void {
    this.#send(RTM_NEWNEIGH, n, NLM_F_CREATE | NLM_F_EXCL);
  }

  /**
   * `bridge fdb append MAC dev VXLAN dst IP`: adds another remote for the same MAC (the all-zeros
   * MAC with several dsts is VXLAN head-end replication for broadcast traffic).
   */
  append(n: NeighSpec): void {
    this.#send(RTM_NEWNEIGH, n, NLM_F_CREATE | NLM_F_APPEND);
  }

  /** `ip neigh del DST dev DEV` / `bridge fdb del MAC dev DEV [dst IP]`. */
  del(n: NeighSpec): void {
    this.#send(RTM_DELNEIGH, n, 0);
  }

  /**
   * Many `ip neigh replace` / `bridge fdb replace` in one batch (`ip -batch`, pipelined like
   * `route.replaceMany`); one result per entry: undefined or the error. Give devices as ifindexes:
   * a name costs a lookup per entry.
   */
  setMany(ns: readonly NeighSpec[]): (Error | undefined)[] {
    return this.#batch(RTM_NEWNEIGH, ns, NLM_F_CREATE | NLM_F_REPLACE);
  }

  /** Many `ip neigh del` / `bridge fdb del` in one batch; one result per entry. */
  delMany(ns: readonly NeighSpec[]): (Error | undefined)[] {
    return this.#batch(RTM_DELNEIGH, ns, 0);
  }

  #batch(type: number, ns: readonly NeighSpec[], flags: number): (Error | undefined)[] {
    // New permanent entries in the common IPv4 shape as bodies that write themselves (request-bodies.ts;
    // explainState has nothing to add for a permanent entry); the rest as built here.
    const reqs = ns.map((n) => (type === RTM_NEWNEIGH ? neighRequest(n, flags) : undefined) ?? this.#message(type, n, flags));
    return this.#sock.batch(reqs).map((err, i) => (err === undefined ? undefined : explainState(err, reqs[i]!)));
  }

  /**
   * `ip neigh show [dev DEV] [nud STATE]` (IPv4 and IPv6 unless `family` says which), or with
   * family 'bridge' `bridge fdb show [dev DEV]`. The kernel filters by device; state is matched here.
   * With a `cache` (`new DumpCache()`, kept between calls), an entry whose bytes the last listing
   * through it held too (its ages aside) is not decoded again: it comes back as the same, read-only,
   * object.
   */
  list(filter: NeighFilter = {}, cache?: DumpCache<Neigh>): Neigh[] {
    const family = filter.family;
    const bridge = family === 'bridge';
    const header = ndmsg(family === undefined ? AF_UNSPEC : afOfNeigh(family));
    const attrs: Attrs = {};
    if (filter.dev !== undefined) {
      // FDB dumps take the port in the header; neighbour dumps refuse that and want NDA_IFINDEX.
      const index = this.#index(filter.dev);
      if (bridge) header.ndm_ifindex = index;
      else attrs.NDA_IFINDEX = index;
    }
    const wanted = filter.state === undefined ? 0 : stateBits(filter.state);
    const decode = (m: NlMessage): Neigh | undefined => {
      if (m.type !== RTM_NEWNEIGH) return undefined;
      if (wanted !== 0 && ((m.header.ndm_state ?? 0) & wanted) === 0) return undefined;
      return decodeNeigh(m);
    };
    const read = (buf: Buffer, off: number, end: number): Neigh | undefined | null => {
      if (buf.readUInt16LE(off + 4) !== RTM_NEWNEIGH) return undefined;
      const n = readNeigh(buf, off, end);
      if (n === undefined) return null;
      return wanted !== 0 && (buf.readUInt16LE(off + 16 + NDMSG.at.ndm_state) & wanted) === 0 ? undefined : n;
    };
    // NDA_CACHEINFO counts the time since the entry was used or confirmed: it ages without a change.
    return dumpDecoded(this.#sock, { type: RTM_GETNEIGH, header, attrs }, decode, cache, NDA_CACHEINFO, read);
  }

  #index(ref: LinkRef): number {
    return linkIndex(this.#sock, ref, 'dev');
  }

  #send(type: number, n: NeighSpec, flags: number): void {
    const req = this.#message(type, n, flags);
    try {
      this.#sock.request(req);
    } catch (err) {
      throw explainState(err, req);
    }
  }

  #message(type: number, n: NeighSpec, flags: number): Request {
    if (n === null || typeof n !== 'object') throw new NeighSpecError('spec', n, 'expected an object');
    if (n.dev === undefined) throw new NeighSpecError('dev', n.dev, 'a device is required');
    const family = neighFamily(n);
    const bridge = family === 'bridge';
    const header = ndmsg(afOfNeigh(family));
    const attrs: Attrs = {};
    if (n.dst !== undefined) attrs.NDA_DST = parseIp(n.dst).address;
    if (n.lladdr !== undefined) attrs.NDA_LLADDR = parseMac(n.lladdr);
    if (bridge && n.lladdr === undefined) throw new NeighSpecError('lladdr', n.lladdr, 'an FDB entry needs a MAC');
    if (n.vni !== undefined) attrs.NDA_VNI = checkRange('vni', n.vni, 0xffffff);
    if (n.port !== undefined) attrs.NDA_PORT = checkRange('port', n.port, 0xffff);
    header.ndm_state = n.state === undefined ? (bridge ? FDB_DEFAULT_STATE : NUD_PERMANENT) : stateBits(n.state);
    // `bridge fdb` assumes `self` unless told `master`, so the entry lands in the device's own table.
    const master = checkFlag(NeighSpecError, 'master', n.master);
    const router = checkFlag(NeighSpecError, 'router', n.router);
    const self = n.self === undefined ? bridge && !master : checkFlag(NeighSpecError, 'self', n.self);
    header.ndm_flags = (self ? NTF_SELF : 0) | (master ? NTF_MASTER : 0) | (router ? NTF_ROUTER : 0);
    header.ndm_ifindex = this.#index(n.dev);
    return { type, flags, header, attrs };
  }
}

/** What `bridge fdb` sends without a state word. NOARP alone is refused by VXLAN ("invalid state 0x40"). */
const FDB_DEFAULT_STATE = NUD_NOARP | NUD_PERMANENT;

/**
 * The kernel refuses an FDB entry's state with a bare EINVAL (its reason goes to the kernel log only):
 * a VXLAN device's table needs permanent or reachable, a plain device's own needs permanent (a
 * bridge's also takes noarp alone). So an unexplained EINVAL for a state without permanent names it.
 */
function explainState<E>(err: E, req: Request): E {
  const state = req.header.ndm_state ?? 0;
  if (
    err instanceof NetlinkError &&
    err.code === 'EINVAL' &&
    err.extack === undefined &&
    req.header.ndm_family === AF_BRIDGE &&
    (state & NUD_PERMANENT) === 0
  ) {
    const names = stateNames(state).join(', ') || 'none';
    err.message +=
      ` — probably the FDB entry's state ${names} (0x${state.toString(16)}): a VXLAN device needs 'permanent' ` +
      "or 'reachable', a plain device 'permanent' (`bridge fdb` sends ['noarp', 'permanent'] by default, " +
      "['noarp', 'reachable'] for static)";
  }
  return err;
}

function ndmsg(family: number): Record<string, number> {
  return { ndm_family: family, ndm_pad1: 0, ndm_pad2: 0, ndm_ifindex: 0, ndm_state: 0, ndm_flags: 0, ndm_type: 0 };
}

function afOfNeigh(family: NeighFamily): number {
  if (family === 'bridge') return AF_BRIDGE;
  if (family === 4) return AF_INET;
  if (family === 6) return AF_INET6;
  throw new NeighSpecError('family', family, "expected 4, 6 or 'bridge'");
}

function neighFamily(n: NeighSpec): NeighFamily {
  if (n.family === 'bridge') return 'bridge';
  if (n.dst === undefined) throw new NeighSpecError('dst', n.dst, "an IP neighbour needs dst (or family 'bridge' for FDB)");
  const family = parseIp(n.dst).family;
  if (n.family !== undefined && n.family !== family) {
    throw new NeighSpecError('family', n.family, `does not match dst ${JSON.stringify(n.dst)}`);
  }
  return family;
}

function stateBits(state: NeighState | NeighState[]): number {
  let bits = 0;
  for (const name of Array.isArray(state) ? state : [state]) {
    bits |= STATES.number(name, (expected) => new NeighSpecError('state', name, expected));
  }
  return bits;
}

function stateNames(bits: number): NeighState[] {
  // An entry has one state bit as a rule: a one-element list then, made at its length (pushing to an
  // empty list reserves room for 17, kept by every entry of a dump that is kept).
  let out: NeighState[] | undefined;
  for (const [name, bit] of STATES.entries) if (bits & bit) out = out === undefined ? [name] : [...out, name];
  return out ?? [];
}

function checkRange(field: string, v: number, max: number): number {
  return checkInteger(NeighSpecError, field, v, 0, max);
}

/** Kernel message → Neigh. */
export function decodeNeigh(m: NlMessage): Neigh {
  const h = m.header;
  const { NDA_DST: dst, NDA_LLADDR: lladdr, NDA_VNI: vni, NDA_PORT: port, NDA_MASTER: bridge } = m.attrs;
  return neighOf(
    h.ndm_family ?? 0,
    h.ndm_flags ?? 0,
    h.ndm_ifindex ?? 0,
    stateNames(h.ndm_state ?? 0),
    typeof dst === 'string' ? dst : undefined,
    typeof lladdr === 'string' ? lladdr : undefined,
    typeof vni === 'number' ? vni : undefined,
    typeof port === 'number' ? port : undefined,
    bridge !== undefined,
    typeof bridge === 'number' ? bridge : undefined,
  );
}

const NDMSG = headerLayout(RTM_NEWNEIGH, ['ndm_family', 'ndm_flags', 'ndm_ifindex', 'ndm_state']);
const neighScan = new AttrScan(NDMSG.attrs);

// A cached listing's values are read-only: its thousands of entries share one frozen list per state.
const statesByBits = new Map<number, NeighState[]>();

function sharedStates(bits: number): NeighState[] {
  let list = statesByBits.get(bits);
  if (list === undefined) statesByBits.set(bits, (list = Object.freeze(stateNames(bits)) as NeighState[]));
  return list;
}

/**
 * decodeNeigh of the RTM_NEWNEIGH at `buf[off, end)`, read from its bytes (a dump's fast
 * path, see codec.ts AttrScan; its `state` a shared, frozen list); undefined when the message needs
 * the generic decode.
 */
export function readNeigh(buf: Buffer, off: number, end: number): Neigh | undefined {
  const h = off + 16;
  const s = neighScan;
  if (end - h < NDMSG.size || !s.scan(buf, off + NDMSG.attrsAt, end)) return undefined;
  return neighOf(
    buf[h + NDMSG.at.ndm_family]!,
    buf[h + NDMSG.at.ndm_flags]!,
    buf.readInt32LE(h + NDMSG.at.ndm_ifindex),
    sharedStates(buf.readUInt16LE(h + NDMSG.at.ndm_state)),
    s.ip(buf, NDA_DST),
    s.mac(buf, NDA_LLADDR),
    s.u32(buf, NDA_VNI),
    s.be16(buf, NDA_PORT),
    s.at(NDA_MASTER) >= 0,
    s.u32(buf, NDA_MASTER),
  );
}

/**
 * What keys the IPv4 or bridge RTM_NEWNEIGH at `buf[off, end)` as isNeigh reads it (`dst`, `lladdr`:
 * undefined when absent), in one object overwritten by the next call; undefined for another message.
 */
export function neighAt(
  buf: Buffer,
  off: number,
  end: number,
): { family: 4 | 'bridge'; dev: number; dst: string | undefined; lladdr: string | undefined } | undefined {
  const h = off + 16;
  const s = neighScan;
  const af = buf[h + NDMSG.at.ndm_family];
  if (buf.readUInt16LE(off + 4) !== RTM_NEWNEIGH || end - h < NDMSG.size || af === AF_INET6 || !s.scan(buf, off + NDMSG.attrsAt, end)) return undefined;
  peeked.family = af === AF_BRIDGE ? 'bridge' : 4;
  peeked.dev = buf.readInt32LE(h + NDMSG.at.ndm_ifindex);
  peeked.dst = s.ip(buf, NDA_DST);
  peeked.lladdr = s.mac(buf, NDA_LLADDR);
  return peeked;
}
const peeked: { family: 4 | 'bridge'; dev: number; dst: string | undefined; lladdr: string | undefined } = {
  family: 4,
  dev: 0,
  dst: undefined,
  lladdr: undefined,
};

/**
 * Whether the RTM_NEWNEIGH at `buf[off, end)` is `n` field for field — readNeigh would give an entry
 * with exactly n's fields and values — checked on the bytes, nothing decoded (a dump's known records,
 * see DumpCache.known). False when unsure: an IPv6 neighbour or remote, or an entry the fast path
 * leaves to the generic decode.
 */
export function isNeigh(n: Neigh, buf: Buffer, off: number, end: number): boolean {
  const h = off + 16;
  const s = neighScan;
  const af = buf[h + NDMSG.at.ndm_family];
  if (buf.readUInt16LE(off + 4) !== RTM_NEWNEIGH || end - h < NDMSG.size || af === AF_INET6 || !s.scan(buf, off + NDMSG.attrsAt, end)) return false;
  if (n.family !== (af === AF_BRIDGE ? 'bridge' : 4) || n.dev !== buf.readInt32LE(h + NDMSG.at.ndm_ifindex)) return false;
  const states = sharedStates(buf.readUInt16LE(h + NDMSG.at.ndm_state));
  if (!Array.isArray(n.state) || n.state.length !== states.length) return false;
  for (let i = 0; i < states.length; i++) if (n.state[i] !== states[i]) return false;
  const dst = s.sameIPv4(buf, NDA_DST, n.dst);
  const vni = s.sameU32(buf, NDA_VNI, n.vni);
  const bridge = s.sameU32(buf, NDA_MASTER, n.bridge);
  if (dst < 0 || vni < 0 || bridge < 0) return false;
  let fields = 3 + dst + vni + bridge;
  const lladdr = s.at(NDA_LLADDR);
  if (lladdr >= 0) {
    if (!isMacText(n.lladdr, buf, lladdr, lladdr + s.len(NDA_LLADDR))) return false;
    fields++;
  }
  const port = s.be16(buf, NDA_PORT);
  if (port !== undefined) {
    if (n.port !== port) return false;
    fields++;
  }
  const flags = buf[h + NDMSG.at.ndm_flags]!;
  // As neighOf sets them.
  const self = sameFlag((flags & NTF_SELF) !== 0, n.self);
  const master = sameFlag((flags & NTF_MASTER) !== 0 || (af === AF_BRIDGE && (flags & NTF_SELF) === 0 && s.at(NDA_MASTER) >= 0), n.master);
  const router = sameFlag((flags & NTF_ROUTER) !== 0, n.router);
  if (self < 0 || master < 0 || router < 0) return false;
  return hasFields(n, fields + self + master + router);
}

/** A Neigh from what both decoders read (ndmsg's fields, the attributes as values or undefined), its fields always in this order. */
function neighOf(
  af: number,
  flags: number,
  dev: number,
  state: NeighState[],
  dst: string | undefined,
  lladdr: string | undefined,
  vni: number | undefined,
  port: number | undefined,
  hasMaster: boolean,
  bridge: number | undefined,
): Neigh {
  const n: Neigh = {
    family: af === AF_BRIDGE ? 'bridge' : af === AF_INET6 ? 6 : 4,
    dev,
    state,
  };
  if (dst !== undefined) n.dst = dst;
  if (lladdr !== undefined) n.lladdr = lladdr;
  if (flags & NTF_SELF) n.self = true;
  // An entry of a bridge's own table comes with NDA_MASTER and neither NTF_SELF nor NTF_MASTER.
  if (flags & NTF_MASTER || (af === AF_BRIDGE && !(flags & NTF_SELF) && hasMaster)) n.master = true;
  if (flags & NTF_ROUTER) n.router = true;
  if (vni !== undefined) n.vni = vni;
  if (port !== undefined) n.port = port;
  if (bridge !== undefined) n.bridge = bridge;
  return n;
}
