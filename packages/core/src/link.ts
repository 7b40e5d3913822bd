// Network devices over rtnetlink: create (veth, bridge, vxlan, macvlan), change, delete, read.
// Every input is checked before anything is sent, so a bad spec changes nothing; the kernel's own
// refusals come back as NetlinkError with its message.
import { closeSync } from 'node:fs';
import { constants } from 'node:os';
import type { Attrs, NlMessage } from './netlink/codec.js';
import { NetlinkSocket, type Transport } from './netlink/socket.js';
import type { Request } from './netlink/socket.js';
import { NetlinkError, isNotFound } from './netlink/errors.js';
import { attrNest } from './netlink/values.js';
import {
  AF_UNSPEC,
  IFF_UP,
  IFLA_ADDRESS,
  IFLA_IFNAME,
  IFLA_INFO_DATA,
  IFLA_INFO_KIND,
  IFLA_LINK,
  IFLA_LINKINFO,
  IFLA_MASTER,
  IFLA_MTU,
  IFLA_OPERSTATE,
  MACVLAN_MODE_BRIDGE,
  MACVLAN_MODE_PASSTHRU,
  MACVLAN_MODE_PRIVATE,
  MACVLAN_MODE_VEPA,
  NLM_F_CREATE,
  NLM_F_ECHO,
  NLM_F_EXCL,
  RTM_DELLINK,
  RTM_GETLINK,
  RTM_NEWLINK,
} from './netlink/generated/index.js';
import { openNetnsFd, withNetnsFd } from './netns.js';
import type { NetnsRef } from './netns.js';
import { ifNameProblem } from './base/ifname.js';
import { formatMac, parseIp, parseMac } from './base/ip.js';
import { checkFlag, checkInteger, IFINDEX_MAX, SpecError } from './errors.js';

/** A device by name or by ifindex. */
export type LinkRef = string | number;

interface CommonSpec {
  name: string;
  mtu?: number;
  /** MAC address 'aa:bb:cc:dd:ee:ff'; default: the kernel picks a random one. */
  address?: string;
  /** Bring the device up after creating it (`ip link add … up`). */
  up?: boolean;
  /** Bridge to attach the device to (`ip link add … master br0`). */
  master?: LinkRef;
}

export interface VethPeerSpec {
  name: string;
  /** Create the peer directly in this namespace (it never appears in the caller's). */
  netns?: NetnsRef;
  address?: string;
  mtu?: number;
  /**
   * Bring the peer up too. Done by a second request once the pair exists: the kernel opens a peer
   * flagged up before it links the pair and refuses with ENOTCONN (`ip link add … peer … up` fails).
   */
  up?: boolean;
}

export type MacvlanMode = 'bridge' | 'private' | 'vepa' | 'passthru';

export type VethSpec = CommonSpec & {
  kind: 'veth';
  peer: VethPeerSpec;
  /**
   * TX and RX queues of both ends (`numtxqueues <n> numrxqueues <n>`, each end). Unset, the kernel
   * gives each end one per CPU and then cuts the real count to 1 on the registered device, which
   * waits for an expedited RCU grace period per end (IPIs to every CPU, ~0.1–0.3 ms and a
   * preempted thread on each); 1 asks for what it ends with, and the pair is made without either wait
   * (`ethtool -L` cannot raise them later). `ensureLink` does not compare queue counts: an existing veth
   * with other counts is kept as it is.
   */
  queues?: number;
};
export type BridgeSpec = CommonSpec & { kind: 'bridge' };
export type VxlanSpec = CommonSpec & {
  kind: 'vxlan';
  /** VXLAN network identifier, 0 … 2^24-1. */
  vni: number;
  /** UDP destination port; default 4789 (IANA — the kernel's own default is 8472). */
  port?: number;
  /** Source address of the tunnel (IPv4 or IPv6). */
  local?: string;
  /** Underlay device (`dev`). */
  dev?: LinkRef;
  /** Learn remote MACs from traffic; default false (FDB entries are written explicitly). */
  learning?: boolean;
  /** Outer TTL; default 0 = inherit. */
  ttl?: number;
  /** Multicast group or single remote (`group` / `remote`). */
  group?: string;
};
export type MacvlanSpec = CommonSpec & { kind: 'macvlan'; mode: MacvlanMode; link: LinkRef };

