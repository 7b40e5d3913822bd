// Nexthop objects: RTM_NEWNEXTHOP / RTM_DELNEXTHOP / RTM_GETNEXTHOP as typed objects — `ip nexthop …`.
// A nexthop object is a gateway and device kept once by the kernel under a numeric id; routes point
// at it with `nhid` (RouteSpec.nhid). Why they exist for netboot: the kernel hashes a plain route's
// fib_info by device, protocol, scope and metric but not by gateway, so N peer routes through one
// device cost O(N²) to insert; routes through nexthop objects share none of that, and a peer whose
// node IP changes is one nexthop replace whatever number of routes use it.
// Only single nexthops (gateway and/or device) are built here; groups and blackholes decode as bytes.
import { AttrScan, hasFields, headerLayout, sameFlag, type Attrs, type NlMessage } from './netlink/codec.js';
import { dumpDecoded, type Request, type Transport } from './netlink/socket.js';
import type { DumpCache } from './netlink/dump-cache.js';
import {
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  NHA_BLACKHOLE,
  NHA_GATEWAY,
  NHA_GROUP,
  NHA_ID,
  NHA_OIF,
  RTM_DELNEXTHOP,
  RTM_GETNEXTHOP,
  RTM_NEWNEXTHOP,
  RTNH_F_ONLINK,
  RTPROT_UNSPEC,
} from './netlink/generated/index.js';
import { parseIp, type IpFamily } from './base/ip.js';
import { checkLinkRef, linkIndex, type LinkRef } from './link.js';
import { nexthopRequest } from './request-bodies.js';
import { checkFlag, checkInteger, SpecError } from './errors.js';

export interface NexthopObjectSpec {
  /** The nexthop's id, 1..4294967295 (`ip nexthop … id N`); routes name it with `nhid`. */
  id: number;
  /** IPv4 or IPv6 gateway (`via A`). */
  gateway?: string;
  dev?: LinkRef;
  /** The gateway is on the link even without a matching prefix (`onlink`). */
  onlink?: boolean;
  /** nh_protocol (`proto P`); default 0, as `ip nexthop add` sends without `proto`. */
  protocol?: number;
  /** Needed only without a gateway; otherwise taken from it. Default 4. */
  family?: IpFamily;
  /**
   * `gateway` as the caller already parsed it, an IPv4 address as a number (first octet highest):
   * replaceMany then writes it without parsing the text again. Used only while `text` is `gateway`
   * itself; the value must be gateway's, nothing checks it. Not sent, not reported.
   */
  gatewayParsed?: { readonly text: string; readonly value: number };
}

/** A nexthop object as the kernel reports it: devices as ifindexes. */
export interface NexthopObject extends NexthopObjectSpec {
  family: IpFamily;
  protocol: number;
  dev?: number;
  /** A group (NHA_GROUP) or blackhole: not buildable here, reported so it is not mistaken for a gateway. */
  kind: 'single' | 'group' | 'blackhole';
}

export interface NexthopFilter {
  /** Only nexthops through this device (the kernel filters, NHA_OIF). */
  dev?: LinkRef;
  /** Only this family (the kernel filters, nh_family). */
  family?: IpFamily;
  /** Only this nh_protocol (matched here: the kernel does not filter by it). */
  protocol?: number;
}

/** A nexthop spec that cannot be sent as given. Nothing was sent. */
export class NexthopSpecError extends SpecError {
  static override readonly subject = 'nexthop ';
}

const ADD = NLM_F_CREATE | NLM_F_EXCL;
const REPLACE = NLM_F_CREATE | NLM_F_REPLACE;

type NhMsg = { nh_family: number; nh_scope: number; nh_protocol: number; resvd: number; nh_flags: number };

const nhmsg = (family: number): NhMsg => ({ nh_family: family, nh_scope: 0, nh_protocol: 0, resvd: 0, nh_flags: 0 });

export class NexthopApi {
  readonly #sock: Transport;

  constructor(sock: Transport) {
    this.#sock = sock;
  }

  /** `ip nexthop add id N via A dev D [onlink] [proto P]`: fails with EEXIST if the id is taken. */
  add(nh: NexthopObjectSpec): void {
    this.#sock.request(this.#newNexthop(nh, ADD, this.#resolver()));
  }

  /** `ip nexthop replace id N …`: creates it or overwrites the one with that id (routes using it follow). */
  replace(nh: NexthopObjectSpec): void {
    this.#sock.request(this.#newNexthop(nh, REPLACE, this.#resolver()));
  }

  /** `ip nexthop del id N`: the kernel also drops every route using it, without a RTM_DELROUTE. */
  del(id: number): void {
    this.#sock.request(delNexthop(id));
  }

