// What a served ADD may take from the calls before it instead of asking the kernel again: the bridge
// (index, MAC, up, promisc), the gateway addresses confirmed on it with forwarding on, and the uplink's
// MTU. These change only when someone changes the node, and every such change is an rtnetlink event:
// a warm server (server.ts) keeps the facts and a socket on the link, address, route, rule and netconf
// groups of the node's namespace, and each ADD first drains that socket without blocking, dropping
// every fact an event could have changed; the next ADD reads a dropped fact from the kernel again.
// The plugin process keeps nothing (it answers one call) and asks every time.
//
// Each ADD and DEL makes ~10 events of its own (the host veth's links, its IPv6 link-local routes,
// its netconf): they are judged from a few bytes of each (receiveNow's accept), never decoded — a full
// decode of them would cost more than the requests they save. The one exception is the bridge's own
// RTM_NEWLINK, which every port joining or leaving makes: it carries the whole link (MAC, flags), so
// it is decoded and replaces the kept bridge. Dropping the bridge there, as any other event of it
// does, made every served ADD read the bridge again, add its gateway again (EEXIST), read
// ip_forward, and — the bridge's event then counting as another device's — probe the uplink again.
import { constants, decodeLink, type Link, NetlinkDecodeError, NetlinkSocket, type Rtnl, SyscallError } from '@netboot/core';
import { onRelease } from './kept.js';

/** Names of the links netboot makes per pod (wiring.ts HOST_VETH_PREFIX): their events change no kept fact. */
const OWN_LINK_PREFIX = 'nbv';

// linux/netconf.h: NETCONFA_IFINDEX, and its values for `all` and `default`.
const NETCONFA_IFINDEX = 1;
const NETCONFA_IFINDEX_ALL = -1;
const NETCONFA_IFINDEX_DEFAULT = -2;

const GROUPS = [
  constants.RTNLGRP_LINK,
  constants.RTNLGRP_IPV4_IFADDR,
  constants.RTNLGRP_IPV6_IFADDR,
  constants.RTNLGRP_IPV4_ROUTE,
  constants.RTNLGRP_IPV6_ROUTE,
  constants.RTNLGRP_IPV4_RULE,
  constants.RTNLGRP_IPV6_RULE,
  constants.RTNLGRP_IPV4_NETCONF,
  constants.RTNLGRP_IPV6_NETCONF,
];

/** The addresses whose route is the uplink (wiring.ts uplink): `ip route get fibmatch` of these. */
const UPLINK_PROBES = { 4: [192, 0, 2, 1], 6: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1] } as const;

/** A bridge as an ADD left it: up, promisc when asked, with these gateway CIDRs on it and forwarding on for their families. */
interface KeptBridge {
  link: Link;
  gateways: ReadonlySet<string>;
}

/** The uplink's MTU and the device it was read from (undefined: no route out, the default MTU). */
export interface Uplink {
  mtu: number;
  index: number | undefined;
}

/** The kept facts, and what each kind of event does to them. Pure: fed rtnetlink messages as bytes. */
export class NodeFacts {
  readonly bridges = new Map<string, KeptBridge>();
  uplink: Uplink | undefined;

  forget(): void {
    this.bridges.clear();
    this.uplink = undefined;
  }

  /**
   * Applies one message from the groups above: the netlink message at `buf[off, end)`. True for a
   * kept bridge's RTM_NEWLINK, which is left as it is: the caller decodes it for bridgeChanged().
   */
  apply(buf: Buffer, off: number, end: number): boolean {
    const body = off + 16;
    const type = buf.readUInt16LE(off + 4);
    switch (type) {
      case constants.RTM_NEWLINK:
      case constants.RTM_DELLINK:
        if (end < body + 16) break;
        if (type === constants.RTM_NEWLINK && this.keptBridge(buf.readInt32LE(body + 4))) return true;
        this.linkChanged(buf.readInt32LE(body + 4), attr(buf, body + 16, end, constants.IFLA_IFNAME));
        break;
      case constants.RTM_NEWADDR:
      case constants.RTM_DELADDR:
        if (end >= body + 8) this.dropBridge(buf.readInt32LE(body + 4));
        break;
      case constants.RTM_NEWROUTE:
      case constants.RTM_DELROUTE:
        if (end < body + 12 || coversProbe(buf[body]!, buf[body + 1]!, attr(buf, body + 12, end, constants.RTA_DST))) this.uplink = undefined;
        break;
      case constants.RTM_NEWRULE:
      case constants.RTM_DELRULE:
        this.uplink = undefined; // policy routing may send the probe elsewhere
        break;
      case constants.RTM_NEWNETCONF:
      case constants.RTM_DELNETCONF: {
        // Forwarding (or another setting) of `all`/`default` changed; a new device's own netconf did not.
        const index = attr(buf, body + 4, end, NETCONFA_IFINDEX);
        const which = index !== undefined && index.length >= 4 ? index.readInt32LE(0) : NETCONFA_IFINDEX_ALL;
        if (which === NETCONFA_IFINDEX_ALL || which === NETCONFA_IFINDEX_DEFAULT) this.bridges.clear();
        break;
      }
    }
    return false;
  }