export type LinkSpec = VethSpec | BridgeSpec | VxlanSpec | MacvlanSpec;
export type LinkKind = LinkSpec['kind'];

/** What `set` can change; only the given fields are touched. */
export interface LinkPatch {
  up?: boolean;
  mtu?: number;
  address?: string;
  /** A bridge to attach to, or null to detach (`nomaster`). */
  master?: LinkRef | null;
  /** New name. */
  name?: string;
  /** Move the device into this namespace (it disappears from this one). */
  netns?: NetnsRef;
}

export interface Link {
  index: number;
  name: string;
  /** IFLA_INFO_KIND ('veth', 'bridge', …); absent for devices without rtnl link ops (lo, most NICs). */
  kind?: string;
  mtu: number;
  /** ifi_flags (IFF_*). */
  flags: number;
  /** IFF_UP set (administratively up). */
  up: boolean;
  /** RFC 2863 operational state as `ip` prints it: 'UP', 'DOWN', 'LOWERLAYERDOWN', 'UNKNOWN', … */
  operstate: string;
  /** MAC address; '' for devices without one. */
  address: string;
  /** ifindex of the bridge this device is attached to. */
  master?: number;
  /** IFLA_LINK: the lower device (macvlan, vxlan) or the veth peer (an index in the peer's namespace). */
  parent?: number;
  /** Kind-specific attributes (IFLA_INFO_DATA) under their kernel names, e.g. IFLA_VXLAN_ID. */
  info?: Attrs;
}

/** A link spec or patch field the kernel would refuse (or misread). Nothing was sent. */
export class InvalidLinkSpecError extends SpecError {}

/**
 * No device with that name or index. A NetlinkError (errno ENODEV, so `isNotFound` holds) whose message
 * names the device asked for and keeps the kernel's words.
 */
export class LinkNotFoundError extends NetlinkError {
  readonly device: LinkRef;
  constructor(device: LinkRef, cause?: NetlinkError) {
    super({ errno: cause?.errno ?? ENODEV, op: cause?.op ?? 'RTM_GETLINK', seq: cause?.seq ?? 0, extack: cause?.extack });
    this.message = `link ${typeof device === 'string' ? JSON.stringify(device) : `index ${device}`} not found (${this.message})`;
    this.name = 'LinkNotFoundError';
    this.device = device;
  }
}

const { ENODEV } = constants.errno;
const MTU_MAX = 0x7fffffff; // IFLA_MTU is a u32 the kernel reads as an int
const QUEUES_MAX = 4096; // the kernel's limit per device (rtnl_create_link)
const VXLAN_DEFAULT_PORT = 4789;
const MACVLAN_MODES: Record<MacvlanMode, number> = {
  bridge: MACVLAN_MODE_BRIDGE,
  private: MACVLAN_MODE_PRIVATE,
  vepa: MACVLAN_MODE_VEPA,
  passthru: MACVLAN_MODE_PASSTHRU,
};
// IF_OPER_* from <linux/if.h> (RFC 2863 order), spelled as `ip` prints them.
const OPERSTATES = ['UNKNOWN', 'NOTPRESENT', 'DOWN', 'LOWERLAYERDOWN', 'TESTING', 'DORMANT', 'UP'];

/** Throws InvalidLinkSpecError unless the kernel's dev_valid_name() (and libcni) would accept `name`. */
export function validateIfName(name: unknown, field = 'name'): string {
  const problem = ifNameProblem(name);
  if (problem !== undefined) throw new InvalidLinkSpecError(field, name, problem);
  return name as string; // ifNameProblem refuses every non-string
}

function checkInt(field: string, v: unknown, min: number, max: number): number {
  return checkInteger(InvalidLinkSpecError, field, v, min, max);
}

function checkBool(field: string, v: unknown): void {
  checkFlag(InvalidLinkSpecError, field, v);
}

/**
 * A device as given to any API: an ifindex 1..IFINDEX_MAX (0 would mean "no device" or "every
 * device" to the kernel) or a name dev_valid_name() accepts. Every API checks devices here, so a bad
 * device is an InvalidLinkSpecError naming `field` wherever it is given.
 */
export function checkLinkRef(field: string, ref: unknown): LinkRef {
  return typeof ref === 'number' ? checkInt(field, ref, 1, IFINDEX_MAX) : validateIfName(ref, field);
}