  /** Many `ip nexthop replace`s in one batch (`ip -batch`); one result per nexthop: undefined or the error. */
  replaceMany(nexthops: readonly NexthopObjectSpec[]): (Error | undefined)[] {
    const resolve = this.#resolver(new Map());
    // The common IPv4 shape as a body that writes itself (request-bodies.ts); the rest as built here.
    return this.#sock.batch(nexthops.map((nh) => nexthopRequest(nh, REPLACE, resolve) ?? this.#newNexthop(nh, REPLACE, resolve)));
  }

  /** Many `ip nexthop del id N`s in one batch; one result per id. */
  delMany(ids: readonly number[]): (Error | undefined)[] {
    return this.#sock.batch(ids.map(delNexthop));
  }

  /** `ip nexthop get id N`: NotFound (ENOENT) if there is none. */
  get(id: number): NexthopObject {
    const replies = this.#sock.request({ type: RTM_GETNEXTHOP, header: nhmsg(AF_UNSPEC), attrs: { NHA_ID: checkId(id) } });
    const reply = replies.find((m) => m.type === RTM_NEWNEXTHOP);
    if (!reply) throw new NexthopSpecError('id', id, 'the kernel returned no nexthop');
    return decodeNexthop(reply);
  }

  /**
   * `ip nexthop show [dev D] [-4|-6] [proto P]`. Fails with EOPNOTSUPP on a kernel without nexthop
   * objects (before 5.3), which makes an empty list the cheapest probe for them. With a `cache`
   * (`new DumpCache()`, kept between calls), a nexthop whose bytes the last listing through it held
   * too is not decoded again: it comes back as the same, read-only, object.
   */
  list(filter: NexthopFilter = {}, cache?: DumpCache<NexthopObject>): NexthopObject[] {
    const family = filter.family === undefined ? AF_UNSPEC : afOf(checkFamily(filter.family));
    const attrs: Attrs = {};
    if (filter.dev !== undefined) attrs.NHA_OIF = this.#resolver()(checkLinkRef('dev', filter.dev));
    const decode = (m: NlMessage): NexthopObject | undefined => {
      if (m.type !== RTM_NEWNEXTHOP) return undefined;
      const nh = decodeNexthop(m);
      return filter.protocol === undefined || nh.protocol === filter.protocol ? nh : undefined;
    };
    const read = (buf: Buffer, off: number, end: number): NexthopObject | undefined | null => {
      if (buf.readUInt16LE(off + 4) !== RTM_NEWNEXTHOP) return undefined;
      const nh = readNexthop(buf, off, end);
      return nh === undefined ? null : filter.protocol === undefined || nh.protocol === filter.protocol ? nh : undefined;
    };
    return dumpDecoded(this.#sock, { type: RTM_GETNEXTHOP, header: nhmsg(family), attrs }, decode, cache, -1, read);
  }

  /** Device name → ifindex; a batch passes a cache, as thousands of nexthops name the same few devices. */
  #resolver(cache?: Map<string, number>): (ref: LinkRef) => number {
    return (ref) => {
      if (typeof ref === 'number') return ref;
      let index = cache?.get(ref);
      if (index === undefined) {
        index = linkIndex(this.#sock, ref);
        cache?.set(ref, index);
      }
      return index;
    };
  }

  #newNexthop(spec: NexthopObjectSpec, flags: number, resolve: (ref: LinkRef) => number): Request {
    if (spec === null || typeof spec !== 'object') throw new NexthopSpecError('spec', spec, 'expected an object');
    const attrs: Attrs = { NHA_ID: checkId(spec.id) };
    let family = spec.family === undefined ? undefined : checkFamily(spec.family);
    if (spec.gateway !== undefined) {
      const gw = parseIp(spec.gateway);
      if (family !== undefined && gw.family !== family) throw new NexthopSpecError('gateway', spec.gateway, `is IPv${gw.family} in an IPv${family} nexthop`);
      family = gw.family;
      attrs.NHA_GATEWAY = gw.address;
    }
    if (spec.dev !== undefined) attrs.NHA_OIF = resolve(checkLinkRef('dev', spec.dev));
    else if (spec.gateway === undefined) throw new NexthopSpecError('dev', spec.dev, 'a nexthop needs a gateway, a device or both');
    const header = nhmsg(afOf(family ?? 4));
    header.nh_protocol = checkInteger(NexthopSpecError, 'protocol', spec.protocol ?? RTPROT_UNSPEC, 0, 255);
    if (checkFlag(NexthopSpecError, 'onlink', spec.onlink)) header.nh_flags = RTNH_F_ONLINK;
    return { type: RTM_NEWNEXTHOP, flags, header, attrs };
  }
}

function delNexthop(id: number): Request {
  return { type: RTM_DELNEXTHOP, header: nhmsg(AF_UNSPEC), attrs: { NHA_ID: checkId(id) } };
}

