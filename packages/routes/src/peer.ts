// Peer records checked once, in canonical text, so modes compare strings and never re-parse; and
// the stable VTEP MAC every node derives the same way for every other node.
import { hash } from 'node:crypto';
import { bitsOf, ipToBytes, ipToValue, networkOf, parseIp, parseMac, parsePrefix, type IpFamily, type ParsedIp, type ParsedPrefix } from '@netboot/core/ip';
import { InvalidPeerError } from './errors.js';
import type { Ipv4Parsed, LocalNode, Peer, UnderlayAddress } from './types.js';

export interface PodCidr {
  family: IpFamily;
  /** Canonical CIDR text, as the kernel reports the route's dst. */
  cidr: string;
  /** The CIDR's network address: the peer's gateway on an overlay (flannel's `10.244.2.0`). */
  network: string;
  /** An IPv4 CIDR parsed (text `cidr`): its routes' requests are written from it (see DesiredRoute.dstParsed). */
  ipv4?: Ipv4Parsed;
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
  // The digest's first 6 bytes from its hex text: no Buffer, subarray or decode per peer (a cold
  // 1,000-peer vxlan apply derives 1,000 of these), and one flat string from join.
  const h = hash('sha256', `netboot-vtep:${nodeName}`, 'hex');
  const first = (Number.parseInt(h.slice(0, 2), 16) & 0xfc) | 0x02; // locally administered (bit 1), unicast (bit 0 clear)
  return [first.toString(16).padStart(2, '0'), h.slice(2, 4), h.slice(4, 6), h.slice(6, 8), h.slice(8, 10), h.slice(10, 12)].join(':');
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
  const nodeIPs = new FamilyMap<string>();
  let ipv4: Ipv4Parsed | undefined;
  for (const text of p.nodeIPs) {
    let ip: ParsedIp;
    try {
      ip = parseIp(text);
    } catch {
      throw new InvalidPeerError(name, `node IP ${JSON.stringify(text)} is not an IPv4 or IPv6 address`);
    }
    if (nodeIPs.has(ip.family)) throw new InvalidPeerError(name, `more than one IPv${ip.family} node IP`);
    nodeIPs.set(ip.family, ip.address);
    if (ip.family === 4) ipv4 = { text: ip.address, value: Number(ipToValue(ip.address).value), prefixLen: 32 };
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
  return new Checked(name, nodeIPs, ipv4, podCIDRs, given);
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
  const value = family === 4 ? Number(ipToValue(address).value) : -1;
  if (family === 4 ? prefixLen < 32 && value % 2 ** (32 - prefixLen) !== 0 : hostBitsSet(parsed))
    throw new InvalidPeerError(name, `pod CIDR ${text} has host bits set (the network is ${networkOf(cidr)})`);
  if (prefixLen === 0 || prefixLen === bitsOf(family)) throw new InvalidPeerError(name, `pod CIDR ${text} is not a subnet`);
  return family === 4 ? { family, cidr, network: address, ipv4: { text: cidr, value, prefixLen } } : { family, cidr, network: address };
}

/** Whether any bit of the IPv6 `p.address` after the first `p.prefixLen` is set. */
function hostBitsSet(p: ParsedPrefix): boolean {
  const { prefixLen } = p;
  const bytes = ipToBytes(p.address);
  const whole = prefixLen >> 3;
  const rest = prefixLen & 7;
  if (rest !== 0 && (bytes[whole]! & (0xff >> rest)) !== 0) return true;
  for (let i = whole + (rest === 0 ? 0 : 1); i < bytes.length; i++) if (bytes[i] !== 0) return true;
  return false;
}

/**
 * A ReadonlyMap holding at most one value per IP family, in the order given: one small object per
 * peer record where a Map is two (and its table), for thousands of records in a full apply.
 */
class FamilyMap<T> implements ReadonlyMap<IpFamily, T> {
  #first: IpFamily | undefined;
  #v4: T | undefined;
  #v6: T | undefined;

  /** While the record is checked only. */
  set(family: IpFamily, value: T): void {
    this.#first ??= family;
    if (family === 4) this.#v4 = value;
    else this.#v6 = value;
  }

  get size(): number {
    return (this.#v4 === undefined ? 0 : 1) + (this.#v6 === undefined ? 0 : 1);
  }

  get(family: IpFamily): T | undefined {
    return family === 4 ? this.#v4 : family === 6 ? this.#v6 : undefined;
  }

  has(family: IpFamily): boolean {
    return this.get(family) !== undefined;
  }

  #pairs(): [IpFamily, T][] {
    const out: [IpFamily, T][] = [];
    for (const family of this.#first === 6 ? ([6, 4] as const) : ([4, 6] as const)) {
      const v = this.get(family);
      if (v !== undefined) out.push([family, v]);
    }
    return out;
  }

