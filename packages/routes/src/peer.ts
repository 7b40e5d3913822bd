// Peer records checked once, in canonical text, so modes compare strings and never re-parse; and
// the stable VTEP MAC every node derives the same way for every other node.
import { createHash } from 'node:crypto';
import { bitsOf, bytesToMac, ipToBytes, networkOf, parseIp, parseMac, parsePrefix, type IpFamily } from '@netboot/core/ip';
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
  /** The node IPs as bytes: onLink compares them with the node's subnets on every desired(). */
  nodeIPBytes: ReadonlyMap<IpFamily, Uint8Array>;
  podCIDRs: readonly PodCidr[];
  readonly vtepMac: string;
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

// A peer record is parsed once: desired() for 5,000 peers (and the local node, asked for each of them)
// must not re-parse and re-hash on every resync. Records are treated as immutable; change a peer by
// passing a new object.
const checked = new WeakMap<Peer, CheckedPeer>();

/** Parses and canonicalises a peer (once per record); InvalidPeerError names the peer and the bad field. */
export function checkPeer(p: Peer): CheckedPeer {
  if (p === null || typeof p !== 'object') throw new InvalidPeerError(String(p), 'a peer is an object');
  let c = checked.get(p);
  if (c === undefined) checked.set(p, (c = parsePeer(p)));
  return c;
}

function parsePeer(p: Peer): CheckedPeer {
  const name = typeof p.name === 'string' && p.name !== '' ? p.name : undefined;
  if (name === undefined) throw new InvalidPeerError(String(p.name), 'a peer needs a non-empty name');
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
  const nodeIPBytes = new Map([...nodeIPs].map(([family, ip]) => [family, ipToBytes(ip)] as const));
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
    // Several per family are fine: a node keeps its old pool's subnet beside the new one during a pool migration.
    if (podCIDRs.some((c) => c.cidr === cidr)) fail(`pod CIDR ${cidr} listed twice`);
    podCIDRs.push({ family, cidr, network: cidr.split('/')[0]! });
  }
  let given: string | undefined;
  try {
    given = p.vtepMac === undefined ? undefined : parseMac(p.vtepMac);
  } catch {
    return fail(`VTEP MAC ${JSON.stringify(p.vtepMac)} is not a MAC address`);
  }
  // Derived on first use only: host-gw never needs it.
  let mac = given;
  return {
    name,
    nodeIPs,
    nodeIPBytes,
    podCIDRs,
    get vtepMac() {
      return (mac ??= vtepMac(name));
    },
  };
}

/** Whether the address bytes `ip` lie inside the network `net`/`prefixLen` (same length). */
function within(ip: Uint8Array, net: Uint8Array, prefixLen: number): boolean {
  if (ip.length !== net.length) return false;
  const whole = prefixLen >> 3;
  for (let i = 0; i < whole; i++) if (ip[i] !== net[i]) return false;
  const rest = prefixLen & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (ip[whole]! & mask) === (net[whole]! & mask);
}

interface Subnet {
  net: Uint8Array;
  prefixLen: number;
  underlay: UnderlayAddress;
}

// The node's subnets as bytes, once per node record: host-gw asks for every peer.
const subnets = new WeakMap<LocalNode, Subnet[]>();

/**
 * The node's underlay address whose subnet holds `ip` (text, or a checked peer's `nodeIPBytes`, which
 * spares a parse per peer on every desired()): the peer is directly connected through it.
 */
export function onLink(node: LocalNode, ip: string | Uint8Array): UnderlayAddress | undefined {
  let list = subnets.get(node);
  if (list === undefined) {
    list = node.underlay.map((u) => ({ net: ipToBytes(parsePrefix(u.cidr).address), prefixLen: parsePrefix(u.cidr).prefixLen, underlay: u }));
    subnets.set(node, list);
  }
  const bytes = typeof ip === 'string' ? ipToBytes(ip) : ip;
  return list.find((s) => within(bytes, s.net, s.prefixLen))?.underlay;
}

/** The node's underlay address for `family` (the uplink of that family), if it has one. */
export function uplinkOf(node: LocalNode, family: IpFamily): UnderlayAddress | undefined {
  return node.underlay.find((u) => parsePrefix(u.cidr).family === family);
}