/** ifinfomsg header; `up` set means "change IFF_UP to this", unset leaves the flag alone. */
function ifinfo(index: number, up?: boolean): Record<string, number> {
  return {
    ifi_family: AF_UNSPEC,
    ifi_type: 0,
    ifi_index: index,
    ifi_flags: up ? IFF_UP : 0,
    ifi_change: up === undefined ? 0 : IFF_UP,
  };
}

function refQuery(ref: LinkRef): { header: Record<string, number>; attrs: Attrs } {
  return typeof ref === 'number' ? { header: ifinfo(ref), attrs: {} } : { header: ifinfo(0), attrs: { IFLA_IFNAME: ref } };
}

function asNotFound(err: unknown, ref: LinkRef): unknown {
  return err instanceof NetlinkError && isNotFound(err) ? new LinkNotFoundError(ref, err) : err;
}

/**
 * The ifindex of a device — for addr/route/neigh, which need numbers; numbers are only range-checked.
 * `field` names the device in an InvalidLinkSpecError.
 */
export function linkIndex(sock: Transport, ref: LinkRef, field = 'dev'): number {
  if (typeof ref === 'number') return checkInt(field, ref, 1, IFINDEX_MAX);
  // Only the header's ifindex is needed: no decodeLink of the whole reply.
  return linkReply(sock, ref, field).header.ifi_index ?? 0;
}

function getLink(sock: Transport, ref: LinkRef, field = 'link'): Link {
  return decodeLink(linkReply(sock, ref, field));
}

/** The kernel's RTM_NEWLINK for one device (`ip link show <ref>`); LinkNotFoundError if there is none. */
function linkReply(sock: Transport, ref: LinkRef, field: string): NlMessage {
  checkLinkRef(field, ref);
  let replies: NlMessage[];
  try {
    replies = sock.request({ type: RTM_GETLINK, ...refQuery(ref) });
  } catch (err) {
    throw asNotFound(err, ref);
  }
  const reply = replies.find((m) => m.type === RTM_NEWLINK);
  if (reply === undefined) throw new LinkNotFoundError(ref);
  return reply;
}

/** Decodes an RTM_NEWLINK message into a Link. */
export function decodeLink(m: NlMessage): Link {
  const a = m.attrs;
  const flags = m.header.ifi_flags ?? 0;
  const { IFLA_IFNAME: name, IFLA_MTU: mtu, IFLA_OPERSTATE: operstate, IFLA_ADDRESS: address, IFLA_MASTER: master, IFLA_LINK: parent } = a;
  const linkinfo = attrNest(a.IFLA_LINKINFO);
  const link: Link = {
    index: m.header.ifi_index ?? 0,
    name: typeof name === 'string' ? name : '',
    mtu: typeof mtu === 'number' ? mtu : 0,
    flags,
    up: (flags & IFF_UP) !== 0,
    operstate: OPERSTATES[typeof operstate === 'number' ? operstate : 0] ?? 'UNKNOWN',
    address: typeof address === 'string' ? address : '',
  };
  const kind = linkinfo?.IFLA_INFO_KIND;
  if (typeof kind === 'string') link.kind = kind;
  if (typeof master === 'number' && master !== 0) link.master = master;
  if (typeof parent === 'number' && parent !== link.index) link.parent = parent;
  // A kind without a schema table keeps its data as bytes: no `info` then.
  const info = attrNest(linkinfo?.IFLA_INFO_DATA);
  if (info !== undefined) link.info = info;
  return link;
}

/** The u32 attribute whose payload is `buf[p, e)`: the generic decoder keeps another size as bytes (then undefined: decode it so). */
function u32At(buf: Buffer, p: number, e: number): number | undefined {
  return e - p === 4 ? buf.readUInt32LE(p) : undefined;
}

/**
 * decodeLink of the RTM_NEWLINK at `buf[off, end)`, read from its bytes: what a veth's echo needs
 * (a generic decode of its ~1.5 KB — stats, per-family settings — cost a served ADD ~0.11 ms).
 * Undefined when the message needs the generic decode: kind-specific data (`info`), an attribute
 * it reads that is repeated or of another size, anything malformed. Nests it does not read are
 * skipped, not checked.
 */
