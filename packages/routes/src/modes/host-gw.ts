// host-gw: the seeds' "on each node, add a route to every other node's pod subnet" — for each peer
// and each of its pod CIDRs, `ip route replace POD_CIDR via PEER_NODE_IP dev UPLINK`, in the same
// family. No device, no encapsulation, no MTU cost; the price is that every peer must sit on one of
// the node's directly connected subnets (the kernel hands the packet to the peer's node IP as the
// next hop), so a peer that does not is refused by name rather than given a route that blackholes.
import { InvalidPeerError, UnreachablePeerError } from '../errors.js';
import { defineMode, type Mode, type PeerRouter } from '../mode.js';
import { onLink, parsedNodeIP, type CheckedPeer, type PodCidr } from '../peer.js';
import type { DesiredRoute, LocalNode } from '../types.js';

/** `POD_CIDR via NODE_IP dev UPLINK` for one pod CIDR of a peer; UnreachablePeerError when not on link. */
export function directRoute(node: LocalNode, peer: CheckedPeer, pod: PodCidr): DesiredRoute {
  const via = peer.nodeIPs.get(pod.family);
  if (via === undefined) throw new InvalidPeerError(peer.name, `no IPv${pod.family} node IP to route ${pod.cidr} via`);
  const uplink = onLink(node, peer, pod.family);
  if (uplink === undefined)
    throw new UnreachablePeerError(
      peer.name,
      via,
      node.underlay.map((u) => u.cidr),
    );
  // With the addresses as the records parsed them, for the kernel requests (DesiredRoute.dstParsed).
  return { peer: peer.name, dst: pod.cidr, gateway: via, dev: uplink.dev, dstParsed: pod.ipv4, gatewayParsed: parsedNodeIP(peer, pod.family) };
}

// Once per peer in a full apply of thousands, often before the JIT has made it fast: a loop into a
// list made at its length, no closure per peer.
const route: PeerRouter = function hostGwRoute(node, _local, peer) {
  const pods = peer.podCIDRs;
  const routes = new Array<DesiredRoute>(pods.length);
  for (let i = 0; i < pods.length; i++) routes[i] = directRoute(node, peer, pods[i]!);
  return { routes, neighbours: [], fdb: [] };
};

/** The host-gw mode (flannel's host-gw, kube-router's same-subnet routes). */
export function hostGw(): Mode {
  return defineMode({
    name: 'host-gw',
    mtuOverhead: () => 0,
    mtu: (node) => Math.min(...node.underlay.map((u) => u.mtu)),
    deviceSpec: () => undefined,
    route,
  });
}
