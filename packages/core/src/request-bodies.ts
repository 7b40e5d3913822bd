// Request bodies that write themselves, for the shapes core's batch calls send by the thousand in a
// reconcile: `ip route add|replace PREFIX via GW dev D [onlink]` or `… nhid N`, `ip nexthop replace
// id N via GW dev D [onlink]`, and `ip neigh replace` / `bridge fdb replace` of a permanent entry —
// all IPv4. The schema-driven path builds header and attrs objects per request and the encoder walks
// them again (~2-3 µs a request, most of a full apply's JavaScript); these check the spec and lay the
// same bytes down directly (requests-golden's fast-path test compares them with the schema's
// encoding). Anything else (IPv6, a metric, a device by name for neighbours, a bad value) gets
// undefined here and goes the schema's way, which also gives the errors; so does everything on a
// big-endian host (the bodies pack bytes into little-endian words: see EncodedBody).
//
// The bodies are written a u32 word at a time, byte fields packed (`family | dstLen << 8`): a
// 1,000-peer full apply writes 2,000 of them, mostly before the JIT has made this code fast, where
// each store and each helper call costs tens of nanoseconds.
import { decimalValue, ipv4Value, writeMac } from './base/ip.js';
import { LITTLE_ENDIAN, type EncodedBody } from './netlink/codec.js';
import {
  AF_BRIDGE,
  AF_INET,
  NDA_DST,
  NDA_LLADDR,
  NHA_GATEWAY,
  NHA_ID,
  NHA_OIF,
  NTF_SELF,
  NUD_NOARP,
  NUD_PERMANENT,
  RT_SCOPE_LINK,
  RT_SCOPE_UNIVERSE,
  RT_TABLE_MAIN,
  RTA_DST,
  RTA_GATEWAY,
  RTA_NH_ID,
  RTA_OIF,
  RTA_TABLE,
  RTM_NEWNEIGH,
  RTM_NEWNEXTHOP,
  RTM_NEWROUTE,
  RTN_UNICAST,
  RTNH_F_ONLINK,
  RTPROT_BOOT,
} from './netlink/generated/index.js';
import type { LinkRef } from './link.js';
import type { NeighSpec } from './neigh.js';
import type { NexthopObjectSpec } from './nexthop.js';
import type { RouteSpec } from './route.js';
import type { Request } from './netlink/socket.js';

const NO_FIELDS: Record<string, never> = Object.freeze({});

/**
 * A request that is its own body (see socket.ts Request: header and attrs empty): one object per
 * request of a batch. `body` is an own field, so a copy of the request (`{ ...req }`) still has it.
 */
abstract class SelfWriting implements Request, EncodedBody {
  readonly type: number;
  readonly flags: number;
  readonly header = NO_FIELDS;
  readonly attrs = NO_FIELDS;
  readonly body: EncodedBody;
  abstract readonly size: number;

  constructor(type: number, flags: number) {
    this.type = type;
    this.flags = flags;
    this.body = this;
  }

  abstract writeTo(buf: Buffer, at: number, words: Uint32Array): void;
}
const U32_MAX = 0xffffffff;
const isU32 = (v: unknown, min: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= U32_MAX;
const isU8 = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xff;
const isFlag = (v: unknown): v is boolean | undefined => v === undefined || typeof v === 'boolean';

/**
 * An IPv4 address in canonical (strict dotted quad) text as a number, -1 for anything else: as the
 * caller parsed it (`parsed`, while its text is `s` itself), else parsed here.
 */
function ipv4(s: unknown, parsed?: { readonly text: string; readonly value: number }): number {
  if (typeof s !== 'string') return -1;
  return parsed !== undefined && parsed.text === s ? parsed.value : ipv4Value(s, 0, s.length);
}

/** The first word of an 8-byte attribute of `type` (nla_len 8, nla_type), little-endian. */
const attr8 = (type: number): number => 8 | (type << 16);

/** An IPv4 address (a number, first octet highest) as the little-endian word of its network-order bytes. */
const be32 = (v: number): number => ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24);

// The attribute headers the bodies write, as words.
const DST = attr8(RTA_DST);
const TABLE = attr8(RTA_TABLE);
const NH_ID = attr8(RTA_NH_ID);
const GATEWAY = attr8(RTA_GATEWAY);
const OIF = attr8(RTA_OIF);
const NH_ID_ATTR = attr8(NHA_ID);
const NH_GATEWAY = attr8(NHA_GATEWAY);
const NH_OIF = attr8(NHA_OIF);
const NEIGH_DST = attr8(NDA_DST);
const LLADDR = 10 | (NDA_LLADDR << 16);

