// What a routing mode is: a pure function from (this node, its peers) to desired kernel state, plus
// the device it needs and what that device costs in MTU. Modes never touch the kernel; reconcile does.
import type { IpFamily } from '@netboot/core/ip';
import { InvalidPeerError } from './errors.js';
import { checkPeer, type CheckedPeer } from './peer.js';
import type { DesiredState, DeviceSpec, LocalNode, Peer, PeerState, Refusal } from './types.js';

export type ModeName = 'host-gw' | 'vxlan' | 'cross-subnet' | 'ipip';

export interface Mode {
  readonly name: ModeName;
  /** Bytes of encapsulation per packet over an IPv4 or IPv6 underlay (VXLAN 50/70, IP-in-IP 20, host-gw 0). */
  mtuOverhead(underlay: IpFamily): number;
  /** The pod MTU on `node`: its uplink's MTU less this mode's overhead. */
  mtu(node: LocalNode): number;
  /** The device this mode needs on `node` (none for host-gw). */
  deviceSpec(node: LocalNode): DeviceSpec | undefined;
  /** Kernel state for `node` to reach every peer; peers it cannot route are listed in `refused`. */
  desired(node: LocalNode, peers: readonly Peer[]): DesiredState;
  /** One peer's share of `desired` (what an incremental reconcile recomputes); throws for a refused peer. */
  forPeer(node: LocalNode, peer: Peer): PeerState;
}

/** The part each mode writes: one checked peer → its entries (throwing refuses the peer). */
export type PeerRouter = (node: LocalNode, local: CheckedPeer, peer: CheckedPeer) => PeerState;

/** forPeer for a mode, from its PeerRouter: checks both records, refuses a peer that is the node itself. */
function forPeerOf(route: PeerRouter): (node: LocalNode, peer: Peer) => PeerState {
  return (node, peer) => routeChecked(route, node, checkPeer(node), peer);
}

function routeChecked(route: PeerRouter, node: LocalNode, local: CheckedPeer, peer: Peer): PeerState {
  const checked = checkPeer(peer);
  if (checked.name === local.name) throw new InvalidPeerError(checked.name, 'is the local node');
  return route(node, local, checked);
}

/**
 * desired() for every mode: the device, then each peer's entries; a peer that fails (bad record,
 * unreachable, a pod CIDR another peer or the node already has) is refused alone. Once per peer in a
 * full apply of thousands, often before the JIT has made it fast: plain loops, the node checked once.
 */
function desiredOf(mode: Mode, route: PeerRouter, node: LocalNode, peers: readonly Peer[]): DesiredState {
  const out: DesiredState = { routes: [], neighbours: [], fdb: [], refused: [] };
  const device = mode.deviceSpec(node);
  if (device !== undefined) out.device = device;
  const local = checkPeer(node);
  const taken = new Map<string, string>(local.podCIDRs.map((c) => [c.cidr, node.name]));
  const refuse = (peer: string, error: Error): void => void out.refused.push({ peer, error } satisfies Refusal);
  // Index loops: before the JIT has optimized this loop, each for-of step is an iterator result object.
  for (let p = 0; p < peers.length; p++) {
    const peer = peers[p]!;
    if (peer?.name === node.name) continue; // the node is often in its own peer list
    let state: PeerState;
    try {
      state = routeChecked(route, node, local, peer);
    } catch (e) {
      refuse(String(peer?.name), e as Error);
      continue;
    }
    const { routes, neighbours, fdb } = state;
    let clash: string | undefined;
    for (let i = 0; i < routes.length && clash === undefined; i++) if (taken.has(routes[i]!.dst)) clash = routes[i]!.dst;
    if (clash !== undefined) {
      refuse(peer.name, new InvalidPeerError(peer.name, `pod CIDR ${clash} is already ${JSON.stringify(taken.get(clash))}'s`));
      continue;
    }
    for (let i = 0; i < routes.length; i++) {
      taken.set(routes[i]!.dst, peer.name);
      out.routes.push(routes[i]!);
    }
    for (let i = 0; i < neighbours.length; i++) out.neighbours.push(neighbours[i]!);
    for (let i = 0; i < fdb.length; i++) out.fdb.push(fdb[i]!);
  }
  return out;
}

/** A Mode from the parts that differ between modes; desired() and forPeer() are the shared ones above. */
export function defineMode(parts: Pick<Mode, 'name' | 'mtuOverhead' | 'mtu' | 'deviceSpec'> & { route: PeerRouter }): Mode {
  const { route, ...rest } = parts;
  const mode: Mode = { ...rest, desired: (node, peers) => desiredOf(mode, route, node, peers), forPeer: forPeerOf(route) };
  return mode;
}
