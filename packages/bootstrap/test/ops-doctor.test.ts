// netboot doctor's judging, without a kernel: a healthy node's facts pass every check, and each way a
// node breaks (facts changed one at a time) fails exactly its check, in words that name the problem.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Link, Route } from '@netboot/core';
import { hostGw, type LocalNode, vxlan } from '@netboot/routes';
import type { DoctorFacts } from '../src/ops/doctor/facts.js';
import { type Finding, judge, renderFindings } from '../src/ops/doctor/judge.js';

const node1: LocalNode = {
  name: 'node1',
  nodeIPs: ['192.168.1.11'],
  podCIDRs: ['10.244.1.0/24'],
  underlay: [{ cidr: '192.168.1.11/24', dev: 'eth0', mtu: 1500 }],
};
const node2 = { name: 'node2', nodeIPs: ['192.168.1.12'], podCIDRs: ['10.244.2.0/24'], mode: 'host-gw' };
const link = (index: number, name: string, mtu: number, extra: Partial<Link> = {}): Link => ({
  index,
  name,
  mtu,
  flags: 1,
  up: true,
  operstate: 'UP',
  address: '',
  ...extra,
});
const route = (dst: string, gateway: string, dev: number, protocol = 78): Route => ({
  dst,
  family: 4,
  table: 254,
  protocol,
  type: 'unicast',
  scope: 'universe',
  gateway,
  dev,
});

/** node1 of a two-node host-gw cluster, everything right. */
function healthy(): DoctorFacts {
  const mode = hostGw();
  return {
    cni: {
      binDir: '/opt/cni/bin',
      confDir: '/etc/cni/net.d',
      files: [{ file: '10-netboot.conflist', name: 'netboot', types: ['netboot', 'portmap'], cniVersion: '1.0.0', bridge: 'cni0' }],
      binaries: { netboot: true, portmap: true },
    },
    lease: { path: '/run/netboot/subnet.json', subnets: ['10.244.1.0/24'], disabledSubnets: [], mtu: 1500 },
    cluster: {
      datastore: 'file /etc/netboot/nodes.json',
      node: 'node1',
      record: { name: 'node1', nodeIPs: node1.nodeIPs as string[], podCIDRs: ['10.244.1.0/24'], mode: 'host-gw' },
      peers: [node2],
      podSubnet: { cidrs: ['10.244.0.0/16'], source: 'kubeadm.yaml' },
    },
    kernel: {
      links: [link(1, 'lo', 65536), link(2, 'eth0', 1500), link(3, 'cni0', 1500, { kind: 'bridge' }), link(4, 'veth1', 1500, { kind: 'veth', master: 3 })],
      routes: [route('10.244.2.0/24', '192.168.1.12', 2), route('192.168.1.0/24', '0.0.0.0', 2, 2)],
      neighbours: [],
      fdb: [],
      nexthops: [],
      sysctls: { 'net.ipv4.ip_forward': '1', 'net.ipv6.conf.all.forwarding': '0' },
      node: node1,
      mode: 'host-gw',
      desired: mode.desired(node1, [node2]),
      podMtu: mode.mtu(node1),
    },
    leaks: {
      dataDir: '/var/lib/cni/networks/netboot',
      reservations: [{ ip: '10.244.1.2', containerId: 'c1', ifname: 'eth0' }],
      cache: [{ containerId: 'c1', ifname: 'eth0', netns: '/var/run/netns/cni-1', netnsExists: true }],
    },
  };
}

const byCheck = (findings: Finding[]) => new Map(findings.map((f) => [f.check, f]));
/** The findings that are problems, as check → message. */
const problems = (f: DoctorFacts) =>
  Object.fromEntries(
    judge(f)
      .filter((x) => x.status === 'problem')
      .map((x) => [x.check, x.message]),
  );