/** rtmsg (12 bytes) + RTA_DST + RTA_TABLE + (RTA_NH_ID | RTA_GATEWAY? RTA_OIF?), in the schema path's order. */
class RouteBody extends SelfWriting {
  readonly size: number;
  constructor(
    flags: number,
    readonly dst: number,
    readonly dstLen: number,
    readonly table: number,
    readonly protocol: number,
    readonly onlink: boolean,
    readonly nhid: number,
    readonly gateway: number,
    readonly oif: number,
  ) {
    super(RTM_NEWROUTE, flags);
    this.size = 12 + 16 + (nhid >= 0 ? 8 : (gateway >= 0 ? 8 : 0) + (oif >= 0 ? 8 : 0));
  }

  writeTo(_: Buffer, at: number, w: Uint32Array): void {
    const { nhid, gateway, oif } = this;
    const i = at >>> 2;
    // rtmsg: family, dst_len, src_len 0, tos 0 | table, protocol, scope, type | flags.
    w[i] = AF_INET | (this.dstLen << 8);
    w[i + 1] =
      (this.table > 255 ? 0 : this.table) |
      (this.protocol << 8) |
      ((nhid >= 0 || gateway >= 0 ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK) << 16) |
      (RTN_UNICAST << 24);
    w[i + 2] = nhid < 0 && this.onlink ? RTNH_F_ONLINK : 0;
    w[i + 3] = DST;
    w[i + 4] = be32(this.dst);
    w[i + 5] = TABLE;
    w[i + 6] = this.table;
    if (nhid >= 0) {
      w[i + 7] = NH_ID;
      w[i + 8] = nhid;
      return;
    }
    let j = i + 7;
    if (gateway >= 0) {
      w[j] = GATEWAY;
      w[j + 1] = be32(gateway);
      j += 2;
    }
    if (oif >= 0) {
      w[j] = OIF;
      w[j + 1] = oif;
    }
  }
}

/**
 * RTM_NEWROUTE for `spec` (add or replace, by `flags`), as a request that writes itself, when it is an IPv4 unicast route to a prefix
 * via a gateway and/or device or a nexthop id, in a table, with a protocol and nothing else; else undefined.
 */
export function routeRequest(spec: RouteSpec, flags: number, resolve: (ref: LinkRef, field: string) => number): Request | undefined {
  if (!LITTLE_ENDIAN || spec === null || typeof spec !== 'object') return undefined;
  const { dst, table = RT_TABLE_MAIN, protocol = RTPROT_BOOT, nhid } = spec;
  if (spec.family !== undefined || spec.type !== undefined || spec.scope !== undefined || spec.src !== undefined) return undefined;
  if (spec.metric !== undefined || spec.mtu !== undefined || spec.nexthops !== undefined) return undefined;
  // Parsed by the caller already (RouteSpec.dstParsed), or here.
  const parsed = spec.dstParsed;
  let value: number;
  let dstLen: number;
  if (parsed !== undefined && typeof dst === 'string' && parsed.text === dst) {
    value = parsed.value;
    dstLen = parsed.prefixLen;
  } else {
    const slash = typeof dst === 'string' ? dst.indexOf('/') : -1;
    if (slash < 0) return undefined;
    value = ipv4Value(dst, 0, slash);
    dstLen = decimalValue(dst, slash + 1, 32);
  }
  // A default route (length 0) and host bits are the schema path's to handle (or refuse).
  if (value < 0 || dstLen < 1 || (dstLen < 32 && value % 2 ** (32 - dstLen) !== 0)) return undefined;
  if (!isU32(table, 1) || !isU8(protocol) || !isFlag(spec.onlink)) return undefined;
  const gateway = spec.gateway === undefined ? -1 : ipv4(spec.gateway, spec.gatewayParsed);
  if (spec.gateway !== undefined && gateway < 0) return undefined;
  if (nhid !== undefined) return isU32(nhid, 1) ? new RouteBody(flags, value, dstLen, table, protocol, false, nhid, -1, -1) : undefined;
  const oif = spec.dev === undefined ? -1 : resolve(spec.dev, 'dev');
  return new RouteBody(flags, value, dstLen, table, protocol, spec.onlink === true, -1, gateway, oif);
}

/** nhmsg (8 bytes) + NHA_ID + NHA_GATEWAY + NHA_OIF. */
class NexthopBody extends SelfWriting {
  readonly size = 8 + 24;
  constructor(
    flags: number,
    readonly id: number,
    readonly gateway: number,
    readonly oif: number,
    readonly protocol: number,
    readonly onlink: boolean,
  ) {
    super(RTM_NEWNEXTHOP, flags);
  }

