// Synthetic peers for bench/agent.ts, and the etcd keys each agent reads them from. Pure: no I/O.
//
// One cluster for both agents: pod CIDR 10.0.0.0/8 cut into /24s, the agent's node at 172.16.0.1 on a
// /16 underlay and peer i at 172.16.(1 + i/256).(i%256), directly connected (host-gw needs that).
import { vtepMac } from '@netboot/routes';

export const CLUSTER_CIDR = '10.0.0.0/8';
export const UNDERLAY = { self: '172.16.0.1', prefix: 16, gateway: '172.16.255.254' };
export type BenchMode = 'host-gw' | 'vxlan';

export interface SyntheticPeer {
  name: string;
  nodeIP: string;
  /** The /24 a flanneld peer leases (netboot's peers get theirs from ClusterIpam instead). */
  subnet: string;
}

/** Peer `i` (0-based). Subnets 10.1.0.0/24 on: 10.0.0.0/16 is left to the agent under test. */
export function peer(i: number): SyntheticPeer {
  const hi = 1 + (i >> 8);
  const lo = i & 255;
  return { name: `peer-${i}`, nodeIP: `172.16.${hi}.${lo}`, subnet: `10.${hi}.${lo}.0/24` };
}

/** The `k`th peer added while the agent runs (latency samples); the caller skips subnets already taken. */
export function latePeer(k: number): SyntheticPeer {
  return { name: `late-${k}`, nodeIP: `172.16.200.${k & 255}`, subnet: `10.200.${k & 255}.0/24` };
}

/** netboot's etcd node record (`/netboot/nodes/<name>`), as EtcdDatastore.publish writes it. */
export function netbootRecord(p: SyntheticPeer, podCIDR: string, mode: BenchMode): { key: string; value: string } {
  const record = { name: p.name, nodeIPs: [p.nodeIP], podCIDRs: [podCIDR], vtepMac: vtepMac(p.name), mode };
  return { key: `/netboot/nodes/${p.name}`, value: JSON.stringify(record) };
}

/** A Kubernetes Node as netboot's Kubernetes datastore reads a peer: spec.podCIDRs and netboot.io annotations. */
export function netbootNode(p: SyntheticPeer, mode: BenchMode): object {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: p.name,
      annotations: { 'netboot.io/node-ips': p.nodeIP, 'netboot.io/vtep-mac': vtepMac(p.name), 'netboot.io/mode': mode },
    },
    spec: { podCIDR: p.subnet, podCIDRs: [p.subnet] },
  };
}

const FLANNEL_PREFIX = '/coreos.com/network';

/** flanneld's network config (`<prefix>/config`): the cluster, /24 subnets, the backend. */
export function flannelConfig(mode: BenchMode): { key: string; value: string } {
  return { key: `${FLANNEL_PREFIX}/config`, value: JSON.stringify({ Network: CLUSTER_CIDR, SubnetLen: 24, Backend: { Type: mode } }) };
}

/**
 * A flanneld subnet lease (`<prefix>/subnets/10.1.2.0-24`), as its etcd registry writes it: the
 * LeaseAttrs JSON (PublicIP, BackendType, and for vxlan BackendData {VNI, VtepMAC}).
 */
export function flannelLease(p: SyntheticPeer, i: number, mode: BenchMode): { key: string; value: string } {
  const attrs: Record<string, unknown> = { PublicIP: p.nodeIP, BackendType: mode };
  if (mode === 'vxlan')
    attrs.BackendData = { VNI: 1, VtepMAC: `0e:00:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}` };
  return { key: `${FLANNEL_PREFIX}/subnets/${p.subnet.replace('/', '-')}`, value: JSON.stringify(attrs) };
}

/** Whether `dst` (a route's destination) is a peer's pod subnet: inside the cluster CIDR, a /24. */
export function isPeerRoute(dst: string | undefined): boolean {
  return dst?.startsWith('10.') === true && dst.endsWith('/24');
}

/** p-th percentile (nearest rank) of `xs`. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
