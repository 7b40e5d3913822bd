// The lab's wires, built with @netboot/core over netlink in the lab's own namespaces (never the host's):
// the underlay (bridges; a router between two subnets for cross-subnet), the outside host, and each
// node's namespace with its uplink. Each step names the `ip` commands it equals.
import { createNetns, Rtnl, sysctlSet } from '@netboot/core';
import type { LabPlan, PlannedNode } from './plan.js';

/** `ip netns add NAME`; `record` is called before anything is put inside, so `down` can delete it. */
function netns(name: string, record: (ns: string) => void): void {
  createNetns(name);
  record(name);
}

/**
 * The underlay namespace: `ip link add br1 up type bridge; ip addr add 192.168.1.1/24 dev br1` per
 * subnet, lo up (etcd and the API server talk to themselves), and for two subnets
 * `sysctl net.ipv4.ip_forward=1` there — it is the router between them.
 */
export function buildUnderlay(plan: LabPlan, record: (ns: string) => void): void {
  const u = plan.underlay;
  netns(u.netns, record);
  using rtnl = Rtnl.open({ netns: u.netns });
  rtnl.link.set('lo', { up: true });
  for (const s of u.subnets) {
    rtnl.link.add({ kind: 'bridge', name: s.bridge, up: true });
    rtnl.addr.add(s.bridge, `${s.gateway}/${s.cidr.split('/')[1]}`);
  }
  if (u.forwarding) sysctlSet('net.ipv4.ip_forward', 1, { netns: u.netns });
}

/**
 * A host namespace plugged into the underlay: `ip -n UNDERLAY link add UPLINK up master BRIDGE type veth
 * peer name eth0 netns NS`, then in NS lo and eth0 up, `ip addr add IP/LEN dev eth0`, `ip route add
 * default via GATEWAY`.
 */
function plugHost(plan: LabPlan, host: { netns: string; ip: string; prefixLen: number; gateway: string; bridge: string; uplink: string }): void {
  using u = Rtnl.open({ netns: plan.underlay.netns });
  u.link.add({ kind: 'veth', name: host.uplink, up: true, master: host.bridge, peer: { name: 'eth0', netns: host.netns, up: true } });
  using h = Rtnl.open({ netns: host.netns });
  h.link.set('lo', { up: true });
  h.addr.add('eth0', `${host.ip}/${host.prefixLen}`);
  h.route.add({ dst: 'default', gateway: host.gateway });
}

/**
 * The outside host: on the first subnet, its default route via the underlay (the router, which knows no
 * pod CIDR either), so a pod's packet comes back only if a node masqueraded it.
 */
export function buildOutside(plan: LabPlan, record: (ns: string) => void): void {
  netns(plan.outside.netns, record);
  plugHost(plan, plan.outside);
}

/** A node's namespace with eth0 on its underlay subnet; the agent and the CNI plugin do the rest. */
export function buildNode(plan: LabPlan, node: PlannedNode, record: (ns: string) => void): void {
  netns(node.netns, record);
  plugHost(plan, node);
}

/** An empty pod namespace (lo up) for the CNI plugin's ADD to wire. */
export function buildPodNetns(name: string, record: (ns: string) => void): void {
  netns(name, record);
  using p = Rtnl.open({ netns: name });
  p.link.set('lo', { up: true });
}
