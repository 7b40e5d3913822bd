// Routes: RTM_NEWROUTE / RTM_DELROUTE / RTM_GETROUTE as typed objects, with `ip route`'s defaults.
// A `Route` read back from the kernel is itself a valid `RouteSpec`, so `replace(list()[0])` and
// `del(route)` address exactly that route.
import { AttrScan, hasFields, headerLayout, sameFlag, type Attrs, type NlMessage } from './netlink/codec.js';
import { dumpDecoded, type Request, type Transport } from './netlink/socket.js';
import type { DumpCache } from './netlink/dump-cache.js';
import {
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  NLM_F_APPEND,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  RTM_DELROUTE,
  RTA_CACHEINFO,
  RTA_DST,
  RTA_GATEWAY,
  RTA_NH_ID,
  RTA_OIF,
  RTA_PREFSRC,
  RTA_PRIORITY,
  RTA_TABLE,
  RTM_F_FIB_MATCH,
  RTM_GETROUTE,
  RTM_NEWROUTE,
  RTNH_F_ONLINK,
  RTPROT_BOOT,
  RTPROT_UNSPEC,
  RT_SCOPE_HOST,
  RT_SCOPE_LINK,
  RT_SCOPE_NOWHERE,
  RT_SCOPE_SITE,
  RT_SCOPE_UNIVERSE,
  RT_TABLE_MAIN,
  RT_TABLE_UNSPEC,
  RTN_ANYCAST,
  RTN_BLACKHOLE,
  RTN_BROADCAST,
  RTN_LOCAL,
  RTN_MULTICAST,
  RTN_NAT,
  RTN_PROHIBIT,
  RTN_THROW,
  RTN_UNICAST,
  RTN_UNREACHABLE,
  RTN_UNSPEC,
  RTN_XRESOLVE,
} from './netlink/generated/index.js';
import { isNotFound, NetlinkDecodeError } from './netlink/errors.js';
import { attrHops, attrNest, type HeaderAttrs } from './netlink/values.js';
import { bitsOf, decimalValue, ipv4Value, isIPv4PrefixText, networkOf, parseIp, parseNetwork, type IpFamily, type ParsedIp } from './base/ip.js';
import { linkIndex, type LinkRef } from './link.js';
import { routeRequest } from './request-bodies.js';
import { checkFlag, checkInteger, SpecError } from './errors.js';
import { NameTable } from './name-table.js';

export type RouteType =
  | 'unspec'
  | 'unicast'
  | 'local'
  | 'broadcast'
  | 'anycast'
  | 'multicast'
  | 'blackhole'
  | 'unreachable'
  | 'prohibit'
  | 'throw'
  | 'nat'
  | 'xresolve';

/** Scope by `ip`'s name, or the raw number for scopes without one. */
export type RouteScope = 'universe' | 'site' | 'link' | 'host' | 'nowhere' | number;

export interface Nexthop {
  gateway?: string;
  dev?: LinkRef;
  /** 1..256, like `ip route … nexthop … weight N`. */
  weight?: number;
  onlink?: boolean;
}

export interface RouteSpec {
  /** 'default', a CIDR ('10.244.2.0/24'), or a bare address meaning a host route. */
  dst: string;
  /** Needed only for 'default' routes without a gateway; otherwise taken from dst/gateway. */
  family?: IpFamily;
  gateway?: string;
  dev?: LinkRef;
  /** Routing table id; default main (254). Ids above 255 are carried in RTA_TABLE. */
  table?: number;
  /** rtm_protocol; default RTPROT_BOOT (3), as `ip route add` sends. */
  protocol?: number;
  type?: RouteType;
  /** Default computed like `ip`: 'link' for an IPv4 unicast route without a gateway, else 'universe'. */
  scope?: RouteScope;
  /** Preferred source address (RTA_PREFSRC, `ip route … src`). */
  src?: string;
  /** RTA_PRIORITY (`ip route … metric N`). */
  metric?: number;
  /** RTA_METRICS/RTAX_MTU (`ip route … mtu N`). */
  mtu?: number;
  /** RTNH_F_ONLINK: the gateway is on the link even without a matching prefix. */
  onlink?: boolean;
  /** Multipath (`ip route … nexthop via A dev X nexthop via B dev Y`); excludes gateway/dev. */
  nexthops?: Nexthop[];
  /**
   * A nexthop object (RTA_NH_ID, `ip route … nhid N`; see NexthopApi). The route then goes where
   * the nexthop says: gateway, dev, onlink and nexthops are not sent (routes the kernel reports
   * with one also carry its gateway and device, so a listed route still addresses itself).
   */
  nhid?: number;
  /**
   * `dst` as the caller already parsed it, an IPv4 network as a number (first octet highest) and its
   * length: a batch (addMany, replaceMany) then writes it without parsing the text again. Used only
   * while `text` is `dst` itself (a copy whose dst changed is parsed as usual); the value must be
   * dst's, nothing checks it. Not sent, not reported.
   */
  dstParsed?: { readonly text: string; readonly value: number; readonly prefixLen: number };
  /** `gateway` as the caller already parsed it, an IPv4 address, on the terms of dstParsed. */
  gatewayParsed?: { readonly text: string; readonly value: number };
}