export function readLink(buf: Buffer, off: number, end: number): Link | undefined {
  const h = off + 16;
  if (end - h < 16 || buf.readUInt16LE(off + 4) !== RTM_NEWLINK) return undefined;
  const index = buf.readInt32LE(h + 4);
  const flags = buf.readUInt32LE(h + 8);
  let name: string | undefined;
  let mtu: number | undefined;
  let operstate: number | undefined;
  let address: string | undefined;
  let master: number | undefined;
  let parent: number | undefined;
  let kind: string | undefined;
  let linkinfo = false;
  for (let p = h + 16; p < end; ) {
    if (end - p < 4) return undefined;
    const len = buf.readUInt16LE(p);
    if (len < 4 || len > end - p) return undefined;
    const v = p + 4;
    const e = p + len;
    switch (buf.readUInt16LE(p + 2) & 0x3fff) {
      case IFLA_IFNAME:
        if (name !== undefined) return undefined;
        name = cString(buf, v, e);
        break;
      case IFLA_MTU:
        if (mtu !== undefined || (mtu = u32At(buf, v, e)) === undefined) return undefined;
        break;
      case IFLA_OPERSTATE:
        if (operstate !== undefined || e - v !== 1) return undefined;
        operstate = buf[v]!;
        break;
      case IFLA_ADDRESS:
        if (address !== undefined) return undefined;
        address = formatMac(buf, v, e);
        break;
      case IFLA_MASTER:
        if (master !== undefined || (master = u32At(buf, v, e)) === undefined) return undefined;
        break;
      case IFLA_LINK:
        if (parent !== undefined || (parent = u32At(buf, v, e)) === undefined) return undefined;
        break;
      case IFLA_LINKINFO:
        if (linkinfo) return undefined;
        linkinfo = true;
        for (let q = v; q < e; ) {
          if (e - q < 4) return undefined;
          const n = buf.readUInt16LE(q);
          if (n < 4 || n > e - q) return undefined;
          const type = buf.readUInt16LE(q + 2) & 0x3fff;
          if (type === IFLA_INFO_DATA) return undefined;
          if (type === IFLA_INFO_KIND) {
            if (kind !== undefined) return undefined;
            kind = cString(buf, q + 4, q + n);
          }
          q += (n + 3) & ~3;
        }
        break;
    }
    p += (len + 3) & ~3;
  }
  const link: Link = {
    index,
    name: name ?? '',
    mtu: mtu ?? 0,
    flags,
    up: (flags & IFF_UP) !== 0,
    operstate: OPERSTATES[operstate ?? 0] ?? 'UNKNOWN',
    address: address ?? '',
  };
  if (kind !== undefined) link.kind = kind;
  if (master !== undefined && master !== 0) link.master = master;
  if (parent !== undefined && parent !== index) link.parent = parent;
  return link;
}

/** A NUL-terminated string attribute's text, as the generic decoder reads it. */
function cString(buf: Buffer, p: number, e: number): string {
  let z = p;
  while (z < e && buf[z] !== 0) z++;
  return buf.toString('utf8', p, z);
}

/** readLink for requestLater: the echo's Link, wrapped so it cannot be taken for a message. */
const readEcho = (buf: Buffer, off: number, end: number): { link: Link } | undefined => {
  const link = readLink(buf, off, end);
  return link === undefined ? undefined : { link };
};

export class LinkApi {
  readonly #sock: Transport;

  constructor(sock: Transport) {
    this.#sock = sock;
  }

  /**
   * Creates a device — `ip link add <name> [mtu …] [address …] [master …] [up] type <kind> …`:
   * veth `peer name <p> [netns <ns>]`, bridge, vxlan `id <vni> dstport <port> [local …] [dev …]
   * [group|remote …] [nolearning] [ttl …]`, macvlan `link <dev> mode <mode>`. Fails with
   * NetlinkError EEXIST if the name is taken. Like `ip link add` it returns nothing: asking the
   * kernel to echo the device costs a third of a veth create, so callers that want the full
   * picture read it with `get(name)` (or use `ensureLink`, which returns it).
   */
  add(spec: LinkSpec): void {
    this.#add(spec, 0);
  }

