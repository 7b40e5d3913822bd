// netboot doctor on a real node: a namespace set up the way the agent leaves a vxlan node (by
// @netboot/routes' own reconcile: device, routes, FDB, neighbours), a bridge with a pod's veth, the CNI
// files, lease and a reservation under a temp --root. Healthy: exit 0, every check ✓. Then broken the
// ways nodes break — a peer route deleted, a stale netboot route, a pod veth with another MTU, another
// network's conflist sorting first, a reservation whose pod namespace is gone — and doctor must name
// each one and exit 1.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rtnl } from '@netboot/core';
import { ipJson, privileged, sh, tempNetns, type TempNetns, withTempDir } from '@netboot/core/testing';
import { FileStore, LocalIpam } from '@netboot/ipam/file';
import { discoverNode, reconcile, vxlan } from '@netboot/routes';
import { conflist } from '../src/cni/install.js';
import { netboot } from './ops-fixture.js';

const it = privileged(test);

const nodes = [
  { name: 'node1', nodeIPs: ['192.168.1.11'], podCIDRs: ['10.244.1.0/24'], mode: 'vxlan' },
  { name: 'node2', nodeIPs: ['192.168.1.12'], podCIDRs: ['10.244.2.0/24'], mode: 'vxlan' },
  { name: 'node3', nodeIPs: ['192.168.1.13'], podCIDRs: ['10.244.3.0/24'], mode: 'vxlan' },
];

/** Writes an executable stand-in for a CNI plugin. */
function plugin(path: string): void {
  writeFileSync(path, '#!/bin/sh\nexit 0\n');
  chmodSync(path, 0o755);
}

