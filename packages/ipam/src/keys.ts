// The KV key layout of the cluster IPAM, built and parsed in one place so the README, the CLI and the
// code agree. Every key lives under one prefix (default `/netboot/ipam`); see the README's store layout.
import type { Attachment } from './report.js';

/** Builds and parses every key the cluster IPAM reads or writes. */
export class IpamKeys {
  constructor(readonly prefix = '/netboot/ipam') {}

  get pools(): string {
    return `${this.prefix}/pools/`;
  }
  pool(name: string): string {
    return `${this.pools}${name}`;
  }
  /** Bumped by every pool create so two concurrent pool creations cannot both pass the overlap check. */
  get poolSet(): string {
    return `${this.prefix}/poolset`;
  }
  get blocks(): string {
    return `${this.prefix}/blocks/`;
  }
  block(cidr: string): string {
    return `${this.blocks}${cidr.replace('/', '_')}`;
  }
  /** The CIDR a block key names, or undefined if the key is not one. */
  parseBlock(key: string): string | undefined {
    return key.startsWith(this.blocks) ? cidrOf(key.slice(this.blocks.length)) : undefined;
  }
  get affinities(): string {
    return `${this.prefix}/affinities/`;
  }
  /** Small index entry (value: pool name) so a node's blocks are found without reading every block. */
  affinity(node: string, cidr: string): string {
    return `${this.affinities}${node}/${cidr.replace('/', '_')}`;
  }
  nodeAffinities(node: string): string {
    return `${this.affinities}${node}/`;
  }
  /** `{ node, cidr }` of an affinity key, or undefined if the key is not one. */
  parseAffinity(key: string): { node: string; cidr: string } | undefined {
    const rest = key.startsWith(this.affinities) ? key.slice(this.affinities.length) : '';
    const slash = rest.indexOf('/');
    const cidr = slash > 0 ? cidrOf(rest.slice(slash + 1)) : undefined;
    return cidr === undefined ? undefined : { node: rest.slice(0, slash), cidr };
  }
  get handles(): string {
    return `${this.prefix}/handles/`;
  }
  handle(a: Attachment): string {
    return `${this.handles}${a.containerId}/${a.ifname}`;
  }
  get nodes(): string {
    return `${this.prefix}/nodes/`;
  }
  /** `{ labels }` stored by `ClusterIpam.setNode`. */
  node(name: string): string {
    return `${this.nodes}${name}`;
  }
  /** The node name of a node key, or undefined if the key is not one. */
  parseNode(key: string): string | undefined {
    return key.startsWith(this.nodes) ? key.slice(this.nodes.length) : undefined;
  }
}

// `<address>_<prefix length>` back to `<address>/<prefix length>`; undefined for anything else.
function cidrOf(segment: string): string | undefined {
  const m = /^([^/]+)_(\d+)$/.exec(segment);
  return m ? `${m[1]}/${m[2]}` : undefined;
}