/** A route as the kernel reports it; every field `RouteSpec` has, with devices as ifindexes. */
export interface Route extends RouteSpec {
  family: IpFamily;
  table: number;
  protocol: number;
  type: RouteType;
  scope: RouteScope;
  dev?: number;
  nexthops?: (Nexthop & { dev?: number })[];
}

export interface RouteFilter {
  /** A table id, or 'all'; default main. */
  table?: number | 'all';
  protocol?: number;
  type?: RouteType;
  /** Exact destination ('default' or CIDR). */
  dst?: string;
  dev?: LinkRef;
  family?: IpFamily;
}

export interface RouteGetOptions {
  /** Pretend the packet comes from this source address (`ip route get … from A`). */
  src?: string;
  /** Force the output device (`ip route get … oif DEV`). */
  dev?: LinkRef;
  /** Firewall mark (`ip route get … mark N`). */
  mark?: number;
  /** Return the matching FIB entry rather than the resolved host route (`ip route get … fibmatch`). */
  fibMatch?: boolean;
}

/** A route spec that cannot be sent as given. Nothing was sent. */
export class RouteSpecError extends SpecError {
  static override readonly subject = 'route ';
}

const TYPES = new NameTable<RouteType>([
  ['unspec', RTN_UNSPEC],
  ['unicast', RTN_UNICAST],
  ['local', RTN_LOCAL],
  ['broadcast', RTN_BROADCAST],
  ['anycast', RTN_ANYCAST],
  ['multicast', RTN_MULTICAST],
  ['blackhole', RTN_BLACKHOLE],
  ['unreachable', RTN_UNREACHABLE],
  ['prohibit', RTN_PROHIBIT],
  ['throw', RTN_THROW],
  ['nat', RTN_NAT],
  ['xresolve', RTN_XRESOLVE],
]);

const SCOPES = new NameTable<Exclude<RouteScope, number>>([
  ['universe', RT_SCOPE_UNIVERSE],
  ['site', RT_SCOPE_SITE],
  ['link', RT_SCOPE_LINK],
  ['host', RT_SCOPE_HOST],
  ['nowhere', RT_SCOPE_NOWHERE],
]);

// The verb ↔ flag table every rtnetlink client agrees on (vishvananda/netlink, iproute2).
const ADD = NLM_F_CREATE | NLM_F_EXCL;
const REPLACE = NLM_F_CREATE | NLM_F_REPLACE;
const CHANGE = NLM_F_REPLACE;
const APPEND = NLM_F_CREATE | NLM_F_APPEND;

/** A device (checked here: an ifindex or a valid name) → its ifindex; `field` names it in errors. */
type DevResolver = (ref: LinkRef, field: string) => number;

export class RouteApi {
  readonly #sock: Transport;
  /** Device name → ifindex, asked afresh each call (devices come and go between calls). */
  readonly #resolve: DevResolver;

  constructor(sock: Transport) {
    this.#sock = sock;
    this.#resolve = (ref, field) => linkIndex(sock, ref, field);
  }

  /** `ip route add …`: fails with EEXIST if the route exists. */
  add(route: RouteSpec): void {
    this.#sock.request(this.#newRoute(route, ADD, this.#resolve));
  }

  /** `ip route replace …`: creates the route or overwrites the one with the same key. */
  replace(route: RouteSpec): void {
    this.#sock.request(this.#newRoute(route, REPLACE, this.#resolve));
  }

