// vxlan: one VXLAN device per node (`netboot.1`, VNI 1, UDP 4789, learning off, local = the node IP,
// a MAC derived from the node name so it survives restarts) and, per peer, three static entries:
//   1. neighbour  PEER_GW lladdr PEER_VTEP_MAC dev netboot.1 nud permanent   (no ARP over the overlay)
//   2. FDB        PEER_VTEP_MAC dev netboot.1 dst PEER_NODE_IP self permanent (where that MAC lives)
//   3. route      POD_CIDR via PEER_GW dev netboot.1 onlink                  (send pod traffic there)
// PEER_GW is the pod CIDR's network address (flannel's `10.244.2.0`): it only names the peer on the
// overlay and is never configured anywhere. The order makes every route usable the moment it
// appears: a route before its neighbour would send packets to ARP; a neighbour before its FDB entry
// would encapsulate to nowhere. Reconcile writes them in that order and rolls a peer back if a later
// step fails. Dual-stack pod CIDRs share the device and the FDB entry (one underlay family).
import { parsePrefix, type IpFamily } from '@netboot/core/ip';
import { InvalidPeerError } from '../errors.js';
import { defineMode, type Mode, type PeerRouter } from '../mode.js';
import { checkPeer, uplinkOf, type CheckedPeer, type PodCidr } from '../peer.js';
import type { DesiredFdb, DesiredNeigh, DesiredRoute, DeviceSpec, LocalNode, PeerState, UnderlayAddress } from '../types.js';

export interface VxlanOptions {
  /** Device name; default `netboot.1`. */
  name?: string;
  /** VXLAN network identifier; default 1. */
  vni?: number;
  /** UDP port; default 4789 (IANA; flannel uses the kernel's 8472). */
  port?: number;
  /** Underlay family; default the family of the node's first node IP. */
  underlay?: IpFamily;
  /** Device MTU; default the uplink's MTU less 50 (IPv4 underlay) or 70 (IPv6). */
  mtu?: number;
}

export const VXLAN_DEFAULTS = { name: 'netboot.1', vni: 1, port: 4789 } as const;

/** Outer IPv4 (20) or IPv6 (40) header + UDP (8) + VXLAN (8) + inner Ethernet (14). */
export function vxlanOverhead(underlay: IpFamily): number {
  return underlay === 4 ? 50 : 70;
}

/** The node's uplink for the VXLAN underlay; InvalidPeerError when the node has no IP of that family. */
function vxlanUplink(node: LocalNode, opts: VxlanOptions): UnderlayAddress {
  const local = checkPeer(node);
  const family = opts.underlay ?? [...local.nodeIPs.keys()][0]!;
  const uplink = uplinkOf(node, family);
  if (uplink === undefined) throw new InvalidPeerError(node.name, `no IPv${family} underlay address for the VXLAN device`);
  return uplink;
}

// The underlay family per node record and asked-for family: overlayFdb needs it for every peer, and
// finding it parses the node's addresses (node records are treated as immutable, as in peer.ts).
const families = new WeakMap<LocalNode, Map<IpFamily | undefined, IpFamily>>();

function underlayFamily(node: LocalNode, opts: VxlanOptions): IpFamily {
  let known = families.get(node);
  if (known === undefined) families.set(node, (known = new Map()));
  let family = known.get(opts.underlay);
  if (family === undefined) known.set(opts.underlay, (family = parsePrefix(vxlanUplink(node, opts).cidr).family));
  return family;
}

export function vxlanMtu(node: LocalNode, opts: VxlanOptions): number {
  const uplink = vxlanUplink(node, opts);
  return opts.mtu ?? uplink.mtu - vxlanOverhead(underlayFamily(node, opts));
}

/** `ip link add netboot.1 mtu M address MAC type vxlan id 1 dstport 4789 local NODE_IP dev UPLINK nolearning`. */
export function vxlanDevice(node: LocalNode, opts: VxlanOptions): DeviceSpec {
  const uplink = vxlanUplink(node, opts);
  return {
    kind: 'vxlan',
    name: opts.name ?? VXLAN_DEFAULTS.name,
    vni: opts.vni ?? VXLAN_DEFAULTS.vni,
    port: opts.port ?? VXLAN_DEFAULTS.port,
    local: uplink.cidr.split('/')[0]!,
    dev: uplink.dev,
    learning: false,
    mtu: vxlanMtu(node, opts),
    address: checkPeer(node).vtepMac,
    up: true,
  };
}

/** The FDB entry that sends the peer's VTEP MAC to its node IP. */
function overlayFdb(node: LocalNode, peer: CheckedPeer, opts: VxlanOptions): DesiredFdb {
  const family = underlayFamily(node, opts);
  const dst = peer.nodeIPs.get(family);
  if (dst === undefined) throw new InvalidPeerError(peer.name, `no IPv${family} node IP for the VXLAN underlay`);
  return { peer: peer.name, lladdr: peer.vtepMac, dst, dev: opts.name ?? VXLAN_DEFAULTS.name };
}

/** Every pod CIDR of `peer` over the overlay. */
export function overlayPeer(node: LocalNode, peer: CheckedPeer, pods: readonly PodCidr[], opts: VxlanOptions): PeerState {
  if (pods.length === 0) return { routes: [], neighbours: [], fdb: [] };
  // Lists made at their length: a reconcile keeps each peer's state (pushing to an empty list
  // reserves room for 17).
  const state: PeerState = { routes: new Array(pods.length), neighbours: new Array(pods.length), fdb: [overlayFdb(node, peer, opts)] };
  const dev = opts.name ?? VXLAN_DEFAULTS.name;
  const mac = peer.vtepMac;
  for (let i = 0; i < pods.length; i++) {
    // The neighbour and route of one pod CIDR over the overlay.
    const pod = pods[i]!;
    state.neighbours[i] = { peer: peer.name, dst: pod.network, lladdr: mac, dev } satisfies DesiredNeigh;
    state.routes[i] = { peer: peer.name, dst: pod.cidr, gateway: pod.network, dev, onlink: true } satisfies DesiredRoute;
  }
  return state;
}

/** The VXLAN mode (flannel's vxlan backend, Calico's vxlanMode Always). */
export function vxlan(opts: VxlanOptions = {}): Mode {
  const route: PeerRouter = (node, _local, peer) => overlayPeer(node, peer, peer.podCIDRs, opts);
  return defineMode({ name: 'vxlan', mtuOverhead: vxlanOverhead, mtu: (node) => vxlanMtu(node, opts), deviceSpec: (node) => vxlanDevice(node, opts), route });
}
