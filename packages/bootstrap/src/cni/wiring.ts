// The pod's network on the node: the bridge with the gateway address, a veth pair whose container end
// is created straight in CNI_NETNS under CNI_IFNAME, and the container's addresses and routes set
// through a socket opened in its namespace (no namespace switching per call).
import { randomBytes } from 'node:crypto';
import { constants, isExist, isNotFound, type Link, NetlinkError, type Rtnl, sysctlGet, sysctlSet } from '@netboot/core';
import { bytesToMac, parsePrefix } from '@netboot/core/ip';
import type { Attachment, NetConf } from './config.js';
import type { CleanupStack } from './cleanup.js';
import { CniCode, CniError } from './errors.js';
import type { NodeFacts, Uplink } from './node-watch.js';
import type { CniIp, CniRoute } from './result.js';

/** Every host-side veth netboot makes starts with this, so GC can tell its own links from others'. */
export const HOST_VETH_PREFIX = 'nbv';

/** 32-bit FNV-1a of `text` from `seed`. */
function fnv1a(text: string, seed: number): number {
  let h = seed;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * The host end's name, derived from (network, containerID, ifname): DEL and GC find it without
 * prevResult, and a plugin killed mid-ADD leaves a link the next DEL can name. 48 bits of two FNV-1a
 * hashes: not a secret, only a name, and node:crypto would cost ADD several ms of module loading.
 */
export function hostVethName(network: string, a: Attachment): string {
  const key = `${network}\0${a.containerId}\0${a.ifname}`;
  const hex = fnv1a(key, 0x811c9dc5).toString(16).padStart(8, '0') + fnv1a(key, 0x050c5d1f).toString(16).padStart(8, '0');
  return `${HOST_VETH_PREFIX}${hex.slice(0, 15 - HOST_VETH_PREFIX.length)}`;
}

/**
 * `ip link del <dev>`, where a missing device counts as done. Done when the kernel echoes the deletion:
 * the pair is gone then, from both namespaces, with its addresses and routes (~0.5 ms); `ip link del`
 * returns ~20 ms later, after the kernel's rcu_barrier() for the devices' memory, which nobody needs
 * to wait for (that send finishes on a worker thread; see NetlinkSocket.requestEcho).
 */
export function deleteLink(rtnl: Rtnl, name: string): boolean {
  try {
    rtnl.socket.requestEcho({
      type: constants.RTM_DELLINK,
      header: { ifi_family: 0, ifi_type: 0, ifi_index: 0, ifi_flags: 0, ifi_change: 0 },
      attrs: { IFLA_IFNAME: name },
    });
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/** Addresses outside any pod or node network (RFC 5737, RFC 3849): their route is the way out (node-watch.ts UPLINK_PROBES). */
const OUTSIDE = ['192.0.2.1', '2001:db8::1'] as const;

/**
 * The MTU pods get when neither the config nor the lease sets one: the uplink's — the device of the
 * route the node would use to leave (`ip route get fibmatch 192.0.2.1`, else the IPv6 one), normally
 * the default route — and that device's index (undefined: no route out, 1500). One lookup, not a dump
 * of the main table, which on a node of a large cluster holds a route per peer.
 */
export function uplink(host: Rtnl): Uplink {
  for (const dst of OUTSIDE) {
    let route: ReturnType<Rtnl['route']['get']>;
    try {
      route = host.route.get(dst, { fibMatch: true });
    } catch (err) {
      if (err instanceof NetlinkError) continue; // ENETUNREACH: no route of this family
      throw err;
    }
    const dev = route.dev ?? route.nexthops?.[0]?.dev;
    if (dev === undefined) continue;
    const link = host.link.find(dev);
    return { mtu: link?.mtu ?? 1500, index: link?.index };
  }
  return { mtu: 1500, index: undefined };
}

/**
 * `ip link add <bridge> type bridge mtu <m> up` unless it exists, and promisc when asked. The bridge is
 * shared by every pod of the network and stays when an ADD fails: another ADD may already rely on it.
 */
function ensureBridge(host: Rtnl, conf: NetConf, mtu: number): Link {
  // Each link read is a full RTM_GETLINK decode (~1 ms cold): read the bridge once, twice if we made it.
  let bridge = host.link.find(conf.bridge);
  if (bridge === undefined) {
    try {
      // An explicit MAC: a bridge left to the kernel takes its lowest port's MAC, so a pod deleted
      // changes it under the other pods' ARP caches and cuts them off from their gateway for a while.
      host.link.add({ kind: 'bridge', name: conf.bridge, mtu, up: true, address: randomMac() });
    } catch (err) {
      if (!isExist(err)) throw err; // a parallel ADD made it first
    }
    bridge = host.link.get(conf.bridge);
  }
  if (bridge.kind !== 'bridge')
    throw new CniError(CniCode.Conflict, `"${conf.bridge}" exists and is a ${bridge.kind ?? 'non-bridge'} device, not a bridge: set "bridge" to another name`);
  if (!bridge.up) host.link.set(bridge.index, { up: true });
  if (conf.promiscMode && (bridge.flags & constants.IFF_PROMISC) === 0) {
    host.socket.request({
      type: constants.RTM_NEWLINK,
      header: { ifi_family: 0, ifi_type: 0, ifi_index: bridge.index, ifi_flags: constants.IFF_PROMISC, ifi_change: constants.IFF_PROMISC },
      attrs: {},
    });
  }
  return bridge;
}

/** The gateway CIDRs the bridge carries for these addresses (isGateway). */
function gatewayCidrs(conf: NetConf, ips: readonly CniIp[]): string[] {
  if (!conf.isGateway) return [];
  return ips.flatMap((ip) => (ip.gateway === undefined ? [] : [`${ip.gateway}/${parsePrefix(ip.address).prefixLen}`]));
}

/**
 * ensureBridge, unless `facts` (a warm server's, node-watch.ts) still hold the bridge as an earlier
 * ADD left it — up, promisc when asked — with no event since that could have changed it. Then no
 * request at all. Needs no address: the veth can be made on it while IPAM reserves one.
 */
export function keptBridge(host: Rtnl, conf: NetConf, mtu: number, facts: NodeFacts | undefined): Link {
  const kept = facts?.bridges.get(conf.bridge);
  if (kept !== undefined && (!conf.promiscMode || (kept.link.flags & constants.IFF_PROMISC) !== 0)) return kept.link;
  const link = ensureBridge(host, conf, mtu);
  // Kept only as read, up and (when asked) promisc: a bridge this call had to change is read again
  // next time (the change's own event drops it anyway).
  if (link.up && (!conf.promiscMode || (link.flags & constants.IFF_PROMISC) !== 0))
    facts?.bridges.set(conf.bridge, { link, gateways: kept?.gateways ?? new Set() });
  return link;
}

/**
 * `ip addr add <gw>/<len> dev <bridge>` per gateway (isGateway) and forwarding on, unless `facts`
 * hold the bridge with these gateways on it already. Added blind, EEXIST meaning it is there: one
 * request instead of an address dump on every ADD.
 */
export function keptGateways(host: Rtnl, conf: NetConf, bridge: Link, ips: readonly CniIp[], facts: NodeFacts | undefined): void {
  const gateways = gatewayCidrs(conf, ips);
  const kept = facts?.bridges.get(conf.bridge);
  if (kept !== undefined && kept.link.index === bridge.index && gateways.every((g) => kept.gateways.has(g))) return;
  for (const cidr of gateways) {
    const { family } = parsePrefix(cidr);
    try {
      host.addr.add(bridge.index, cidr, family === 6 ? { nodad: true } : {});
    } catch (err) {
      if (!isExist(err)) throw err;
    }
    enableForwarding(family);
  }
  if (kept !== undefined && kept.link.index === bridge.index)
    facts?.bridges.set(conf.bridge, { link: kept.link, gateways: new Set([...kept.gateways, ...gateways]) });
}

function enableForwarding(family: 4 | 6): void {
  const key = family === 4 ? 'net.ipv4.ip_forward' : 'net.ipv6.conf.all.forwarding';
  if (sysctlGet(key) !== '1') sysctlSet(key, 1);
}

export interface VethOptions {
  hostName: string;
  ifname: string;
  netns: string;
  mtu: number;
  bridge: Link;
  hairpin: boolean;
}

/** The two ends of a pod's veth: the host's as the kernel announced it, the container's index and MAC. */
export interface Veth {
  host: Link;
  container: { index: number; address: string };
}

/** The name startVeth's undo is pushed under. */
export function vethStep(hostName: string): string {
  return `veth ${hostName}`;
}

/** CNI_IFNAME already exists in the pod: nothing was made (error 102). */
export class InterfaceTakenError extends CniError {
  constructor(
    ifname: string,
    netns: string,
    /** The existing interface's index in the pod. */
    readonly index: number,
    cause: unknown,
  ) {
    super(CniCode.Conflict, `interface ${ifname} already exists in ${netns}: DEL the attachment first, or use another CNI_IFNAME`, { cause });
  }
}

/** Random bytes for randomMac, drawn in one call for many MACs: a warm server makes one per ADD. */
const macPool = { bytes: Buffer.alloc(0), at: 0 };

/**
 * A random unicast, locally administered MAC. From a pool: randomBytes(6) per MAC cost a served ADD
 * ~60 µs (its marks: a call into OpenSSL's generator each time), 64 of them at once about the same.
 */
function randomMac(): string {
  if (macPool.at + 6 > macPool.bytes.length) {
    macPool.bytes = randomBytes(6 * 64);
    macPool.at = 0;
  }
  const mac = macPool.bytes.subarray(macPool.at, (macPool.at += 6));
  mac[0] = (mac[0]! & 0xfe) | 0x02;
  return bytesToMac(mac);
}

/**
 * `ip link add <host> mtu <m> master <bridge> numtxqueues 1 numrxqueues 1 up type veth peer name
 * <ifname> netns <CNI_NETNS> mtu <m> address <random> numtxqueues 1 numrxqueues 1`: one request, the
 * container end never appears on the host, and the kernel's echo of it names the host end (index,
 * MAC) and the container end's index — no reading back either.
 * The request is on its way when this returns (sent from a worker thread): the caller reserves the IP
 * while the kernel makes the pair (~0.6–1 ms), then calls the function returned for the two ends —
 * before any other request on `host`. When the kernel says a name exists, the pod is asked whether it
 * is `ifname` there (InterfaceTakenError: a repeated ADD, another network's interface); otherwise the
 * host end is a leftover of a plugin killed mid-ADD, removed, and the pair made again. The usual ADD
 * pays one request, not checks that find nothing first. The undo, pushed at once, waits for the
 * kernel's answer and deletes the pair if this call made it. `pod` gives the pod's socket, which the
 * caller opens while the kernel works (it is asked for only once the kernel has answered).
 */
export function startVeth(host: Rtnl, pod: () => Rtnl, o: VethOptions, stack: CleanupStack): () => Veth {
  const address = randomMac();
  const veth = {
    kind: 'veth',
    name: o.hostName,
    mtu: o.mtu,
    master: o.bridge.index,
    up: true,
    peer: { name: o.ifname, netns: o.netns, mtu: o.mtu, address },
    // One queue per end from the start: else the kernel cuts them to one on each registered end,
    // waiting for two expedited RCU grace periods that preempt this thread on the other CPU.
    queues: 1,
  } as const;
  const created = host.link.createLater(veth);
  let made = false;
  let outcome: { veth: Veth } | { error: unknown } | undefined;
  const settle = (): Veth => {
    let link: Link;
    try {
      link = created();
    } catch (err) {
      if (!isExist(err)) throw err;
      const taken = pod().link.find(o.ifname);
      if (taken !== undefined) throw new InterfaceTakenError(o.ifname, o.netns, taken.index, err);
      if (!deleteLink(host, o.hostName)) throw err;
      link = host.link.create(veth);
    }
    made = true;
    if (o.hairpin) {
      // `ip link set <host> type bridge_slave hairpin on`
      host.socket.request({
        type: constants.RTM_NEWLINK,
        header: { ifi_family: 0, ifi_type: 0, ifi_index: link.index, ifi_flags: 0, ifi_change: 0 },
        attrs: { IFLA_LINKINFO: { IFLA_INFO_SLAVE_KIND: 'bridge', IFLA_INFO_SLAVE_DATA: { IFLA_BRPORT_MODE: 1 } } },
      });
    }
    // The echo leaves the peer's index out when it equals the host end's own: then ask the pod.
    return { host: link, container: { index: link.parent ?? pod().link.index(o.ifname), address } };
  };
  const finish = (): Veth => {
    if (outcome === undefined) {
      try {
        outcome = { veth: settle() };
      } catch (error) {
        outcome = { error };
      }
    }
    if ('error' in outcome) throw outcome.error;
    return outcome.veth;
  };
  stack.push(vethStep(o.hostName), () => {
    if (outcome === undefined) {
      try {
        finish();
      } catch {
        // made or not, as `made` says
      }
    }
    if (made) deleteLink(host, o.hostName);
  });
  return finish;
}

/** The gateway of `family` among the IPAM's addresses. */
function gatewayOf(ips: readonly CniIp[], family: 4 | 6): string | undefined {
  return ips.find((ip) => ip.gateway !== undefined && parsePrefix(ip.address).family === family)?.gateway;
}

/**
 * The routes the container gets: IPAM's (a route without `gw` goes via its family's gateway, as the
 * reference does) and, with isDefaultGateway, a default route per family that has a gateway.
 */
export function podRoutes(conf: NetConf, ips: readonly CniIp[], ipamRoutes: readonly CniRoute[]): CniRoute[] {
  const routes = ipamRoutes.map((r) => {
    const gw = r.gw ?? gatewayOf(ips, parsePrefix(r.dst).family);
    return gw === undefined ? { ...r } : { ...r, gw };
  });
  if (conf.isDefaultGateway) {
    for (const family of [4, 6] as const) {
      const dst = family === 4 ? '0.0.0.0/0' : '::/0';
      const gw = gatewayOf(ips, family);
      if (gw !== undefined && !routes.some((r) => r.dst === dst)) routes.push({ dst, gw });
    }
  }
  return routes;
}

/**
 * Inside the container, on a socket opened there: `ip addr add <ip> dev <ifname>` per address (IPv6
 * without DAD, so it is usable at once), `ip link set <ifname> up`, `ip route add <dst> via <gw>` per route.
 * Nothing to undo here: deleting the veth takes all of it away. One request each: sent as one batch
 * (NetlinkSocket.batch: one sendto, one ACK) they measured slower, 0.30 → 0.34 ms p50 of a served ADD.
 */
export function configureContainer(pod: Rtnl, index: number, ips: readonly CniIp[], routes: readonly CniRoute[]): void {
  for (const ip of ips) pod.addr.add(index, ip.address, parsePrefix(ip.address).family === 6 ? { nodad: true } : {});
  pod.link.set(index, { up: true });
  for (const r of routes) {
    pod.route.add({
      dst: r.dst,
      family: parsePrefix(r.dst).family,
      dev: index,
      ...(r.gw === undefined ? {} : { gateway: r.gw }),
      ...(r.mtu === undefined ? {} : { mtu: r.mtu }),
      ...(r.priority === undefined ? {} : { metric: r.priority }),
    });
  }
}
