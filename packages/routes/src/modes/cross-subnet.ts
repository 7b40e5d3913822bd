// cross-subnet: host-gw for peers on one of the node's own L2 subnets, VXLAN for the rest (Calico's
// CrossSubnet, flannel's DirectRouting). Decided per pod CIDR from the peer's node IP of the same
// family, so a dual-stack peer may be direct in one family and tunnelled in the other. The VXLAN
// device always exists (any peer may move subnets); a peer that moves between the two kinds keeps
// the same route key (its pod CIDR), so reconcile replaces the route and deletes the neighbour and
// FDB entries it no longer needs — nothing of the other kind is left behind. The pod MTU is the
// VXLAN one: a pod cannot know which path its packets will take.
import { defineMode, type Mode, type PeerRouter } from '../mode.js';
import { onLink } from '../peer.js';
import { directRoute } from './host-gw.js';
import { overlayPeer, vxlanDevice, vxlanMtu, vxlanOverhead, type VxlanOptions } from './vxlan.js';

export type CrossSubnetOptions = VxlanOptions;

/** The cross-subnet mode. */
export function crossSubnet(opts: CrossSubnetOptions = {}): Mode {
  const route: PeerRouter = (node, _local, peer) => {
    const direct = peer.podCIDRs.filter((pod) => onLink(node, peer, pod.family) !== undefined);
    const tunnelled = peer.podCIDRs.filter((pod) => !direct.includes(pod));
    const state = overlayPeer(node, peer, tunnelled, opts);
    state.routes.push(...direct.map((pod) => directRoute(node, peer, pod)));
    return state;
  };
  return defineMode({
    name: 'cross-subnet',
    mtuOverhead: vxlanOverhead,
    mtu: (node) => vxlanMtu(node, opts),
    deviceSpec: (node) => vxlanDevice(node, opts),
    route,
  });
}
