// Peer records checked once, in canonical text, so modes compare strings and never re-parse; and
// the stable VTEP MAC every node derives the same way for every other node.
import { hash } from 'node:crypto';
import {
  bitsOf,
  bytesToMac,
  ipToBytes,
  ipToValue,
  networkOf,
  parseIp,
  parseMac,
  parsePrefix,
  type IpFamily,
  type ParsedIp,
  type ParsedPrefix,
} from '@netboot/core/ip';
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
  const b = hash('sha256', `netboot-vtep:${nodeName}`, 'buffer');
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

// Once per peer record, for thousands in a full apply (often before the JIT has made it fast): each
// field parsed once (a pod CIDR's network and host bits from its one parse), no closure per peer,
// and the VTEP MAC derived on first use by a getter on the class, not one made per record.
function parsePeer(p: Peer): CheckedPeer {
  const name = typeof p.name === 'string' && p.name !== '' ? p.name : undefined;
  if (name === undefined) throw new InvalidPeerError(String(p.name), 'a peer needs a non-empty name');
  if (!Array.isArray(p.nodeIPs) || !Array.isArray(p.podCIDRs)) throw new InvalidPeerError(name, 'nodeIPs and podCIDRs must be arrays');
  const nodeIPs = new Map<IpFamily, string>();
  const nodeIPBytes = new Map<IpFamily, Uint8Array>();
  for (const text of p.nodeIPs) {
    let ip: ParsedIp;
    try {
      ip = parseIp(text);
    } catch {
      throw new InvalidPeerError(name, `node IP ${JSON.stringify(text)} is not an IPv4 or IPv6 address`);
    }
    if (nodeIPs.has(ip.family)) throw new InvalidPeerError(name, `more than one IPv${ip.family} node IP`);
    nodeIPs.set(ip.family, ip.address);
    nodeIPBytes.set(ip.family, addressBytes(ip));
  }
  if (nodeIPs.size === 0) throw new InvalidPeerError(name, 'no node IP');
  const podCIDRs = new Array<PodCidr>(p.podCIDRs.length);
  for (let i = 0; i < podCIDRs.length; i++) {
    const pod = podCidr(name, p.podCIDRs[i]);
    // Several per family are fine: a node keeps its old pool's subnet beside the new one during a pool migration.
    for (let j = 0; j < i; j++) if (podCIDRs[j]!.cidr === pod.cidr) throw new InvalidPeerError(name, `pod CIDR ${pod.cidr} listed twice`);
    podCIDRs[i] = pod;
  }
  let given: string | undefined;
  try {
    given = p.vtepMac === undefined ? undefined : parseMac(p.vtepMac);
  } catch {
    throw new InvalidPeerError(name, `VTEP MAC ${JSON.stringify(p.vtepMac)} is not a MAC address`);
  }
  return new Checked(name, nodeIPs, nodeIPBytes, podCIDRs, given);
}

/** One pod CIDR of peer `name`, checked: a network (no host bits), not a single address, not everything. */
function podCidr(name: string, text: unknown): PodCidr {
  let parsed: ParsedPrefix;
  try {
    parsed = parsePrefix(text as string);
  } catch {
    throw new InvalidPeerError(name, `pod CIDR ${JSON.stringify(text)} is not a CIDR`);
  }
  const { family, address, prefixLen } = parsed;
  // The input itself when its address is canonical (an IPv4 one always is, once parsed; parsePrefix
  // refuses a length with leading zeros): no new string.
  const given = text as string;
  const cidr = given.charCodeAt(address.length) === 47 /* / */ && given.startsWith(address) ? given : `${address}/${prefixLen}`;
  if (hostBitsSet(addressBytes(parsed), prefixLen)) throw new InvalidPeerError(name, `pod CIDR ${text} has host bits set (the network is ${networkOf(cidr)})`);
  if (prefixLen === 0 || prefixLen === bitsOf(family)) throw new InvalidPeerError(name, `pod CIDR ${text} is not a subnet`);
  return { family, cidr, network: address };
}

/**
 * Network-order bytes of a parsed (canonical) address. IPv4 without a Buffer: constructing one (and
 * the subarray ipToBytes returns) was most of a peer record's parse, twice per peer.
 */
function addressBytes(ip: ParsedIp): Uint8Array {
  if (ip.family === 6) return ipToBytes(ip.address);
  const v = Number(ipToValue(ip.address).value);
  const b = new Uint8Array(4);
  b[0] = v >>> 24;
  b[1] = (v >>> 16) & 0xff;
  b[2] = (v >>> 8) & 0xff;
  b[3] = v & 0xff;
  return b;
}

/** Whether any bit after the first `prefixLen` of `bytes` is set. */
function hostBitsSet(bytes: Uint8Array, prefixLen: number): boolean {
  const whole = prefixLen >> 3;
  const rest = prefixLen & 7;
  if (rest !== 0 && (bytes[whole]! & (0xff >> rest)) !== 0) return true;
  for (let i = whole + (rest === 0 ? 0 : 1); i < bytes.length; i++) if (bytes[i] !== 0) return true;
  return false;
}

class Checked implements CheckedPeer {
  readonly name: string;
  readonly nodeIPs: ReadonlyMap<IpFamily, string>;
  readonly nodeIPBytes: ReadonlyMap<IpFamily, Uint8Array>;
  readonly podCIDRs: readonly PodCidr[];
  #mac: string | undefined;

  constructor(
    name: string,
    nodeIPs: ReadonlyMap<IpFamily, string>,
    nodeIPBytes: ReadonlyMap<IpFamily, Uint8Array>,
    podCIDRs: readonly PodCidr[],
    mac: string | undefined,
  ) {
    this.name = name;
    this.nodeIPs = nodeIPs;
    this.nodeIPBytes = nodeIPBytes;
    this.podCIDRs = podCIDRs;
    this.#mac = mac;
  }

  /** Derived on first use only: host-gw never needs it. */
  get vtepMac(): string {
    return (this.#mac ??= vtepMac(this.name));
  }
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
