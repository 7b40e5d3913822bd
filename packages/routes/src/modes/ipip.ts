// ipip: one IP-in-IP device (`netboot.ipip`, local = the node's IPv4) and, per peer,
// `POD_CIDR via PEER_NODE_IP dev netboot.ipip onlink` — the kernel encapsulates to the route's
// gateway, so no neighbour or FDB entries are needed (flannel's ipip backend, Calico's tunl0 routes).
// IPv4 only: IP-in-IP carries IPv4 in IPv4, so a peer's IPv6 pod CIDR is not routed by this mode
// (Calico refuses IPIP for IPv6 pools the same way). Overhead: one outer IPv4 header, 20 bytes.
// Kernels without the ipip driver (this project's test kernel) refuse the device; reconcile turns
// that into a ModeUnavailableError before any route is written.
import { InvalidPeerError } from '../errors.js';
import { defineMode, type Mode, type PeerRouter } from '../mode.js';
import { uplinkOf } from '../peer.js';
import type { DeviceSpec, LocalNode } from '../types.js';

export interface IpipOptions {
  /** Device name; default `netboot.ipip`. */
  name?: string;
  /** Device MTU; default the IPv4 uplink's MTU less 20. */
  mtu?: number;
}

const IPIP_OVERHEAD = 20;

function uplink(node: LocalNode) {
  const u = uplinkOf(node, 4);
  if (u === undefined) throw new InvalidPeerError(node.name, 'IP-in-IP needs an IPv4 underlay address');
  return u;
}

/** The IP-in-IP mode. */
export function ipip(opts: IpipOptions = {}): Mode {
  const name = opts.name ?? 'netboot.ipip';
  const mtu = (node: LocalNode): number => opts.mtu ?? uplink(node).mtu - IPIP_OVERHEAD;
  const route: PeerRouter = (_node, _local, peer) => {
    const via = peer.nodeIPs.get(4);
    const pods = peer.podCIDRs.filter((pod) => pod.family === 4);
    if (via === undefined) throw new InvalidPeerError(peer.name, 'IP-in-IP needs an IPv4 node IP');
    if (pods.length === 0) throw new InvalidPeerError(peer.name, 'IP-in-IP carries IPv4 only and the peer has no IPv4 pod CIDR');
    return {
      routes: pods.map((pod) => ({ peer: peer.name, dst: pod.cidr, gateway: via, dev: name, onlink: true })),
      neighbours: [],
      fdb: [],
    };
  };
  return defineMode({
    name: 'ipip',
    mtuOverhead: () => IPIP_OVERHEAD,
    mtu,
    deviceSpec: (node): DeviceSpec => ({ kind: 'ipip', name, local: uplink(node).cidr.split('/')[0]!, mtu: mtu(node) }),
    route,
  });
}