  /** `ip route change …`: overwrites an existing route; fails (ENOENT/ESRCH) when there is none. */
  change(route: RouteSpec): void {
    this.#sock.request(this.#newRoute(route, CHANGE, this.#resolve));
  }

  /** `ip route append …`: adds another route with the same key (IPv6: another multipath leg). */
  append(route: RouteSpec): void {
    this.#sock.request(this.#newRoute(route, APPEND, this.#resolve));
  }

  /**
   * `ip route del …`: fields left out match any route (protocol, scope, type, gateway); a Route from
   * list() deletes exactly itself.
   */
  del(route: RouteSpec): void {
    this.#sock.request(this.#delRoute(route, this.#resolve));
  }

  /** Many `ip route add`s in one batch (`ip -batch`); one result per route: undefined or the error. */
  addMany(routes: readonly RouteSpec[]): (Error | undefined)[] {
    return this.#sock.batch(this.#newRoutes(routes, ADD));
  }

  /** Many `ip route replace`s in one batch; one result per route. */
  replaceMany(routes: readonly RouteSpec[]): (Error | undefined)[] {
    return this.#sock.batch(this.#newRoutes(routes, REPLACE));
  }

  /** Many `ip route del`s in one batch; one result per route. */
  delMany(routes: readonly RouteSpec[]): (Error | undefined)[] {
    const resolve = this.#cachingResolver();
    return this.#sock.batch(routes.map((r) => this.#delRoute(r, resolve)));
  }

  /** `ip route get ADDR [from SRC] [oif DEV] [mark N] [fibmatch]`: the route the kernel would use. */
  get(dst: string, opts: RouteGetOptions = {}): Route {
    const { family, address } = parseIp(dst);
    const attrs: Attrs = { RTA_DST: address };
    if (opts.src !== undefined) attrs.RTA_SRC = sameFamily('src', opts.src, family);
    if (opts.dev !== undefined) attrs.RTA_OIF = this.#resolve(opts.dev, 'dev');
    if (opts.mark !== undefined) attrs.RTA_MARK = checkU32('mark', opts.mark);
    const header = rtmsg(family === 4 ? AF_INET : AF_INET6);
    header.rtm_dst_len = bitsOf(family);
    if (opts.src !== undefined) header.rtm_src_len = bitsOf(family);
    if (opts.fibMatch) header.rtm_flags = RTM_F_FIB_MATCH;
    const replies = this.#sock.request({ type: RTM_GETROUTE, header, attrs });
    const reply = replies.find((m) => m.type === RTM_NEWROUTE);
    // RTM_GETROUTE either answers with a route or refuses (ENETUNREACH…): a bare ACK is not the input's fault.
    if (!reply) throw new NetlinkDecodeError('the kernel acknowledged without a route', { messageType: 'RTM_GETROUTE', path: [], offset: 0 });
    return decodeRoute(reply);
  }