  /**
   * add(), answered with the new device as the kernel announces it (NLM_F_ECHO), before any master is
   * set: one request where add + get take two. A veth's `parent` is then its peer's ifindex, in the
   * peer's namespace (absent only when it equals the device's own).
   */
  create(spec: LinkSpec): Link {
    const reply = this.#add(spec, NLM_F_ECHO).find((m) => m.type === RTM_NEWLINK);
    if (reply === undefined) throw new LinkNotFoundError(spec.name);
    return decodeLink(reply);
  }

  /**
   * create() in two halves: the request is on its way when this returns (sent from a worker thread,
   * Transport.requestLater), so the caller can do other work while the kernel makes the device (a
   * veth: ~0.6–1 ms); the function returned waits for the kernel's answer and returns the device, or
   * throws as create() does. Call it before the next request on this socket.
   */
  createLater(spec: LinkSpec): () => Link {
    const sock = this.#sock;
    const later = (peerNsFd?: number): (() => (NlMessage | { link: Link })[]) => {
      const req = this.buildAdd(spec, peerNsFd);
      const flagged = { ...req, flags: (req.flags ?? 0) | NLM_F_ECHO };
      if (sock.requestLater !== undefined) return sock.requestLater(flagged, readEcho);
      const replies = sock.request(flagged);
      return () => replies;
    };
    let replies: () => (NlMessage | { link: Link })[];
    if (spec.kind === 'veth' && spec.peer?.netns !== undefined) {
      // IFLA_NET_NS_FD is resolved while the kernel handles the request: the fd stays open until it answered.
      const fd = openNetnsFd(spec.peer.netns);
      try {
        const read = later(fd);
        replies = () => {
          try {
            return read();
          } finally {
            closeSync(fd);
          }
        };
      } catch (err) {
        closeSync(fd);
        throw err;
      }
    } else replies = later();
    return () => {
      const all = replies();
      if (spec.kind === 'veth' && spec.peer.up) this.peerUp(spec.peer);
      for (const m of all) {
        if ('link' in m) return m.link;
        if (m.type === RTM_NEWLINK) return decodeLink(m);
      }
      throw new LinkNotFoundError(spec.name);
    };
  }

