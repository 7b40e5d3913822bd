// The seeds' three-node topology, built with core in throwaway nbt-* namespaces (the shape of
// shared/harness/three-node.sh, without `ip` or a CNI plugin):
//   underlay ns   bridge br-a (and br-b for two subnets), no addresses
//   router ns     (two subnets only) 192.168.1.1/24 + fd00:1::1/64 on br-a, 192.168.2.1/24 + fd00:2::1/64 on br-b
//   node N ns     eth0 192.168.S.1N/24 + fd00:S::1N/64 (S = 1, or 2 for node 3 with two subnets),
//                 cni0 bridge 10.244.N.1/24 + fd00:244:N::1/64, forwarding on
//   pod N ns      eth0 10.244.N.2/24 + fd00:244:N::2/64, default routes via cni0's addresses
// Every namespace is deleted by `close()`, also when building fails half way.
import { Rtnl, sysctlSet } from '@netboot/core';
import { sh, tempNetns, type TempNetns } from '@netboot/core/testing';
import type { LocalNode, Peer } from '../src/index.js';
import { discoverNode } from '../src/node.js';

export interface ClusterNode {
  n: number;
  ns: TempNetns;
  pod: TempNetns;
  rtnl: Rtnl;
  peer: Peer;
  local: LocalNode;
  podIPs: [string, string];
}

export interface Cluster {
  nodes: ClusterNode[];
  close(): void;
}

const forward = (ns: TempNetns): void => {
  sysctlSet('net.ipv4.ip_forward', '1', { netns: ns });
  sysctlSet('net.ipv6.conf.all.forwarding', '1', { netns: ns });
};

/** `subnets: 2` puts node 3 on a second underlay subnet behind a router namespace. */
export function buildCluster(opts: { subnets?: 1 | 2 } = {}): Cluster {
  const spaces: TempNetns[] = [];
  const sockets: Rtnl[] = [];
  const ns = (): TempNetns => {
    const n = tempNetns();
    spaces.push(n);
    return n;
  };
  const close = (): void => {
    for (const s of sockets) s.close();
    for (const s of spaces.reverse()) s.delete();
  };
  try {
    const two = opts.subnets === 2;
    const ul = ns();
    const ulRtnl = Rtnl.open({ netns: ul });
    sockets.push(ulRtnl);
    ulRtnl.link.set('lo', { up: true });
    for (const br of two ? ['br-a', 'br-b'] : ['br-a']) ulRtnl.link.add({ kind: 'bridge', name: br, up: true });
    // A leg from `into` (named `name` there) to the underlay bridge `br`.
    const leg = (into: TempNetns, rtnl: Rtnl, name: string, port: string, br: string): void => {
      ulRtnl.link.add({ kind: 'veth', name: port, master: br, up: true, peer: { name, netns: into } });
      rtnl.link.set(name, { up: true });
    };
    if (two) {
      const router = ns();
      const r = Rtnl.open({ netns: router });
      sockets.push(r);
      r.link.set('lo', { up: true });
      forward(router);
      leg(router, r, 'eth-a', 'ul-ra', 'br-a');
      leg(router, r, 'eth-b', 'ul-rb', 'br-b');
      r.addr.add('eth-a', '192.168.1.1/24');
      r.addr.add('eth-a', 'fd00:1::1/64', { nodad: true });
      r.addr.add('eth-b', '192.168.2.1/24');
      r.addr.add('eth-b', 'fd00:2::1/64', { nodad: true });
    }
    const nodes: ClusterNode[] = [];
    for (const n of [1, 2, 3]) {
      const s = two && n === 3 ? 2 : 1;
      const node = ns();
      const pod = ns();
      const rtnl = Rtnl.open({ netns: node });
      sockets.push(rtnl);
      rtnl.link.set('lo', { up: true });
      forward(node);
      leg(node, rtnl, 'eth0', `ul-n${n}`, s === 1 ? 'br-a' : 'br-b');
      const ip4 = `192.168.${s}.1${n}`;
      const ip6 = `fd00:${s}::1${n}`;
      rtnl.addr.add('eth0', `${ip4}/24`);
      rtnl.addr.add('eth0', `${ip6}/64`, { nodad: true });
      if (two) {
        rtnl.route.add({ dst: 'default', gateway: `192.168.${s}.1` });
        rtnl.route.add({ dst: 'default', family: 6, gateway: `fd00:${s}::1` });
      }
      rtnl.link.add({ kind: 'bridge', name: 'cni0', up: true });
      rtnl.addr.add('cni0', `10.244.${n}.1/24`);
      rtnl.addr.add('cni0', `fd00:244:${n}::1/64`, { nodad: true });
      rtnl.link.add({ kind: 'veth', name: 'veth0', master: 'cni0', up: true, peer: { name: 'eth0', netns: pod } });
      const p = Rtnl.open({ netns: pod });
      try {
        p.link.set('lo', { up: true });
        p.link.set('eth0', { up: true });
        p.addr.add('eth0', `10.244.${n}.2/24`);
        p.addr.add('eth0', `fd00:244:${n}::2/64`, { nodad: true });
        p.route.add({ dst: 'default', gateway: `10.244.${n}.1` });
        p.route.add({ dst: 'default', family: 6, gateway: `fd00:244:${n}::1` });
      } finally {
        p.close();
      }
      const peer: Peer = { name: `node${n}`, nodeIPs: [ip4, ip6], podCIDRs: [`10.244.${n}.0/24`, `fd00:244:${n}::/64`] };
      nodes.push({ n, ns: node, pod, rtnl, peer, local: discoverNode(rtnl, peer), podIPs: [`10.244.${n}.2`, `fd00:244:${n}::2`] });
    }
    return { nodes, close };
  } catch (e) {
    close();
    throw e;
  }
}