  /**
   * A kept bridge's RTM_NEWLINK, decoded: it replaces the kept link (its gateways stay: addresses have
   * events of their own) while it is still that bridge, up; else the bridge is dropped. Either way the
   * uplink goes when the bridge is the uplink.
   */
  bridgeChanged(link: Link): void {
    for (const [name, kept] of this.bridges) {
      if (kept.link.index !== link.index) continue;
      if (link.name === name && link.kind === 'bridge' && link.up) this.bridges.set(name, { link, gateways: kept.gateways });
      else this.bridges.delete(name);
      if (link.index === this.uplink?.index) this.uplink = undefined;
      return;
    }
  }

  private keptBridge(index: number): boolean {
    for (const kept of this.bridges.values()) if (kept.link.index === index) return true;
    return false;
  }

  private linkChanged(index: number, name: Buffer | undefined): void {
    if (this.dropBridge(index)) return;
    if (index === this.uplink?.index) this.uplink = undefined;
    // Another device came, went, or changed: its routes may now be the way out (IPv4 drops a down
    // device's routes without a route event). The pods' own veths cannot be.
    else if (name === undefined || !name.toString('latin1', 0, OWN_LINK_PREFIX.length).startsWith(OWN_LINK_PREFIX)) this.uplink = undefined;
  }

  private dropBridge(index: number): boolean {
    for (const [name, kept] of this.bridges) {
      if (kept.link.index !== index) continue;
      this.bridges.delete(name);
      if (index === this.uplink?.index) this.uplink = undefined;
      return true;
    }
    return false;
  }
}

/** The payload of the first attribute of `type` between `start` and `end`. */
function attr(buf: Buffer, start: number, end: number, type: number): Buffer | undefined {
  for (let off = start; off + 4 <= end; ) {
    const len = buf.readUInt16LE(off);
    if (len < 4 || off + len > end) return undefined;
    if ((buf.readUInt16LE(off + 2) & 0x3fff) === type) return buf.subarray(off + 4, off + len);
    off += (len + 3) & ~3;
  }
  return undefined;
}

/** Whether the route `dst/dstLen` of `family` contains its uplink probe (no dst: a default route). */
function coversProbe(family: number, dstLen: number, dst: Buffer | undefined): boolean {
  const probe = family === constants.AF_INET ? UPLINK_PROBES[4] : family === constants.AF_INET6 ? UPLINK_PROBES[6] : undefined;
  if (probe === undefined) return true;
  if (dst === undefined || dstLen === 0) return true;
  for (let bit = 0; bit < dstLen; bit += 8) {
    const mask = dstLen - bit >= 8 ? 0xff : (0xff << (8 - (dstLen - bit))) & 0xff;
    if (((dst[bit >> 3]! ^ probe[bit >> 3]!) & mask) !== 0) return false;
  }
  return true;
}

/** NodeFacts kept up to date by its socket on the node's rtnetlink groups. */
export class NodeWatch {
  readonly facts = new NodeFacts();
  private readonly sock: NetlinkSocket;

  private constructor() {
    this.sock = NetlinkSocket.open();
    try {
      this.sock.joinGroups(GROUPS);
    } catch (err) {
      this.sock.close();
      throw err;
    }
  }

  /** Takes in every event queued since the last look; an overrun (events lost) forgets everything. */
  sync(): NodeFacts {
    for (;;) {
      try {
        const bridges = this.sock.receiveNow(this.judge);
        if (bridges === undefined) return this.facts;
        for (const m of bridges) this.facts.bridgeChanged(decodeLink(m));
      } catch (err) {
        // ENOBUFS: the kernel dropped events; a malformed datagram: read but not understood.
        this.facts.forget();
        if (!((err instanceof SyscallError && err.code === 'ENOBUFS') || err instanceof NetlinkDecodeError)) throw err;
      }
    }
  }

  /** Judges each event from its bytes; only a kept bridge's RTM_NEWLINK is decoded. */
  private readonly judge = (buf: Buffer, start: number, end: number): boolean => this.facts.apply(buf, start, end);

  close(): void {
    this.sock.close();
  }

  private static kept: { watch: NodeWatch; host: Rtnl } | undefined;

  /** The watch closed and its facts forgotten (kept.ts); the next served call starts a new one. */
  private static readonly release = (): void => {
    const watch = NodeWatch.kept?.watch;
    NodeWatch.kept = undefined;
    watch?.close();
  };
  private static enabled = false;

  /** From now on this process keeps node facts between calls (a warm server). */
  static enable(): void {
    NodeWatch.enabled = true;
  }

  /**
   * The facts of the namespace `host` (pod-netns.ts hostRtnl) lives in, brought up to date; undefined
   * unless enable()d. A new host socket means another namespace (a test switching in-process): its
   * watch starts empty there.
   */
  static current(host: Rtnl): NodeFacts | undefined {
    if (!NodeWatch.enabled) return undefined;
    if (NodeWatch.kept?.host !== host) {
      NodeWatch.kept?.watch.close();
      NodeWatch.kept = { watch: new NodeWatch(), host };
      onRelease(NodeWatch.release);
    }
    return NodeWatch.kept.watch.sync();
  }
}