  #add(spec: LinkSpec, flags: number): NlMessage[] {
    let replies: NlMessage[] = [];
    const send = (peerNsFd?: number): void => {
      const req = this.buildAdd(spec, peerNsFd);
      replies = this.#sock.request({ ...req, flags: (req.flags ?? 0) | flags });
    };
    if (spec.kind === 'veth' && spec.peer?.netns !== undefined) withNetnsFd(spec.peer.netns, send);
    else send();
    if (spec.kind === 'veth' && spec.peer.up) this.peerUp(spec.peer);
    return replies;
  }

  private peerUp(peer: VethPeerSpec): void {
    if (peer.netns === undefined) return this.set(peer.name, { up: true });
    const sock = withNetnsFd(peer.netns, (netnsFd) => NetlinkSocket.open({ netnsFd }));
    try {
      new LinkApi(sock).set(peer.name, { up: true });
    } finally {
      sock.close();
    }
  }

  /**
   * Changes a device — `ip link set <dev> [up|down] [mtu …] [address …] [master <br>|nomaster]
   * [name …] [netns <ns>]`. Only the fields present are changed, in one request.
   */
  set(ref: LinkRef, patch: LinkPatch): void {
    checkLinkRef('link', ref);
    const attrs: Attrs = {};
    if (patch.name !== undefined) attrs.IFLA_IFNAME = validateIfName(patch.name, 'name');
    if (patch.mtu !== undefined) attrs.IFLA_MTU = checkInt('mtu', patch.mtu, 1, MTU_MAX);
    if (patch.address !== undefined) attrs.IFLA_ADDRESS = parseMac(patch.address);
    if (patch.master !== undefined && patch.master !== null) checkLinkRef('master', patch.master);
    checkBool('up', patch.up);
    if (patch.master !== undefined) attrs.IFLA_MASTER = patch.master === null ? 0 : this.index(patch.master);
    // By name the kernel looks the device up itself; a rename needs the index (IFLA_IFNAME is the new name).
    const byName = typeof ref === 'string' && patch.name === undefined;
    if (byName) attrs.IFLA_IFNAME = ref;
    const req: Request = { type: RTM_NEWLINK, header: ifinfo(byName ? 0 : this.index(ref), patch.up), attrs };
    const send = (nsFd?: number): void => {
      if (nsFd !== undefined) attrs.IFLA_NET_NS_FD = nsFd;
      try {
        this.#sock.request(req);
      } catch (err) {
        throw asNotFound(err, ref);
      }
    };
    if (patch.netns === undefined) send();
    else withNetnsFd(patch.netns, send);
  }

  /** Deletes a device — `ip link del <dev>` (a veth's peer goes with it). LinkNotFoundError (ENODEV) if missing. */
  del(ref: LinkRef): void {
    checkLinkRef('link', ref);
    try {
      this.#sock.request({ type: RTM_DELLINK, ...refQuery(ref) });
    } catch (err) {
      throw asNotFound(err, ref);
    }
  }

  /** One device — `ip -d link show <dev>`. LinkNotFoundError if there is none. */
  get(ref: LinkRef): Link {
    return getLink(this.#sock, ref);
  }

  /** Like get, but undefined when the device does not exist. */
  find(ref: LinkRef): Link | undefined {
    try {
      return this.get(ref);
    } catch (err) {
      if (err instanceof LinkNotFoundError) return undefined;
      throw err;
    }
  }

  /** All devices, optionally only one kind or only a bridge's ports — `ip -d link show [type <kind>] [master <br>]`. */
  list(filter: { kind?: string; master?: LinkRef } = {}): Link[] {
    if (filter.kind !== undefined && typeof filter.kind !== 'string') throw new InvalidLinkSpecError('kind', filter.kind, 'must be a string');
    const master = filter.master === undefined ? undefined : this.index(filter.master);
    // Filtered here, not by the kernel: its dump filter ignores a kind it has no driver for and
    // would return every device.
    return this.#sock
      .dump({ type: RTM_GETLINK, header: ifinfo(0), attrs: {} })
      .filter((m) => m.type === RTM_NEWLINK)
      .map(decodeLink)
      .filter((l) => (filter.kind === undefined || l.kind === filter.kind) && (master === undefined || l.master === master));
  }

  /** The ifindex of a device (`ip -j link show <dev>` → ifindex). */
  index(ref: LinkRef): number {
    return linkIndex(this.#sock, ref);
  }

  private buildAdd(spec: LinkSpec, peerNsFd?: number): Request {
    validateIfName(spec.name, 'name');
    checkBool('up', spec.up);
    const attrs: Attrs = { IFLA_IFNAME: spec.name };
    if (spec.mtu !== undefined) attrs.IFLA_MTU = checkInt('mtu', spec.mtu, 1, MTU_MAX);
    if (spec.address !== undefined) attrs.IFLA_ADDRESS = parseMac(spec.address);
    let data: Attrs | undefined;
    const kind: unknown = spec.kind; // for the error below, where `spec` is `never`
    switch (spec.kind) {
      case 'veth':
        if (typeof spec.peer !== 'object' || spec.peer === null) throw new InvalidLinkSpecError('peer', spec.peer, 'a veth needs a peer');
        if (spec.queues !== undefined) attrs.IFLA_NUM_TX_QUEUES = attrs.IFLA_NUM_RX_QUEUES = checkInt('queues', spec.queues, 1, QUEUES_MAX);
        data = { VETH_INFO_PEER: vethPeer(spec.peer, peerNsFd, spec.queues) };
        break;
      case 'bridge':
        break;
      case 'vxlan':
        data = vxlanData(spec, (ref) => this.index(ref));
        break;
      case 'macvlan': {
        data = { IFLA_MACVLAN_MODE: macvlanMode(spec.mode) };
        attrs.IFLA_LINK = this.index(checkLinkRef('link', spec.link));
        break;
      }
      default:
        throw new InvalidLinkSpecError('kind', kind, 'expected veth, bridge, vxlan or macvlan');
    }
    if (spec.master !== undefined) attrs.IFLA_MASTER = this.index(checkLinkRef('master', spec.master));
    attrs.IFLA_LINKINFO = data === undefined ? { IFLA_INFO_KIND: spec.kind } : { IFLA_INFO_KIND: spec.kind, IFLA_INFO_DATA: data };
    return { type: RTM_NEWLINK, flags: NLM_F_CREATE | NLM_F_EXCL, header: ifinfo(0, spec.up || undefined), attrs };
  }
}

/** IFLA_INFO_DATA of a vxlan; `index` resolves the underlay device. */
function vxlanData(spec: VxlanSpec, index: (ref: LinkRef) => number): Attrs {
  const data: Attrs = {
    IFLA_VXLAN_ID: checkInt('vni', spec.vni, 0, 0xffffff),
    IFLA_VXLAN_PORT: checkInt('port', spec.port ?? VXLAN_DEFAULT_PORT, 1, 0xffff),
    IFLA_VXLAN_LEARNING: spec.learning ? 1 : 0,
  };
  if (spec.ttl !== undefined) data.IFLA_VXLAN_TTL = checkInt('ttl', spec.ttl, 0, 255);
  if (spec.local !== undefined) {
    const local = parseIp(spec.local);
    data[local.family === 4 ? 'IFLA_VXLAN_LOCAL' : 'IFLA_VXLAN_LOCAL6'] = local.address;
  }
  if (spec.group !== undefined) {
    const group = parseIp(spec.group);
    data[group.family === 4 ? 'IFLA_VXLAN_GROUP' : 'IFLA_VXLAN_GROUP6'] = group.address;
  }
  if (spec.dev !== undefined) data.IFLA_VXLAN_LINK = index(checkLinkRef('dev', spec.dev));
  return data;
}

function macvlanMode(mode: MacvlanMode): number {
  if (!Object.hasOwn(MACVLAN_MODES, mode)) {
    throw new InvalidLinkSpecError('mode', mode, `expected one of ${Object.keys(MACVLAN_MODES).join(', ')}`);
  }
  return MACVLAN_MODES[mode];
}

/** VETH_INFO_PEER: the peer's own ifinfomsg + attributes; `nsFd` places it in another namespace. */
function vethPeer(peer: VethPeerSpec, nsFd?: number, queues?: number): { header: Record<string, number>; attrs: Attrs } {
  const attrs: Attrs = { IFLA_IFNAME: validateIfName(peer.name, 'peer.name') };
  if (queues !== undefined) attrs.IFLA_NUM_TX_QUEUES = attrs.IFLA_NUM_RX_QUEUES = queues;
  if (peer.mtu !== undefined) attrs.IFLA_MTU = checkInt('peer.mtu', peer.mtu, 1, MTU_MAX);
  if (peer.address !== undefined) attrs.IFLA_ADDRESS = parseMac(peer.address);
  checkBool('peer.up', peer.up);
  if (nsFd !== undefined) attrs.IFLA_NET_NS_FD = nsFd;
  return { header: ifinfo(0), attrs };
}

/**
 * Makes sure a device like `spec` exists: creates it when missing; keeps an existing one of the same
 * kind and identity (vxlan id/port/local/dev/group/learning, macvlan mode/link) and brings its mtu,
 * address, master and up state in line; deletes and recreates one that cannot be changed into it.
 */
export function ensureLink(api: LinkApi, spec: LinkSpec): Link {
  const existing = api.find(validateIfName(spec.name, 'name'));
  if (existing === undefined || !sameIdentity(api, existing, spec)) {
    if (existing !== undefined) api.del(existing.index);
    api.add(spec);
    return api.get(spec.name);
  }
  const patch: LinkPatch = {};
  if (spec.mtu !== undefined && spec.mtu !== existing.mtu) patch.mtu = spec.mtu;
  if (spec.address !== undefined && parseMac(spec.address) !== existing.address) patch.address = spec.address;
  if (spec.master !== undefined) {
    const master = api.index(spec.master);
    if (master !== existing.master) patch.master = master;
  }
  if (spec.up !== undefined && spec.up !== existing.up) patch.up = spec.up;
  if (Object.keys(patch).length === 0) return existing;
  api.set(existing.index, patch);
  return api.get(existing.index);
}

function sameIdentity(api: LinkApi, link: Link, spec: LinkSpec): boolean {
  if (link.kind !== spec.kind) return false;
  const info = link.info ?? {};
  switch (spec.kind) {
    case 'vxlan': {
      const want = vxlanData(spec, (ref) => api.index(ref));
      return Object.entries(want).every(([k, v]) => info[k] === v) && (spec.dev !== undefined || info.IFLA_VXLAN_LINK === undefined);
    }
    case 'macvlan':
      return info.IFLA_MACVLAN_MODE === macvlanMode(spec.mode) && link.parent === api.index(spec.link);
    default:
      return true;
  }
}
