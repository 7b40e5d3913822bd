// Peer records checked once, in canonical text, so modes compare strings and never re-parse; and
// the stable VTEP MAC every node derives the same way for every other node.
import { createHash } from 'node:crypto';
import { bitsOf, bytesToMac, networkOf, parseIp, parseMac, parsePrefix, type IpFamily } from '@netboot/core/ip';
import { InvalidPeerError } from './errors.js';
import type { LocalNode, Peer, UnderlayAddress } from './types.js';

export interface PodCidr {
  family: IpFamily;
  /** Canonical CIDR text, as the kernel reports the route's dst. */
  cidr: string;
  /** The CIDR's network address: the peer's gateway on an overlay (flannel's `10.244.2.0`). */
  network: string;
}

/** A peer with every field parsed and canonical. */
export interface CheckedPeer {
  name: string;
  nodeIPs: ReadonlyMap<IpFamily, string>;
  podCIDRs: readonly PodCidr[];
  vtepMac: string;
}

/**
 * A stable, locally administered unicast MAC for a node's VTEP, derived from its name: the node gets
 * the same MAC after a restart, and every peer can compute it without asking (flannel stores a random
 * one in the node's annotations instead, and a lost annotation strands the peers' FDB entries).
 */
export function vtepMac(nodeName: string): string {
  const b = createHash('sha256').update(`netboot-vtep:${nodeName}`).digest();
  b[0] = (b[0]! & 0xfc) | 0x02; // locally administered (bit 1), unicast (bit 0 clear)
  return bytesToMac(b.subarray(0, 6));
}

/** Parses and canonicalises a peer; InvalidPeerError names the peer and the bad field. */
export function checkPeer(p: Peer): CheckedPeer {
  const name = typeof p?.name === 'string' && p.name !== '' ? p.name : undefined;
  if (name === undefined) throw new InvalidPeerError(String(p?.name), 'a peer needs a non-empty name');
  const fail = (why: string): never => {
    throw new InvalidPeerError(name, why);
  };
  if (!Array.isArray(p.nodeIPs) || !Array.isArray(p.podCIDRs)) fail('nodeIPs and podCIDRs must be arrays');
  const nodeIPs = new Map<IpFamily, string>();
  for (const text of p.nodeIPs) {
    let ip: { family: IpFamily; address: string };
    try {
      ip = parseIp(text);
    } catch {
      return fail(`node IP ${JSON.stringify(text)} is not an IPv4 or IPv6 address`);
    }
    if (nodeIPs.has(ip.family)) fail(`more than one IPv${ip.family} node IP`);
    nodeIPs.set(ip.family, ip.address);
  }
  if (nodeIPs.size === 0) fail('no node IP');
  const podCIDRs: PodCidr[] = [];
  for (const text of p.podCIDRs) {
    let cidr: string;
    let family: IpFamily;
    try {
      const parsed = parsePrefix(text);
      family = parsed.family;
      cidr = `${parsed.address}/${parsed.prefixLen}`;
    } catch {
      return fail(`pod CIDR ${JSON.stringify(text)} is not a CIDR`);
    }
    if (networkOf(cidr) !== cidr) fail(`pod CIDR ${text} has host bits set (the network is ${networkOf(cidr)})`);
    if (Number(cidr.split('/')[1]) === 0 || Number(cidr.split('/')[1]) === bitsOf(family)) fail(`pod CIDR ${text} is not a subnet`);
    if (podCIDRs.some((c) => c.family === family)) fail(`more than one IPv${family} pod CIDR`);
    podCIDRs.push({ family, cidr, network: cidr.split('/')[0]! });
  }
  let mac: string;
  try {
    mac = p.vtepMac === undefined ? vtepMac(name) : parseMac(p.vtepMac);
  } catch {
    return fail(`VTEP MAC ${JSON.stringify(p.vtepMac)} is not a MAC address`);
  }
  return { name, nodeIPs, podCIDRs, vtepMac: mac };
}

/** Whether `ip` lies inside `cidr` (same family, same network bits). */
export function contains(cidr: string, ip: string): boolean {
  const p = parsePrefix(cidr);
  const a = parseIp(ip);
  return a.family === p.family && networkOf(`${a.address}/${p.prefixLen}`) === networkOf(cidr);
}

/** The node's underlay address whose subnet holds `ip`: the peer is directly connected through it. */
export function onLink(node: LocalNode, ip: string): UnderlayAddress | undefined {
  return node.underlay.find((u) => contains(u.cidr, ip));
}

/** The node's underlay address for `family` (the uplink of that family), if it has one. */
export function uplinkOf(node: LocalNode, family: IpFamily): UnderlayAddress | undefined {
  return node.underlay.find((u) => parsePrefix(u.cidr).family === family);
}
