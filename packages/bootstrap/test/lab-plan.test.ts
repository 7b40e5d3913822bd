// The lab's layout, worked out before anything is touched (no root needed): names, underlay addresses,
// the file datastore's pod CIDRs, and the options refused.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { throwsA } from '@netboot/core/testing/pure';
import { type LabOptions, LabOptionError, planLab } from '../src/lab/plan.js';

const base: LabOptions = { name: 'demo', nodes: 3, pods: 2, mode: 'vxlan', podCIDR: '10.244.0.0/16', datastore: 'file' };

test('one subnet: nodes at 192.168.1.11…, a /24 of the pod CIDR each, pods named by node', () => {
  const plan = planLab(base);
  assert.is(plan.underlay.netns, 'demo-underlay');
  assert.equal(plan.underlay.subnets, [{ bridge: 'br1', cidr: '192.168.1.0/24', gateway: '192.168.1.1' }]);
  assert.not.ok(plan.underlay.forwarding);
  assert.equal(
    plan.nodes.map((n) => [n.netns, n.ip, n.gateway, n.podCIDR]),
    [
      ['demo-node1', '192.168.1.11', '192.168.1.1', '10.244.1.0/24'],
      ['demo-node2', '192.168.1.12', '192.168.1.1', '10.244.2.0/24'],
      ['demo-node3', '192.168.1.13', '192.168.1.1', '10.244.3.0/24'],
    ],
  );
  assert.equal(plan.nodes[1]!.pods, [
    { name: 'node2-pod1', netns: 'demo-node2-pod1' },
    { name: 'node2-pod2', netns: 'demo-node2-pod2' },
  ]);
  assert.is(plan.outside.netns, 'demo-outside');
  assert.is(plan.outside.ip, '192.168.1.100');
  assert.is(plan.dir, '/run/netboot-lab/demo');
  assert.is(plan.nodeMaskSize, 24);
});

test('cross-subnet: the first half of the nodes on 192.168.1.0/24, the rest behind the router on 192.168.2.0/24', () => {
  const plan = planLab({ ...base, nodes: 5, mode: 'cross-subnet' });
  assert.ok(plan.underlay.forwarding);
  assert.equal(
    plan.nodes.map((n) => `${n.ip} via ${n.gateway} on ${n.bridge}`),
    [
      '192.168.1.11 via 192.168.1.1 on br1',
      '192.168.1.12 via 192.168.1.1 on br1',
      '192.168.1.13 via 192.168.1.1 on br1',
      '192.168.2.14 via 192.168.2.1 on br2',
      '192.168.2.15 via 192.168.2.1 on br2',
    ],
  );
});

test('a small pod CIDR is split finer, down to a /28 per node', () => {
  const plan = planLab({ ...base, nodes: 3, podCIDR: '10.250.0.0/24' });
  assert.is(plan.nodeMaskSize, 26);
  assert.equal(
    plan.nodes.map((n) => n.podCIDR),
    ['10.250.0.64/26', '10.250.0.128/26', '10.250.0.192/26'],
  );
  throwsA(() => planLab({ ...base, nodes: 20, podCIDR: '10.250.0.0/24' }), LabOptionError, /too small/);
});

test('refused options name the option', () => {
  throwsA(() => planLab({ ...base, name: 'Bad_Name' }), LabOptionError, /--name/);
  throwsA(() => planLab({ ...base, nodes: 0 }), LabOptionError, /--nodes 0/);
  throwsA(() => planLab({ ...base, podCIDR: 'fd00:10:244::/48' }), LabOptionError, /IPv4 pod networks only/);
  throwsA(() => planLab({ ...base, podCIDR: '10.244.0.0/33' }), LabOptionError, /--pod-cidr/);
  throwsA(() => planLab({ ...base, podCIDR: '192.168.0.0/16' }), LabOptionError, /overlaps the lab's underlay/);
});

test.run();
