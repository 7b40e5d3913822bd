// The single-node pod network, built with @netboot/core the way a CNI plugin would:
//
//   node namespace: bridge cni0 10.244.1.1/24 ── veth-pod1 ─┐      ┌─ pod1: eth0 10.244.1.2/24
//                                              └─ veth-pod2 ─┼──────┤
//                                                                  └─ pod2: eth0 10.244.1.3/24
//   each pod: default via 10.244.1.1
//
// Everything lives in throwaway namespaces named nbt-ex-…, deleted at the end even on failure.
// Run: pnpm example:single-node   (as root)
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createNetns, deleteNetns, NetnsNotFoundError, Rtnl, type Netns } from '@netboot/core';

const GATEWAY = '10.244.1.1';
const PODS = [
  { name: 'pod1', hostIf: 'veth-pod1', ip: '10.244.1.2' },
  { name: 'pod2', hostIf: 'veth-pod2', ip: '10.244.1.3' },
];

const tag = randomBytes(3).toString('hex');
const step = (msg: string): void => console.log(`• ${msg}`);

/** `ip netns exec <ns> ping -c1 -W1 <ip>`: the check a user would run by hand. */
function ping(ns: Netns, ip: string): void {
  execFileSync('ip', ['netns', 'exec', ns.name!, 'ping', '-c1', '-W1', ip], { stdio: 'ignore' });
  step(`ping ${ns.name} → ${ip}: ok`);
}

const created: Netns[] = [];
function netns(role: string): Netns {
  const ns = createNetns(`nbt-ex-${role}-${tag}`);
  created.push(ns);
  step(`namespace ${ns.name}`);
  return ns;
}

try {
  const node = netns('node');
  using host = Rtnl.open({ netns: node });
  host.link.set('lo', { up: true });
  host.link.add({ kind: 'bridge', name: 'cni0', up: true });
  host.addr.add('cni0', `${GATEWAY}/24`);
  step(`bridge cni0 ${GATEWAY}/24 up`);

  for (const pod of PODS) {
    const ns = netns(pod.name);
    // The pod end is created straight inside the pod's namespace as eth0; the host end joins cni0.
    host.link.add({ kind: 'veth', name: pod.hostIf, master: 'cni0', up: true, peer: { name: 'eth0', netns: ns } });
    using inPod = Rtnl.open({ netns: ns });
    inPod.link.set('lo', { up: true });
    inPod.link.set('eth0', { up: true });
    inPod.addr.add('eth0', `${pod.ip}/24`);
    inPod.route.add({ dst: 'default', gateway: GATEWAY });
    step(`${pod.name}: eth0 ${pod.ip}/24, default via ${GATEWAY}, host end ${pod.hostIf} on cni0`);
  }

  const [pod1, pod2] = created.slice(1);
  ping(pod1!, PODS[1]!.ip);
  ping(pod2!, PODS[0]!.ip);
  ping(pod1!, GATEWAY);
  ping(pod2!, GATEWAY);
  step('single-node pod network works');
} finally {
  for (const ns of created.reverse()) {
    try {
      deleteNetns(ns.name!);
    } catch (err) {
      if (!(err instanceof NetnsNotFoundError)) console.error(`cleanup of ${ns.name} failed: ${String(err)}`);
    }
  }
  step(`removed ${created.length} namespaces`);
}