/**
 * Whether `from`'s pod reaches `ip`: one reply within `seconds` (ping keeps sending until then; the
 * first IPv6 packets on a fresh topology wait for neighbour discovery).
 */
export function pings(from: ClusterNode, ip: string, seconds = 3): boolean {
  try {
    sh(from.pod, 'ping', '-c1', '-i0.2', `-w${seconds}`, ip);
    return true;
  } catch {
    return false;
  }
}

/** Every pod → every other pod, both families: the pairs that failed (empty when all pass). */
export function pingMatrix(c: Cluster): string[] {
  const failed: string[] = [];
  for (const a of c.nodes) for (const b of c.nodes) if (a !== b) for (const ip of b.podIPs) if (!pings(a, ip)) failed.push(`pod${a.n} → ${ip}`);
  return failed;
}

/** `ip -j route show table T proto P` (both families), as `dst via gateway dev [onlink]` lines, sorted. */
export function ownedRoutes(node: ClusterNode, proto = 78): string[] {
  const lines: string[] = [];
  for (const fam of ['-4', '-6']) {
    const out = sh(node.ns, 'ip', '-j', fam, 'route', 'show', 'proto', String(proto));
    for (const r of JSON.parse(out || '[]')) lines.push(`${r.dst} via ${r.gateway} dev ${r.dev}${(r.flags ?? []).includes('onlink') ? ' onlink' : ''}`);
  }
  return lines.sort();
}

/** `ip -j nexthop show` entries of protocol `proto` as `via GW dev DEV [onlink]` lines, sorted. */
export function ownedNexthops(node: ClusterNode, proto = 78): string[] {
  const out = sh(node.ns, 'ip', '-j', 'nexthop', 'show');
  return (JSON.parse(out || '[]') as any[])
    .filter((n) => n.protocol === String(proto))
    .map((n) => `via ${n.gateway} dev ${n.dev}${(n.flags ?? []).includes('onlink') ? ' onlink' : ''}`)
    .sort();
}

/** The nhid of each route of protocol `proto` (undefined for a plain `via` route), by destination. */
export function routeNhids(node: ClusterNode, proto = 78): Record<string, number | undefined> {
  const out: Record<string, number | undefined> = {};
  for (const fam of ['-4', '-6'])
    for (const r of JSON.parse(sh(node.ns, 'ip', '-j', fam, 'route', 'show', 'proto', String(proto)) || '[]')) out[r.dst] = r.nhid;
  return out;
}

/** `bridge -j fdb show dev DEV` remote entries as `mac dst` lines, sorted. */
export function fdbEntries(node: ClusterNode, dev = 'netboot.1'): string[] {
  const out = sh(node.ns, 'bridge', '-j', 'fdb', 'show', 'dev', dev);
  return JSON.parse(out || '[]')
    .filter((e: any) => e.dst !== undefined)
    .map((e: any) => `${e.mac} ${e.dst}`)
    .sort();
}

/** `ip -j neigh show dev DEV nud permanent` as `dst lladdr` lines, sorted. */
export function permanentNeighbours(node: ClusterNode, dev = 'netboot.1'): string[] {
  const out = sh(node.ns, 'ip', '-j', 'neigh', 'show', 'dev', dev, 'nud', 'permanent');
  return JSON.parse(out || '[]')
    .map((e: any) => `${e.dst} ${e.lladdr}`)
    .sort();
}