  /**
   * `ip route show [table N|all] [proto P] [type T] [dev D]` (+ exact `dst`). The kernel filters by
   * table, protocol, type and device (strict dump checking); the destination is matched here.
   * With a `cache` (`new DumpCache()`, kept between calls), a route whose bytes the last listing
   * through it held too is not decoded again: it comes back as the same, read-only, object.
   */
  list(filter: RouteFilter = {}, cache?: DumpCache<Route>): Route[] {
    const header = rtmsg(filter.family === undefined ? AF_UNSPEC : checkFamily(filter.family) === 4 ? AF_INET : AF_INET6);
    const attrs: Attrs = {};
    const table = filter.table ?? RT_TABLE_MAIN;
    if (table !== 'all') {
      checkTable(table);
      header.rtm_table = table > 255 ? RT_TABLE_UNSPEC : table;
      attrs.RTA_TABLE = table;
    }
    if (filter.protocol !== undefined) header.rtm_protocol = checkU8('protocol', filter.protocol);
    if (filter.type !== undefined) header.rtm_type = typeNumber(filter.type);
    if (filter.dev !== undefined) attrs.RTA_OIF = this.#resolve(filter.dev, 'dev');
    const wanted = filter.dst === undefined ? undefined : normaliseDst(filter.dst);
    const dst = wanted?.text;

    const decode = (m: NlMessage): Route | undefined => {
      if (m.type !== RTM_NEWROUTE) return undefined;
      // The kernel cannot filter a dump by destination: skip the routes of another prefix length
      // before decoding them (`default` among a node's thousands of peer routes, for the CNI plugin).
      if (wanted !== undefined && m.header.rtm_dst_len !== wanted.prefixLen) return undefined;
      const r = decodeRoute(m);
      return dst === undefined || r.dst === dst ? r : undefined;
    };
    const read = (buf: Buffer, off: number, end: number): Route | undefined | null => {
      if (buf.readUInt16LE(off + 4) !== RTM_NEWROUTE) return undefined;
      const r = readRoute(buf, off, end);
      return r === undefined ? null : dst === undefined || r.dst === dst ? r : undefined;
    };
    try {
      // IPv6 routes carry RTA_CACHEINFO, which the kernel may age: not a change of the route.
      return dumpDecoded(this.#sock, { type: RTM_GETROUTE, header, attrs }, decode, cache, RTA_CACHEINFO, read);
    } catch (e) {
      // A table that was never created (no route ever added to it) is simply empty.
      if (table !== 'all' && isNotFound(e)) return [];
      throw e;
    }
  }

  /** For one batch: thousands of routes usually name the same few devices; look each up once. */
  #cachingResolver(): DevResolver {
    const cache = new Map<string, number>();
    return (ref, field) => {
      if (typeof ref !== 'string') return this.#resolve(ref, field);
      let index = cache.get(ref);
      if (index === undefined) cache.set(ref, (index = this.#resolve(ref, field)));
      return index;
    };
  }

  /** A batch's requests: the common IPv4 shapes as bodies that write themselves (request-bodies.ts), the rest through encodeRoute. */
  #newRoutes(routes: readonly RouteSpec[], flags: number): Request[] {
    const resolve = this.#cachingResolver();
    const out = new Array<Request>(routes.length);
    for (let i = 0; i < routes.length; i++) {
      out[i] = routeRequest(routes[i]!, flags, resolve) ?? this.#newRoute(routes[i]!, flags, resolve);
    }
    return out;
  }

  #newRoute(spec: RouteSpec, flags: number, resolve: DevResolver): Request {
    const msg = encodeRoute(spec, resolve, false);
    return { type: RTM_NEWROUTE, flags, header: msg.header, attrs: msg.attrs };
  }

  #delRoute(spec: RouteSpec, resolve: DevResolver): Request {
    const msg = encodeRoute(spec, resolve, true);
    return { type: RTM_DELROUTE, header: msg.header, attrs: msg.attrs };
  }
}

// A type alias (not an interface) so it stays assignable to the codec's Record<string, number>.
type RtMsg = {
  rtm_family: number;
  rtm_dst_len: number;
  rtm_src_len: number;
  rtm_tos: number;
  rtm_table: number;
  rtm_protocol: number;
  rtm_scope: number;
  rtm_type: number;
  rtm_flags: number;
};

function rtmsg(family: number): RtMsg {
  return {
    rtm_family: family,
    rtm_dst_len: 0,
    rtm_src_len: 0,
    rtm_tos: 0,
    rtm_table: 0,
    rtm_protocol: 0,
    rtm_scope: 0,
    rtm_type: 0,
    rtm_flags: 0,
  };
}

interface Dst {
  family: IpFamily | undefined;
  address: string | undefined;
  prefixLen: number;
  text: string;
}

const DEFAULT_DST: Dst = { family: undefined, address: undefined, prefixLen: 0, text: 'default' };