test('a healthy node passes every check', () => {
  const findings = judge(healthy());
  assert.equal(
    findings.filter((f) => f.status !== 'ok'),
    [],
  );
  assert.equal(
    findings.map((f) => f.check),
    ['cni-binary', 'cni-conflist', 'cni-shadow', 'lease', 'lease-conflist', 'pod-subnet', 'sysctl', 'mtu', 'routes', 'fdb-neigh', 'leaks'],
  );
  assert.match(renderFindings(findings), /✓ routes: 1 route\(s\) to 1 peer\(s\) as the host-gw mode wants[\s\S]*no problems found$/);
});

test('routes: a missing peer route, a stale netboot route and a foreign route in the way, each named', () => {
  const f = healthy();
  f.kernel.routes = [route('10.244.9.0/24', '192.168.1.19', 2)];
  assert.equal(problems(f), {
    routes:
      "no route to node2's pods 10.244.2.0/24 (want via 192.168.1.12 dev eth0); stale netboot route 10.244.9.0/24 via 192.168.1.19 dev eth0: no node in the datastore has that subnet",
  });
  f.kernel.routes = [route('10.244.2.0/24', '192.168.1.99', 2, 4)];
  const found = byCheck(judge(f)).get('routes')!;
  assert.match(found.message, /node2's pods 10\.244\.2\.0\/24 are routed by someone else \(proto 4 via 192\.168\.1\.99 dev eth0\)/);
  assert.match(found.fix!, /ip route del DST proto P/);
  // A route through netboot's nexthop object is judged by the gateway behind it.
  f.kernel.nexthops = [{ id: 0x4e000001, family: 4, protocol: 78, kind: 'single', gateway: '192.168.1.12', dev: 2 }];
  f.kernel.routes = [{ ...route('10.244.2.0/24', '', 2), gateway: undefined, dev: undefined, nhid: 0x4e000001 } as Route];
  assert.equal(problems(f), {});
});

test('vxlan: a missing device, FDB and neighbour entries, and its MTU', () => {
  const f = healthy();
  const mode = vxlan();
  f.kernel.mode = 'vxlan';
  f.kernel.desired = mode.desired(node1, [node2]);
  f.kernel.podMtu = mode.mtu(node1);
  f.lease.mtu = 1450;
  f.kernel.links = f.kernel.links.map((l) => (l.name === 'cni0' || l.name === 'veth1' ? { ...l, mtu: 1450 } : l));
  f.kernel.routes = [];
  const p = problems(f);
  assert.match(p.routes!, /the vxlan device netboot\.1 is missing; no route to node2's pods 10\.244\.2\.0\/24 \(want via 10\.244\.2\.0 dev netboot\.1\)/);
  assert.match(p['fdb-neigh']!, /no neighbour entry 10\.244\.2\.0 lladdr [0-9a-f:]+ \(node2\); no FDB entry [0-9a-f:]+ dst 192\.168\.1\.12 \(node2's VTEP\)/);
  f.kernel.links.push(link(5, 'netboot.1', 1500, { kind: 'vxlan' }));
  assert.match(problems(f).mtu!, /netboot\.1 has MTU 1500, want 1450/);
});

test('mtu: a pod veth off the bridge’s MTU, and a lease MTU the uplink cannot carry', () => {
  const f = healthy();
  f.kernel.links[3] = { ...f.kernel.links[3]!, mtu: 9000 };
  f.lease.mtu = 1600;
  assert.equal(problems(f), {
    mtu: "the lease says pod MTU 1600, host-gw over eth0 1500 allows 1500; pod veth veth1 has MTU 9000, want 1600: that pod's large packets are dropped or fragmented",
  });
});

test('CNI: missing plugin, a shadowing conflist, a conflist whose ranges or MTU disagree with the lease', () => {
  const f = healthy();
  f.cni.binaries.portmap = false;
  f.cni.files.unshift({ file: '05-flannel.conflist', name: 'cbr0', types: ['flannel', 'portmap'] });
  f.cni.files[1] = { ...f.cni.files[1]!, ranges: ['10.88.0.0/16'], mtu: 9000 };
  const p = problems(f);
  assert.match(p['cni-binary']!, /no executable \/opt\/cni\/bin\/portmap \(the conflist chains portmap\)/);
  assert.match(p['cni-shadow']!, /05-flannel\.conflist \(network cbr0, flannel → portmap\) sorts before 10-netboot\.conflist/);
  assert.match(p['lease-conflist']!, /ipam\.ranges \(10\.88\.0\.0\/16\) are not the leased subnets \(10\.244\.1\.0\/24\).*sets MTU 9000, the lease 1500/);
  f.cni.installedSha256 = 'a'.repeat(64);
  f.cni.expectedSha256 = { path: 'dist/cni/netboot', sha256: 'b'.repeat(64) };
  assert.match(problems(f)['cni-binary']!, /\/opt\/cni\/bin\/netboot differs from dist\/cni\/netboot \(another build\)/);
  f.cni.files = [];
  assert.match(problems(f)['cni-conflist']!, /no \/etc\/cni\/net\.d\/10-netboot\.conflist/);
});

test('lease, pod subnet and sysctls: missing lease, subnets disagreeing across kubeadm, pools, Node and record, forwarding off', () => {
  const f = healthy();
  f.lease = { path: '/run/netboot/subnet.json', error: 'the lease file does not exist yet: start the netboot agent on this node, or set ipam.ranges' };
  f.kernel.sysctls['net.ipv4.ip_forward'] = '0';
  f.cluster.podSubnet = { cidrs: ['10.32.0.0/12'], source: 'kube-system/kubeadm-config' };
  f.cluster.nodePodCIDRs = ['10.244.7.0/24'];
  f.cluster.pools = [{ name: 'default', cidr: '10.244.0.0/16', disabled: false }];
  const p = problems(f);
  assert.match(p.lease!, /does not exist yet/);
  assert.match(p.sysctl!, /net\.ipv4\.ip_forward is 0: this node does not forward pod traffic/);
  assert.match(p['pod-subnet']!, /pool 10\.244\.0\.0\/16 \(default\) is outside kubeadm's podSubnet 10\.32\.0\.0\/12/);
  assert.match(p['pod-subnet']!, /Node node1's spec\.podCIDRs 10\.244\.7\.0\/24 is outside kubeadm's podSubnet/);
  assert.match(p['pod-subnet']!, /the node's record says 10\.244\.1\.0\/24, its Node\.spec\.podCIDRs 10\.244\.7\.0\/24/);
  // Nothing to compare is not a problem, but says how to make it one.
  const g = healthy();
  delete g.cluster.podSubnet;
  g.lease = { path: 'x', error: 'gone' };
  assert.match(byCheck(judge(g)).get('pod-subnet')!.message, /give --kubeadm-config FILE or a working --kubeconfig/);
});

test('leaks: a reservation whose namespace is gone and one no runtime knows; no record means routes are skipped, not failed', () => {
  const f = healthy();
  f.leaks.reservations!.push({ ip: '10.244.1.3', containerId: 'c2', ifname: 'eth0' }, { ip: '10.244.1.4', containerId: 'c3', ifname: 'eth0' });
  f.leaks.cache!.push({ containerId: 'c2', ifname: 'eth0', netns: '/var/run/netns/cni-2', netnsExists: false });
  const leaks = byCheck(judge(f)).get('leaks')!;
  assert.is(
    leaks.message,
    '10.244.1.3 is held by c2/eth0, whose namespace /var/run/netns/cni-2 is gone; 10.244.1.4 is held by c3/eth0, which no runtime knows',
  );
  assert.match(leaks.fix!, /netboot ipam gc --data-dir \/var\/lib\/cni\/networks\/netboot/);
  const g = healthy();
  delete g.cluster.record;
  delete g.kernel.desired;
  g.kernel.nodeError = 'node node1 has no record in file x';
  const found = byCheck(judge(g));
  assert.is(found.get('routes')!.status, 'skipped');
  assert.match(found.get('pod-subnet')!.message, /node node1 has no record/);
});

test.run();