/** Kernel message → NexthopObject. */
export function decodeNexthop(m: NlMessage): NexthopObject {
  const h = m.header;
  const a = m.attrs;
  return nexthopOf(
    h.nh_family ?? 0,
    h.nh_protocol ?? 0,
    h.nh_flags ?? 0,
    typeof a.NHA_ID === 'number' ? a.NHA_ID : undefined,
    a.NHA_GROUP !== undefined,
    a.NHA_BLACKHOLE !== undefined,
    typeof a.NHA_GATEWAY === 'string' ? a.NHA_GATEWAY : undefined,
    typeof a.NHA_OIF === 'number' ? a.NHA_OIF : undefined,
  );
}

const NHMSG = headerLayout(RTM_NEWNEXTHOP, ['nh_family', 'nh_protocol', 'nh_flags']);
const nexthopScan = new AttrScan(NHMSG.attrs);

/**
 * decodeNexthop of the RTM_NEWNEXTHOP at `buf[off, end)`, read from its bytes (a dump's
 * fast path, see codec.ts AttrScan); undefined when the message needs the generic decode.
 */
export function readNexthop(buf: Buffer, off: number, end: number): NexthopObject | undefined {
  const h = off + 16;
  const s = nexthopScan;
  if (end - h < NHMSG.size || !s.scan(buf, off + NHMSG.attrsAt, end)) return undefined;
  return nexthopOf(
    buf[h + NHMSG.at.nh_family]!,
    buf[h + NHMSG.at.nh_protocol]!,
    buf.readUInt32LE(h + NHMSG.at.nh_flags),
    s.u32(buf, NHA_ID),
    s.at(NHA_GROUP) >= 0,
    s.at(NHA_BLACKHOLE) >= 0,
    s.ip(buf, NHA_GATEWAY),
    s.u32(buf, NHA_OIF),
  );
}

/** The id of the IPv4 RTM_NEWNEXTHOP at `buf[off, end)` as isNexthop reads it; -1 for another message. */
export function nexthopIdAt(buf: Buffer, off: number, end: number): number {
  const h = off + 16;
  const s = nexthopScan;
  if (buf.readUInt16LE(off + 4) !== RTM_NEWNEXTHOP || end - h < NHMSG.size || buf[h + NHMSG.at.nh_family] === AF_INET6) return -1;
  return s.scan(buf, off + NHMSG.attrsAt, end) ? (s.u32(buf, NHA_ID) ?? 0) : -1;
}

/**
 * Whether the RTM_NEWNEXTHOP at `buf[off, end)` is `nh` field for field — readNexthop would give one
 * with exactly nh's fields and values — checked on the bytes, nothing decoded (a dump's known records,
 * see DumpCache.known). False when unsure: an IPv6 nexthop, or one the fast path leaves to the generic
 * decode.
 */
export function isNexthop(nh: NexthopObject, buf: Buffer, off: number, end: number): boolean {
  const h = off + 16;
  const s = nexthopScan;
  if (buf.readUInt16LE(off + 4) !== RTM_NEWNEXTHOP || end - h < NHMSG.size || buf[h + NHMSG.at.nh_family] === AF_INET6) return false;
  if (!s.scan(buf, off + NHMSG.attrsAt, end) || nh.family !== 4 || nh.id !== (s.u32(buf, NHA_ID) ?? 0) || nh.protocol !== buf[h + NHMSG.at.nh_protocol])
    return false;
  if (nh.kind !== (s.at(NHA_GROUP) >= 0 ? 'group' : s.at(NHA_BLACKHOLE) >= 0 ? 'blackhole' : 'single')) return false;
  const gateway = s.sameIPv4(buf, NHA_GATEWAY, nh.gateway);
  const dev = s.sameU32(buf, NHA_OIF, nh.dev);
  const onlink = sameFlag((buf.readUInt32LE(h + NHMSG.at.nh_flags) & RTNH_F_ONLINK) !== 0, nh.onlink);
  if (gateway < 0 || dev < 0 || onlink < 0) return false;
  return hasFields(nh, 4 + gateway + dev + onlink);
}

/** A NexthopObject from what both decoders read (nhmsg's fields, the attributes as values, undefined or whether present), its fields always in this order. */
function nexthopOf(
  af: number,
  protocol: number,
  flags: number,
  id: number | undefined,
  group: boolean,
  blackhole: boolean,
  gateway: string | undefined,
  dev: number | undefined,
): NexthopObject {
  const nh: NexthopObject = { id: id ?? 0, family: af === AF_INET6 ? 6 : 4, protocol, kind: group ? 'group' : blackhole ? 'blackhole' : 'single' };
  if (gateway !== undefined) nh.gateway = gateway;
  if (dev !== undefined) nh.dev = dev;
  if (flags & RTNH_F_ONLINK) nh.onlink = true;
  return nh;
}

function afOf(family: IpFamily): number {
  return family === 6 ? AF_INET6 : AF_INET;
}

function checkFamily(family: unknown): IpFamily {
  if (family !== 4 && family !== 6) throw new NexthopSpecError('family', family, 'expected 4 or 6');
  return family;
}

function checkId(id: number): number {
  return checkInteger(NexthopSpecError, 'id', id, 1, 0xffffffff);
}