/** 'default' | CIDR | bare address → parts and the text decodeRoute would produce for it. */
function normaliseDst(dst: string): Dst {
  if (dst === 'default') return DEFAULT_DST;
  if (typeof dst !== 'string') throw new RouteSpecError('dst', dst, "expected 'default', a CIDR or an address");
  const slash = dst.indexOf('/');
  const value = ipv4Value(dst, 0, slash < 0 ? dst.length : slash);
  const prefixLen = slash < 0 ? 32 : decimalValue(dst, slash + 1, 32);
  if (value >= 0 && prefixLen >= 0) {
    // A strict dotted quad is already canonical, so the input is the text.
    if (prefixLen < 32 && value % 2 ** (32 - prefixLen) !== 0) throw hostBitsError(dst, `${dst.slice(0, slash)}/${prefixLen}`);
    if (prefixLen === 0) return DEFAULT_DST;
    return { family: 4, address: slash < 0 ? dst : dst.slice(0, slash), prefixLen, text: slash < 0 ? `${dst}/32` : dst };
  }
  // IPv6, or malformed input that parseNetwork/parseIp reject with an InvalidAddressError naming it.
  const p = slash >= 0 ? parseNetwork(dst) : { ...hostPrefix(parseIp(dst)), hostBits: false };
  const text = `${p.address}/${p.prefixLen}`;
  if (p.hostBits) throw hostBitsError(dst, text);
  return p.prefixLen === 0 ? DEFAULT_DST : { family: p.family, address: p.address, prefixLen: p.prefixLen, text };
}

function hostPrefix(ip: { family: IpFamily; address: string }): { family: IpFamily; address: string; prefixLen: number } {
  return { ...ip, prefixLen: bitsOf(ip.family) };
}

// The kernel refuses IPv4 host bits but silently masks IPv6 ones; refuse both, naming the input.
function hostBitsError(dst: string, cidr: string): RouteSpecError {
  return new RouteSpecError('dst', dst, `host bits set (the network is ${networkOf(cidr)})`);
}

function encodeRoute(spec: RouteSpec, resolve: DevResolver, forDelete: boolean): { header: RtMsg; attrs: Attrs } {
  if (spec === null || typeof spec !== 'object') throw new RouteSpecError('spec', spec, 'expected an object');
  const dst = normaliseDst(spec.dst);
  // Parsed once: it hints the family of a default route and is then encoded as it is.
  const gateway = spec.gateway === undefined ? undefined : parseAddress(spec.gateway);
  const family = routeFamily(spec, dst, gateway?.family);
  const header = rtmsg(family === 4 ? AF_INET : AF_INET6);
  const attrs: Attrs = {};
  header.rtm_dst_len = dst.prefixLen;
  if (dst.address !== undefined && dst.prefixLen > 0) attrs.RTA_DST = dst.address;

  const table = spec.table ?? RT_TABLE_MAIN;
  checkTable(table);
  header.rtm_table = table > 255 ? RT_TABLE_UNSPEC : table;
  attrs.RTA_TABLE = table;

  // `ip route del` leaves protocol, type and scope as wildcards; add/replace fill in ip's defaults.
  header.rtm_protocol = checkU8('protocol', spec.protocol ?? (forDelete ? RTPROT_UNSPEC : RTPROT_BOOT));
  const type = spec.type === undefined ? (forDelete ? RTN_UNSPEC : RTN_UNICAST) : typeNumber(spec.type);
  header.rtm_type = type;

  if (spec.nexthops !== undefined && (spec.gateway !== undefined || spec.dev !== undefined)) {
    throw new RouteSpecError('nexthops', spec.nexthops, 'give either nexthops or gateway/dev, not both');
  }
  if (spec.nhid !== undefined) attrs.RTA_NH_ID = checkInteger(RouteSpecError, 'nhid', spec.nhid, 1, 0xffffffff);
  else {
    if (gateway !== undefined) attrs.RTA_GATEWAY = inFamily('gateway', spec.gateway, gateway, family);
    if (spec.dev !== undefined) attrs.RTA_OIF = resolve(spec.dev, 'dev');
    if (checkBool('onlink', spec.onlink)) header.rtm_flags |= RTNH_F_ONLINK;
  }
  if (spec.src !== undefined) attrs.RTA_PREFSRC = sameFamily('src', spec.src, family);
  if (spec.metric !== undefined) attrs.RTA_PRIORITY = checkU32('metric', spec.metric);
  if (spec.mtu !== undefined) attrs.RTA_METRICS = { RTAX_MTU: checkU32('mtu', spec.mtu) };
  if (spec.nexthops !== undefined && spec.nhid === undefined) attrs.RTA_MULTIPATH = encodeNexthops(spec.nexthops, family, resolve);

  header.rtm_scope =
    spec.scope !== undefined
      ? scopeNumber(spec.scope)
      : defaultScope(family, type, forDelete, spec.gateway !== undefined || spec.nexthops !== undefined || spec.nhid !== undefined);
  return { header, attrs };
}