  writeTo(_: Buffer, at: number, w: Uint32Array): void {
    const i = at >>> 2;
    // nhmsg: family, scope 0, protocol, reserved 0 | flags.
    w[i] = AF_INET | (this.protocol << 16);
    w[i + 1] = this.onlink ? RTNH_F_ONLINK : 0;
    w[i + 2] = NH_ID_ATTR;
    w[i + 3] = this.id;
    w[i + 4] = NH_GATEWAY;
    w[i + 5] = be32(this.gateway);
    w[i + 6] = NH_OIF;
    w[i + 7] = this.oif;
  }
}

/** RTM_NEWNEXTHOP for `spec`, as a request that writes itself, when it is an IPv4 gateway on a device; else undefined. */
export function nexthopRequest(spec: NexthopObjectSpec, flags: number, resolve: (ref: LinkRef) => number): Request | undefined {
  if (!LITTLE_ENDIAN || spec === null || typeof spec !== 'object' || spec.family !== undefined || spec.dev === undefined) return undefined;
  const { id, protocol = 0 } = spec;
  const gateway = ipv4(spec.gateway, spec.gatewayParsed);
  if (!isU32(id, 1) || gateway < 0 || !isU8(protocol) || !isFlag(spec.onlink)) return undefined;
  return new NexthopBody(flags, id, gateway, resolve(spec.dev), protocol, spec.onlink === true);
}

// A MAC is checked into this before its request is made (a bad one must throw before anything is sent).
const mac = Buffer.alloc(17);

/** ndmsg (12 bytes) + NDA_DST? + NDA_LLADDR (6 bytes, padded to 8). */
class NeighBody extends SelfWriting {
  readonly size: number;
  constructor(
    flags: number,
    readonly family: number,
    readonly ifindex: number,
    readonly state: number,
    readonly ntf: number,
    readonly dst: number,
    readonly lladdr: string,
  ) {
    super(RTM_NEWNEIGH, flags);
    this.size = 12 + (dst >= 0 ? 8 : 0) + 12;
  }

  writeTo(b: Buffer, at: number, w: Uint32Array): void {
    const i = at >>> 2;
    // ndmsg: family, pads | ifindex | state, flags, type 0.
    w[i] = this.family;
    w[i + 1] = this.ifindex;
    w[i + 2] = this.state | (this.ntf << 16);
    let j = i + 3;
    if (this.dst >= 0) {
      w[j] = NEIGH_DST;
      w[j + 1] = be32(this.dst);
      j += 2;
    }
    // NDA_LLADDR: 6 bytes, then 2 of padding (zeroed with the word before the MAC goes over it).
    w[j] = LLADDR;
    w[j + 2] = 0;
    writeMac(this.lladdr, b, (j + 1) << 2);
  }
}

/**
 * RTM_NEWNEIGH for `n`, as a request that writes itself, when it is a permanent IPv4 neighbour or an FDB entry (`self`, an
 * IPv4 dst or none) with a MAC, on a device given by ifindex; else undefined.
 */
export function neighRequest(n: NeighSpec, flags: number): Request | undefined {
  if (!LITTLE_ENDIAN || n === null || typeof n !== 'object' || !isU32(n.dev, 1) || n.dev > 0x7fffffff) return undefined;
  if (n.vni !== undefined || n.port !== undefined || n.master === true || n.router === true || !isFlag(n.master) || !isFlag(n.router)) return undefined;
  const bridge = n.family === 'bridge';
  if (!bridge && n.family !== undefined) return undefined;
  const dst = n.dst === undefined ? -1 : ipv4(n.dst);
  if ((n.dst !== undefined || !bridge) && dst < 0) return undefined;
  const lladdr = n.lladdr;
  if (typeof lladdr !== 'string' || lladdr.length > 17 || writeMac(lladdr, mac, 0) !== 6) return undefined;
  const state = n.state === 'permanent' ? NUD_PERMANENT : n.state === undefined ? (bridge ? NUD_NOARP | NUD_PERMANENT : NUD_PERMANENT) : -1;
  if (state < 0 || !isFlag(n.self)) return undefined;
  // `bridge fdb` assumes `self` unless told `master` (never here).
  const self = n.self === undefined ? bridge : n.self;
  return new NeighBody(flags, bridge ? AF_BRIDGE : AF_INET, n.dev, state, self ? NTF_SELF : 0, dst, lladdr);
}
