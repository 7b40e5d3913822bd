// The data routing works on: peers (the cluster's nodes, the local one included) in, desired kernel
// state out. Plain objects, so a mode's output can be printed, compared and tested without a kernel.
import type { AddrApi, LinkApi, LinkRef, NeighApi, NexthopApi, RouteApi, Transport, VxlanSpec } from '@netboot/core';

/** A node of the cluster as routing sees it. The local node is a Peer too. */
export interface Peer {
  /** Node name; unique in the cluster (the VTEP MAC is derived from it unless `vtepMac` is given). */
  name: string;
  /** Underlay addresses of the node, IPv4 and/or IPv6: `['192.168.1.12', 'fd00:1::12']`. */
  nodeIPs: readonly string[];
  /** The node's pod CIDRs, IPv4 and/or IPv6 (several of a family while it moves to a new pool): `['10.244.2.0/24', 'fd00:244:2::/64']`. */
  podCIDRs: readonly string[];
  /** MAC of the node's VTEP (vxlan, cross-subnet); default `vtepMac(name)`, the same derivation every node uses. */
  vtepMac?: string;
}

/** One node IP as the kernel holds it: the prefix it sits in, on which device, with which MTU. */
export interface UnderlayAddress {
  /** `192.168.1.11/24`: the node IP and its directly connected subnet. */
  cidr: string;
  /** The uplink: the device holding the node IP. */
  dev: string;
  mtu: number;
}

/** The local node: a Peer plus its underlay as the kernel reports it (`discoverNode` fills it in). */
export interface LocalNode extends Peer {
  underlay: readonly UnderlayAddress[];
}

/** An IP-in-IP device (`ip link add NAME type ipip local A`); core's link API has no ipip kind. */
export interface IpipSpec {
  kind: 'ipip';
  name: string;
  local: string;
  mtu: number;
}

/** The one device a mode needs on the node (none for host-gw). */
export type DeviceSpec = (VxlanSpec & { mtu: number; address: string; local: string }) | IpipSpec;

/**
 * An IPv4 address or network parsed once per peer record (checkPeer), as core's RouteSpec.dstParsed
 * takes it: the requests for a record's entries are written without parsing its text again.
 */
export interface Ipv4Parsed {
  readonly text: string;
  /** The address as a number, first octet highest. */
  readonly value: number;
  /** The network's length; 32 for an address. */
  readonly prefixLen: number;
}

/**
 * `ip route replace DST via GATEWAY dev DEV [onlink] proto P table T`, on behalf of one peer; with
 * `nhid`, `ip route replace DST nhid N proto P table T` through the peer's nexthop object (gateway,
 * device and onlink are then the nexthop's).
 */
export interface DesiredRoute {
  peer: string;
  dst: string;
  gateway: string;
  dev: LinkRef;
  onlink?: boolean;
  nhid?: number;
  /**
   * `dst` parsed, when a mode made the route from a checked peer record: the request is written from
   * it without parsing the text again. Used only while its `text` is `dst` (a copy given another dst
   * is parsed when sent); diff and sameRoute go by the fields above.
   */
  dstParsed?: Ipv4Parsed | undefined;
  /** `gateway` parsed, on the terms of dstParsed. */
  gatewayParsed?: Ipv4Parsed | undefined;
}

/** `ip nexthop replace id N via GATEWAY dev DEV [onlink] proto P`: a peer's gateway, which its routes name. */
export interface DesiredNexthop {
  peer: string;
  id: number;
  gateway: string;
  dev: LinkRef;
  onlink?: boolean;
  /** `gateway` parsed, on the terms of DesiredRoute.dstParsed. */
  gatewayParsed?: Ipv4Parsed | undefined;
}

/** `ip neigh replace DST lladdr MAC dev DEV nud permanent`: the peer gateway's VTEP MAC. */
export interface DesiredNeigh {
  peer: string;
  dst: string;
  lladdr: string;
  dev: LinkRef;
}

/** `bridge fdb append MAC dev DEV dst IP self permanent`: where the peer's VTEP MAC lives on the underlay. */
export interface DesiredFdb {
  peer: string;
  lladdr: string;
  dst: string;
  dev: LinkRef;
}

/** The kernel entries for one peer. Modes give routes with gateways; reconcile adds the nexthops. */
export interface PeerState {
  routes: DesiredRoute[];
  neighbours: DesiredNeigh[];
  fdb: DesiredFdb[];
  nexthops?: DesiredNexthop[];
}

/** A peer (or one of its pod CIDRs) a mode cannot route; the rest of the cluster is unaffected. */
export interface Refusal {
  peer: string;
  error: Error;
}

/** Everything a mode wants in the kernel for a node and its peers. */
export interface DesiredState extends PeerState {
  device?: DeviceSpec;
  refused: Refusal[];
}

/**
 * What routes needs of core's Rtnl: its object APIs, and the transport for the one request they do not
 * cover (an ipip device). An Rtnl is one; a test builds one over core's RequestRecorder.
 */
export interface Kernel {
  link: LinkApi;
  addr: AddrApi;
  route: RouteApi;
  neigh: NeighApi;
  nexthop: NexthopApi;
  socket: Pick<Transport, 'request'>;
}