/** iproute2's rule (iproute.c, iproute_modify) for a route given without `scope`. */
function defaultScope(family: IpFamily, type: number, forDelete: boolean, hasGateway: boolean): number {
  // IPv6 has no route scopes: `ip` always sends universe, and the kernel reports every IPv6 route so.
  if (family === 6) return RT_SCOPE_UNIVERSE;
  if (type === RTN_LOCAL || type === RTN_NAT) return RT_SCOPE_HOST;
  if (type === RTN_BROADCAST || type === RTN_MULTICAST || type === RTN_ANYCAST) return RT_SCOPE_LINK;
  if (type === RTN_UNICAST || type === RTN_UNSPEC) {
    if (forDelete) return RT_SCOPE_NOWHERE; // the kernel's "any scope" on delete
    if (!hasGateway) return RT_SCOPE_LINK;
  }
  return RT_SCOPE_UNIVERSE;
}

function routeFamily(spec: RouteSpec, dst: Dst, gatewayFamily: IpFamily | undefined): IpFamily {
  if (spec.family !== undefined) checkFamily(spec.family);
  const hint = dst.family ?? gatewayFamily ?? firstNexthopFamily(spec.nexthops) ?? spec.family ?? 4;
  if (spec.family !== undefined && spec.family !== hint) {
    throw new RouteSpecError('family', spec.family, `does not match dst ${JSON.stringify(spec.dst)}`);
  }
  return hint;
}

function firstNexthopFamily(nexthops: Nexthop[] | undefined): IpFamily | undefined {
  const gw = nexthops?.find((n) => n.gateway !== undefined)?.gateway;
  return gw === undefined ? undefined : parseIp(gw).family;
}

/** parseIp, with a strict dotted quad (already canonical) taken as it is without building anything. */
function parseAddress(address: string): ParsedIp {
  return typeof address === 'string' && ipv4Value(address, 0, address.length) >= 0 ? { family: 4, address } : parseIp(address);
}

/** The canonical text of a parsed address, if it is of the route's family; RouteSpecError naming `field` if not. */
function inFamily(field: string, given: unknown, p: ParsedIp, family: IpFamily): string {
  if (p.family !== family) throw new RouteSpecError(field, given, `is IPv${p.family} in an IPv${family} route`);
  return p.address;
}

function sameFamily(field: string, address: string, family: IpFamily): string {
  return inFamily(field, address, parseAddress(address), family);
}

function encodeNexthops(nexthops: Nexthop[], family: IpFamily, resolve: DevResolver): HeaderAttrs[] {
  if (!Array.isArray(nexthops) || nexthops.length === 0) {
    throw new RouteSpecError('nexthops', nexthops, 'expected a non-empty array');
  }
  return nexthops.map((nh) => {
    const weight = checkInteger(RouteSpecError, 'nexthops.weight', nh.weight ?? 1, 1, 256);
    const attrs: Attrs = {};
    if (nh.gateway !== undefined) attrs.RTA_GATEWAY = sameFamily('nexthops.gateway', nh.gateway, family);
    return {
      header: {
        rtnh_flags: checkBool('nexthops.onlink', nh.onlink) ? RTNH_F_ONLINK : 0,
        rtnh_hops: weight - 1,
        rtnh_ifindex: nh.dev === undefined ? 0 : resolve(nh.dev, 'nexthops.dev'),
      },
      attrs,
    };
  });
}

/** Kernel message → Route. */
export function decodeRoute(m: NlMessage): Route {
  const h = m.header;
  const a = m.attrs;
  // Scalars are narrowed with `typeof` in place (see netlink/values.ts): a helper imported from
  // another module costs a call per attribute here, measurably so in a 10,000-route dump.
  const { RTA_DST: dst, RTA_TABLE: table, RTA_GATEWAY: gateway, RTA_OIF: dev, RTA_PREFSRC: src, RTA_PRIORITY: metric, RTA_NH_ID: nhid } = a;
  const dstLen = h.rtm_dst_len ?? 0;
  const route = routeOf(
    h.rtm_family ?? 0,
    dstLen === 0 ? 'default' : `${typeof dst === 'string' ? dst : '?'}/${dstLen}`,
    typeof table === 'number' ? table : (h.rtm_table ?? 0),
    h.rtm_protocol ?? 0,
    h.rtm_type ?? 0,
    h.rtm_scope ?? 0,
    h.rtm_flags ?? 0,
    typeof gateway === 'string' ? gateway : undefined,
    typeof dev === 'number' ? dev : undefined,
    typeof src === 'string' ? src : undefined,
    typeof metric === 'number' ? metric : undefined,
    typeof nhid === 'number' ? nhid : undefined,
  );
  if (a.RTA_METRICS !== undefined) {
    const mtu = attrNest(a.RTA_METRICS)?.RTAX_MTU;
    if (typeof mtu === 'number') route.mtu = mtu;
  }
  if (a.RTA_MULTIPATH !== undefined) {
    const hops = attrHops(a.RTA_MULTIPATH);
    if (hops !== undefined) route.nexthops = decodeNexthops(hops);
  }
  return route;
}