  forEach(fn: (value: T, family: IpFamily, map: ReadonlyMap<IpFamily, T>) => void, thisArg?: unknown): void {
    for (const [family, v] of this.#pairs()) fn.call(thisArg, v, family, this);
  }

  entries(): MapIterator<[IpFamily, T]> {
    return this.#pairs().values();
  }

  keys(): MapIterator<IpFamily> {
    return this.#pairs()
      .map(([family]) => family)
      .values();
  }

  values(): MapIterator<T> {
    return this.#pairs()
      .map(([, v]) => v)
      .values();
  }

  [Symbol.iterator](): MapIterator<[IpFamily, T]> {
    return this.entries();
  }
}

// A record holds what every desired() needs, parsed, and builds the rest on first use: the VTEP MAC
// (host-gw never needs it) and the node IPs' bytes (onLink compares an IPv4 node IP as a number).
// Bytes, Maps and closures are each a few objects per record, for thousands of records.
class Checked implements CheckedPeer {
  readonly name: string;
  readonly nodeIPs: ReadonlyMap<IpFamily, string>;
  /** The IPv4 node IP parsed, its value a number; undefined without one. */
  readonly ipv4: Ipv4Parsed | undefined;
  readonly podCIDRs: readonly PodCidr[];
  #bytes: ReadonlyMap<IpFamily, Uint8Array> | undefined;
  #mac: string | undefined;

  constructor(name: string, nodeIPs: ReadonlyMap<IpFamily, string>, ipv4: Ipv4Parsed | undefined, podCIDRs: readonly PodCidr[], mac: string | undefined) {
    this.name = name;
    this.nodeIPs = nodeIPs;
    this.ipv4 = ipv4;
    this.podCIDRs = podCIDRs;
    this.#mac = mac;
  }

  get nodeIPBytes(): ReadonlyMap<IpFamily, Uint8Array> {
    if (this.#bytes === undefined) {
      const bytes = new FamilyMap<Uint8Array>();
      for (const [family, ip] of this.nodeIPs) bytes.set(family, ipToBytes(ip));
      this.#bytes = bytes;
    }
    return this.#bytes;
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
  /** An IPv4 network as a number; -1 for IPv6. */
  net4: number;
  prefixLen: number;
  underlay: UnderlayAddress;
}

// The node's subnets as bytes, once per node record: host-gw asks for every peer.
const subnets = new WeakMap<LocalNode, Subnet[]>();

/**
 * The node's underlay address whose subnet holds the peer's node IP of `family` (none without one):
 * the peer is directly connected through it. From the checked record, without a parse per peer on
 * every desired(); an IPv4 node IP compared as a number.
 */
export function onLink(node: LocalNode, peer: CheckedPeer, family: IpFamily): UnderlayAddress | undefined {
  const list = subnets.get(node) ?? subnetsOf(node);
  const v4 = family === 4 && peer instanceof Checked && peer.ipv4 !== undefined ? peer.ipv4.value : -1;
  if (v4 >= 0) {
    // An index loop: before the JIT has optimized this (once per peer), for-of makes an iterator and a result per step.
    for (let i = 0; i < list.length; i++) {
      const s = list[i]!;
      if (s.net4 >= 0 && (s.prefixLen === 0 || (v4 ^ s.net4) >>> (32 - s.prefixLen) === 0)) return s.underlay;
    }
    return undefined;
  }
  const bytes = peer.nodeIPBytes.get(family);
  return bytes === undefined ? undefined : list.find((s) => within(bytes, s.net, s.prefixLen))?.underlay;
}

/** The peer's node IP of `family` parsed (see DesiredRoute.dstParsed), when it is IPv4 and the record was checked here. */
export function parsedNodeIP(peer: CheckedPeer, family: IpFamily): Ipv4Parsed | undefined {
  return family === 4 && peer instanceof Checked ? peer.ipv4 : undefined;
}

/** The node's subnets, parsed once per node record (kept apart from onLink, which runs per peer). */
function subnetsOf(node: LocalNode): Subnet[] {
  const list = new Array<Subnet>(node.underlay.length);
  for (let i = 0; i < list.length; i++) {
    const u = node.underlay[i]!;
    const p = parsePrefix(u.cidr);
    list[i] = { net: ipToBytes(p.address), net4: p.family === 4 ? Number(ipToValue(p.address).value) : -1, prefixLen: p.prefixLen, underlay: u };
  }
  subnets.set(node, list);
  return list;
}

/** The node's underlay address for `family` (the uplink of that family), if it has one. */
export function uplinkOf(node: LocalNode, family: IpFamily): UnderlayAddress | undefined {
  return node.underlay.find((u) => parsePrefix(u.cidr).family === family);
}
