// The local node as the kernel sees it: for each node IP, the device holding it (the uplink), the
// subnet it sits in (what host-gw and cross-subnet call "directly connected") and that device's MTU
// (what the pod MTU is computed from).
import { InvalidPeerError } from './errors.js';
import { checkPeer } from './peer.js';
import type { Kernel, LocalNode, Peer, UnderlayAddress } from './types.js';

/** `ip -j addr show` + `ip -j link show DEV` for each node IP of `peer`; InvalidPeerError if one is on no device. */
export function discoverNode(rtnl: Kernel, peer: Peer): LocalNode {
  const checked = checkPeer(peer);
  const addrs = rtnl.addr.list();
  const underlay: UnderlayAddress[] = [];
  for (const [family, ip] of checked.nodeIPs) {
    const a = addrs.find((x) => x.family === family && x.address === ip);
    if (a === undefined) throw new InvalidPeerError(checked.name, `node IP ${ip} is not on any device here`);
    const link = rtnl.link.get(a.index);
    underlay.push({ cidr: a.cidr, dev: link.name, mtu: link.mtu });
  }
  return { ...peer, underlay };
}