const RTMSG = headerLayout(RTM_NEWROUTE, ['rtm_family', 'rtm_dst_len', 'rtm_table', 'rtm_protocol', 'rtm_scope', 'rtm_type', 'rtm_flags']);
const routeScan = new AttrScan(RTMSG.attrs);

/**
 * decodeRoute of the RTM_NEWROUTE at `buf[off, end)`, read from its bytes (a dump's fast
 * path, see codec.ts AttrScan); undefined when the message needs the generic decode (metrics, a
 * multipath route, anything malformed).
 */
export function readRoute(buf: Buffer, off: number, end: number): Route | undefined {
  const h = off + 16;
  const s = routeScan;
  if (end - h < RTMSG.size || !s.scan(buf, off + RTMSG.attrsAt, end)) return undefined;
  const dstLen = buf[h + RTMSG.at.rtm_dst_len]!;
  return routeOf(
    buf[h + RTMSG.at.rtm_family]!,
    dstLen === 0 ? 'default' : (s.prefix(buf, RTA_DST, dstLen) ?? `?/${dstLen}`),
    s.u32(buf, RTA_TABLE) ?? buf[h + RTMSG.at.rtm_table]!,
    buf[h + RTMSG.at.rtm_protocol]!,
    buf[h + RTMSG.at.rtm_type]!,
    buf[h + RTMSG.at.rtm_scope]!,
    buf.readUInt32LE(h + RTMSG.at.rtm_flags),
    s.ip(buf, RTA_GATEWAY),
    s.u32(buf, RTA_OIF),
    s.ip(buf, RTA_PREFSRC),
    s.u32(buf, RTA_PRIORITY),
    s.u32(buf, RTA_NH_ID),
  );
}

/** The destination of the IPv4 RTM_NEWROUTE at `buf[off, end)` as isRoute reads it ('default', 'a.b.c.d/n'); undefined otherwise. */
export function routeDstAt(buf: Buffer, off: number, end: number): string | undefined {
  const h = off + 16;
  const s = routeScan;
  if (buf.readUInt16LE(off + 4) !== RTM_NEWROUTE || end - h < RTMSG.size || buf[h + RTMSG.at.rtm_family] !== AF_INET) return undefined;
  if (!s.scan(buf, off + RTMSG.attrsAt, end)) return undefined;
  const dstLen = buf[h + RTMSG.at.rtm_dst_len]!;
  return dstLen === 0 ? 'default' : s.prefix(buf, RTA_DST, dstLen);
}

/**
 * Whether the RTM_NEWROUTE at `buf[off, end)` is `r` field for field — readRoute would give a route
 * with exactly r's fields and values — checked on the bytes, nothing decoded (a dump's known records,
 * see DumpCache.known). False when unsure: an IPv6 route, or one the fast path leaves to the generic
 * decode.
 */