/** A libcni cache entry for a pod attached in namespace `netns`. */
function cached(root: string, containerId: string, netns: string): void {
  const dir = join(root, 'var/lib/cni/results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `netboot-${containerId}-eth0`), JSON.stringify({ kind: 'cniCacheV1', containerId, ifName: 'eth0', networkName: 'netboot', netns }));
}

it('doctor: a healthy vxlan node exits 0; a broken one exits 1 naming each problem', async () => {
  const made: TempNetns[] = [];
  try {
    await withTempDir(async (root) => {
      const node = tempNetns();
      const pod = tempNetns();
      const gonePod = tempNetns();
      made.push(node, pod, gonePod);
      sh(node, 'ip', 'link', 'set', 'lo', 'up');
      sh(node, 'ip', 'link', 'add', 'eth0', 'up', 'type', 'veth', 'peer', 'name', 'eth0-peer');
      sh(node, 'ip', 'link', 'set', 'eth0-peer', 'up');
      sh(node, 'ip', 'addr', 'add', '192.168.1.11/24', 'dev', 'eth0');
      sh(node, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
      // The bridge and one pod, as the CNI plugin leaves them (pod MTU 1450: vxlan over a 1500 uplink).
      sh(node, 'ip', 'link', 'add', 'cni0', 'mtu', '1450', 'up', 'type', 'bridge');
      sh(node, 'ip', 'addr', 'add', '10.244.1.1/24', 'dev', 'cni0');
      sh(node, 'ip', 'link', 'add', 'veth1', 'mtu', '1450', 'master', 'cni0', 'up', 'type', 'veth', 'peer', 'name', 'eth0', 'mtu', '1450', 'netns', pod.name);
      // What the agent would do: routes, FDB and neighbours for the peers, by routes' own reconcile.
      const rtnl = Rtnl.open({ netns: node.name });
      try {
        const mode = vxlan();
        const self = discoverNode(rtnl, nodes[0]!);
        const report = reconcile(rtnl, mode.desired(self, nodes));
        assert.equal(report.failures, []);
      } finally {
        rtnl.close();
      }

      mkdirSync(join(root, 'opt/cni/bin'), { recursive: true });
      plugin(join(root, 'opt/cni/bin/netboot'));
      plugin(join(root, 'opt/cni/bin/portmap'));
      mkdirSync(join(root, 'etc/cni/net.d'), { recursive: true });
      writeFileSync(join(root, 'etc/cni/net.d/10-netboot.conflist'), JSON.stringify(conflist()));
      mkdirSync(join(root, 'run/netboot'), { recursive: true });
      writeFileSync(
        join(root, 'run/netboot/subnet.json'),
        JSON.stringify({ subnets: ['10.244.1.0/24'], gateways: ['10.244.1.1'], mtu: 1450, clusterCIDRs: ['10.244.0.0/16'] }),
      );
      const ipam = new LocalIpam(new FileStore(join(root, 'var/lib/cni/networks'), 'netboot'), [[{ subnet: '10.244.1.0/24' }]], { node: 'node1' });
      await ipam.allocate({ containerId: 'pod1', ifname: 'eth0' });
      cached(root, 'pod1', pod.path);
      const nodesFile = join(root, 'nodes.json');
      writeFileSync(nodesFile, JSON.stringify({ nodes }));
      const kubeadm = join(root, 'kubeadm.yaml');
      writeFileSync(
        kubeadm,
        'apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nnetworking:\n  podSubnet: 10.244.0.0/16\n  serviceSubnet: 10.96.0.0/12\n',
      );
      const args = ['doctor', '--root', root, '--netns', node.name, '--node', 'node1', '--nodes-file', nodesFile, '--kubeadm-config', kubeadm];

      const good = await netboot(...args);
      assert.is(good.code, 0, good.stdout + good.stderr);
      for (const check of [
        'cni-binary',
        'cni-conflist',
        'cni-shadow',
        'lease',
        'lease-conflist',
        'pod-subnet',
        'sysctl',
        'mtu',
        'routes',
        'fdb-neigh',
        'leaks',
      ])
        assert.match(good.stdout, new RegExp(`^✓ ${check}: `, 'm'));
      assert.match(good.stdout, /✓ routes: 2 route\(s\) to 2 peer\(s\) as the vxlan mode wants/);
      assert.match(good.stdout, /no problems found$/m);

      // Break it.
      sh(node, 'ip', 'route', 'del', '10.244.3.0/24');
      sh(node, 'ip', 'route', 'add', '10.244.9.0/24', 'via', '10.244.9.0', 'dev', 'netboot.1', 'onlink', 'proto', '78');
      sh(node, 'ip', 'link', 'set', 'veth1', 'mtu', '1500');
      writeFileSync(join(root, 'etc/cni/net.d/05-other.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'other', plugins: [{ type: 'bridge' }] }));
      const [leaked] = await ipam.allocate({ containerId: 'pod2', ifname: 'eth0' });
      cached(root, 'pod2', gonePod.path);
      gonePod.delete(); // the runtime lost the pod without a CNI DEL
      // The breakage is real, seen by independent tools.
      assert.not.ok(ipJson(node, 'route', 'show', '10.244.3.0/24').length, 'the route is gone');
      assert.is(ipJson(node, 'link', 'show', 'veth1')[0].mtu, 1500);

      const bad = await netboot(...args, '--json');
      assert.is(bad.code, 1, bad.stdout + bad.stderr);
      const findings = new Map((bad.json().findings as { check: string; status: string; message: string }[]).map((f) => [f.check, f]));
      const problemsFound = [...findings.values()].filter((f) => f.status === 'problem').map((f) => f.check);
      assert.equal(problemsFound.sort(), ['cni-shadow', 'leaks', 'mtu', 'routes']);
      assert.match(findings.get('routes')!.message, /no route to node3's pods 10\.244\.3\.0\/24 \(want via 10\.244\.3\.0 dev netboot\.1\)/);
      assert.match(findings.get('routes')!.message, /stale netboot route 10\.244\.9\.0\/24 via 10\.244\.9\.0 dev netboot\.1/);
      assert.match(findings.get('mtu')!.message, /pod veth veth1 has MTU 1500, want 1450/);
      assert.match(findings.get('cni-shadow')!.message, /05-other\.conflist \(network other, bridge\) sorts before 10-netboot\.conflist/);
      assert.match(
        findings.get('leaks')!.message,
        new RegExp(`${leaked!.ip.replace(/\./g, '\\.')} is held by pod2/eth0, whose namespace ${gonePod.path} is gone`),
      );
      const text = await netboot(...args);
      assert.match(text.stdout, /^✗ routes: .*\n {4}fix: /m);
      assert.match(text.stdout, /4 problem\(s\) found$/m);
    });
  } finally {
    for (const ns of made) ns.delete();
  }
});

test.run();