export function isRoute(r: Route, buf: Buffer, off: number, end: number): boolean {
  const h = off + 16;
  const s = routeScan;
  if (buf.readUInt16LE(off + 4) !== RTM_NEWROUTE || end - h < RTMSG.size || buf[h + RTMSG.at.rtm_family] !== AF_INET || r.family !== 4) return false;
  if (!s.scan(buf, off + RTMSG.attrsAt, end)) return false;
  const dstLen = buf[h + RTMSG.at.rtm_dst_len]!;
  const dst = s.at(RTA_DST);
  if (dstLen === 0 ? r.dst !== 'default' : dst < 0 || s.len(RTA_DST) !== 4 || !isIPv4PrefixText(r.dst, buf, dst, dstLen)) return false;
  if (
    r.table !== (s.u32(buf, RTA_TABLE) ?? buf[h + RTMSG.at.rtm_table]) ||
    r.protocol !== buf[h + RTMSG.at.rtm_protocol] ||
    r.type !== (TYPES.name(buf[h + RTMSG.at.rtm_type]!) ?? 'unspec') ||
    r.scope !== scopeName(buf[h + RTMSG.at.rtm_scope]!)
  )
    return false;
  // The fields routeOf sets beyond its first six, each compared where the bytes have it; then r must
  // have no other field.
  const gateway = s.sameIPv4(buf, RTA_GATEWAY, r.gateway);
  const dev = s.sameU32(buf, RTA_OIF, r.dev);
  const src = s.sameIPv4(buf, RTA_PREFSRC, r.src);
  const metric = s.sameU32(buf, RTA_PRIORITY, r.metric);
  const nhid = s.sameU32(buf, RTA_NH_ID, r.nhid);
  const onlink = sameFlag((buf.readUInt32LE(h + RTMSG.at.rtm_flags) & RTNH_F_ONLINK) !== 0, r.onlink);
  if (gateway < 0 || dev < 0 || src < 0 || metric < 0 || nhid < 0 || onlink < 0) return false;
  return hasFields(r, 6 + gateway + dev + src + metric + nhid + onlink);
}

/**
 * A Route from what both decoders read (rtmsg's fields, dst as text, the attributes as values or undefined), its
 * fields always in this order: thousands of dumped routes share one object shape.
 */
function routeOf(
  af: number,
  dst: string,
  table: number,
  protocol: number,
  type: number,
  scope: number,
  flags: number,
  gateway: string | undefined,
  dev: number | undefined,
  src: string | undefined,
  metric: number | undefined,
  nhid: number | undefined,
): Route {
  const route: Route = {
    dst,
    family: af === AF_INET6 ? 6 : 4,
    table,
    protocol,
    type: TYPES.name(type) ?? 'unspec',
    scope: scopeName(scope),
  };
  if (gateway !== undefined) route.gateway = gateway;
  if (dev !== undefined) route.dev = dev;
  if (flags & RTNH_F_ONLINK) route.onlink = true;
  if (src !== undefined) route.src = src;
  if (metric !== undefined) route.metric = metric;
  if (nhid !== undefined) route.nhid = nhid;
  return route;
}

function decodeNexthops(list: HeaderAttrs[]): (Nexthop & { dev?: number })[] {
  return list.map(({ header, attrs }) => {
    const nh: Nexthop & { dev?: number } = { weight: (header.rtnh_hops ?? 0) + 1 };
    const gateway = attrs.RTA_GATEWAY;
    if (typeof gateway === 'string') nh.gateway = gateway;
    if (header.rtnh_ifindex) nh.dev = header.rtnh_ifindex;
    if ((header.rtnh_flags ?? 0) & RTNH_F_ONLINK) nh.onlink = true;
    return nh;
  });
}

function checkFamily(family: unknown): IpFamily {
  if (family !== 4 && family !== 6) throw new RouteSpecError('family', family, 'expected 4 or 6');
  return family;
}

function checkBool(field: string, v: unknown): boolean {
  return checkFlag(RouteSpecError, field, v);
}

function typeNumber(type: RouteType): number {
  return TYPES.number(type, (expected) => new RouteSpecError('type', type, expected));
}

function scopeNumber(scope: RouteScope): number {
  if (typeof scope === 'number') return checkU8('scope', scope);
  return SCOPES.number(scope, (expected) => new RouteSpecError('scope', scope, `${expected} or 0..255`));
}

function scopeName(scope: number): RouteScope {
  return SCOPES.name(scope) ?? scope;
}

function checkTable(table: number): void {
  if (!Number.isInteger(table) || table < 1 || table > 0xffffffff) {
    throw new RouteSpecError('table', table, "expected a table id 1..4294967295 (or 'all' when listing)");
  }
}

function checkU8(field: string, v: number): number {
  return checkInteger(RouteSpecError, field, v, 0, 255);
}

function checkU32(field: string, v: number): number {
  return checkInteger(RouteSpecError, field, v, 0, 0xffffffff);
}
