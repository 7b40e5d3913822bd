// The agent's pure parts: configuration (flags over file, defaults, every refusal names its field),
// the nftables script, and the lease file as the CNI plugin reads it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { throwsA } from '@netboot/core/testing/pure';
import { AgentConfigError, parseAgentArgs } from '../src/agent/config.js';
import { leaseOf, writeLeaseFile } from '../src/agent/lease-file.js';
import { egressAddScript, egressFamilies, egressScript } from '../src/agent/masquerade.js';
import { CniCode, type CniError } from '../src/cni/errors.js';
import { readLease } from '../src/cni/lease.js';

test('flags: defaults filled, datastore from flags', () => {
  const c = parseAgentArgs([
    '--node-name',
    'node1',
    '--cluster-cidr',
    '10.244.0.0/16',
    '--datastore',
    'etcd',
    '--etcd-endpoint',
    'http://a:2379',
    '--etcd-endpoint',
    'http://b:2379',
  ]);
  assert.equal(c, {
    nodeName: 'node1',
    clusterCIDRs: ['10.244.0.0/16'],
    mode: 'vxlan',
    datastore: { type: 'etcd', endpoints: ['http://a:2379', 'http://b:2379'] },
    resyncSeconds: 30,
    healthPort: 9099,
    leaseFile: '/run/netboot/subnet.json',
    natOutgoing: true,
    cleanup: false,
  });
});

test('a config file, with flags winning over it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nbt-agent-config-'));
  try {
    const file = join(dir, 'agent.json');
    writeFileSync(
      file,
      JSON.stringify({
        nodeName: 'from-file',
        clusterCIDRs: ['10.244.0.0/16'],
        mode: 'host-gw',
        datastore: { type: 'kubernetes', kubeconfig: '/k' },
        resyncSeconds: 5,
      }),
    );
    const c = parseAgentArgs(['--config', file, '--mode', 'cross-subnet', '--node-ip', '192.168.1.11']);
    assert.is(c.nodeName, 'from-file');
    assert.is(c.mode, 'cross-subnet');
    assert.equal(c.nodeIPs, ['192.168.1.11']);
    assert.equal(c.datastore, { type: 'kubernetes', kubeconfig: '/k' });
    assert.is(c.resyncSeconds, 5);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('pools: --pool CIDR[:no-nat] or JSON pools, each with its egress NAT (default: --no-nat-outgoing or on); none given: one per cluster CIDR', () => {
  const base = ['--node-name', 'n1', '--cluster-cidr', '10.244.0.0/15'];
  assert.equal(parseAgentArgs([...base, '--pool', '10.244.0.0/16', '--pool', '10.245.0.0/16:no-nat']).pools, [
    { cidr: '10.244.0.0/16', natOutgoing: true },
    { cidr: '10.245.0.0/16', natOutgoing: false },
  ]);
  assert.equal(parseAgentArgs([...base, '--pool', '10.244.0.0/16', '--no-nat-outgoing']).pools, [{ cidr: '10.244.0.0/16', natOutgoing: false }]);
  assert.is(parseAgentArgs(base).pools, undefined);
  const dir = mkdtempSync(join(tmpdir(), 'nbt-agent-pools-'));
  try {
    const file = join(dir, 'agent.json');
    writeFileSync(file, JSON.stringify({ clusterCIDRs: ['10.244.0.0/15'], pools: [{ cidr: '10.244.0.0/16' }, { cidr: '10.245.0.0/16', natOutgoing: false }] }));
    assert.equal(parseAgentArgs(['--config', file, '--node-name', 'n1']).pools, [
      { cidr: '10.244.0.0/16', natOutgoing: true },
      { cidr: '10.245.0.0/16', natOutgoing: false },
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const e = throwsA(() => parseAgentArgs([...base, '--pool', '10.244.0.0/16', '--pool', '10.244.128.0/17']), AgentConfigError);
  assert.match(e.message, /pools 10\.244\.0\.0\/16 and 10\.244\.128\.0\/17 overlap/);
  assert.match(throwsA(() => parseAgentArgs([...base, '--pool', 'nope']), AgentConfigError).message, /pools\[0\]\.cidr "nope" is not a CIDR/);
});

test('--cluster-ipam: the Kubernetes datastore takes subnets from ClusterIpam', () => {
  const c = parseAgentArgs(['--node-name', 'n1', '--cluster-cidr', '10.244.0.0/16', '--datastore', 'kubernetes', '--cluster-ipam']);
  assert.equal(c.datastore, { type: 'kubernetes', clusterIpam: true });
});

test('bad configuration is refused with the field named', () => {
  const bad = (argv: string[], re: RegExp) => {
    const e = throwsA(() => parseAgentArgs(argv), AgentConfigError);
    assert.match(e.message, re);
  };
  const base = ['--node-name', 'n1', '--cluster-cidr', '10.244.0.0/16'];
  bad(['--node-name', 'n1'], /clusterCIDRs is required/);
  bad([...base, '--mode', 'bgp'], /mode "bgp"/);
  bad([...base, '--cluster-cidr', '10.244.0.0/33'], /not a CIDR/);
  bad([...base, '--node-ip', 'nope'], /nodeIPs has "nope"/);
  bad([...base, '--health-port', '70000'], /healthPort must be an integer/);
  bad([...base, '--datastore', 'etcd'], /datastore.endpoints/);
  bad([...base, '--datastore', 'file'], /nodes file/);
  bad([...base, '--datastore', 'consul'], /datastore.type "consul"/);
  bad([...base, '--frobnicate', '1'], /unknown option --frobnicate/);
  bad([...base, '--config', '/nonexistent/agent.json'], /cannot read config file/);
  bad(['--node-name', 'Not_A_Name', '--cluster-cidr', '10.244.0.0/16'], /DNS-1123/);
});

test('egress script: with no pool to masquerade from, the table goes (in one transaction, whether or not it exists)', () => {
  assert.is(egressScript({ natFrom: [], clusterCIDRs: ['10.244.0.0/16'], nodeIPs: ['192.168.1.11'] }), 'table inet netboot {}\ndelete table inet netboot\n');
});

test('egress: a new peer’s node IPs are added to the cluster sets a full script made, per family', () => {
  const rules = { natFrom: ['10.244.1.0/24'], clusterCIDRs: ['10.244.0.0/16'], nodeIPs: ['192.168.1.11'] };
  const { nat, sets } = egressFamilies(rules);
  assert.equal([...nat], ['4']);
  assert.equal([...sets], ['4']); // no cluster6: an IPv6 node IP needs the whole table again
  assert.ok(egressScript(rules).includes('set cluster4 {'));
  assert.is(
    egressAddScript(['192.168.1.12', 'fd00::12', '192.168.1.13']),
    'add element inet netboot cluster4 { 192.168.1.12, 192.168.1.13 }\nadd element inet netboot cluster6 { fd00::12 }\n',
  );
  assert.equal([...egressFamilies({ natFrom: [], clusterCIDRs: ['10.244.0.0/16'], nodeIPs: [] }).sets], []);
});

test('egress script: one transaction that recreates the table; pods → cluster and nodes return before masquerade', () => {
  const script = egressScript({
    natFrom: ['10.244.1.0/24', 'fd00:244:1::/64'],
    clusterCIDRs: ['10.244.0.0/16', 'fd00:244::/48'],
    nodeIPs: ['192.168.1.12', '192.168.1.11'],
  });
  assert.is(
    script,
    `table inet netboot {}
delete table inet netboot
table inet netboot {
  set nat-from4 { type ipv4_addr; flags interval; elements = { 10.244.1.0/24 } }
  set cluster4 { type ipv4_addr; flags interval; auto-merge; elements = { 10.244.0.0/16, 192.168.1.11, 192.168.1.12 } }
  set nat-from6 { type ipv6_addr; flags interval; elements = { fd00:244:1::/64 } }
  set cluster6 { type ipv6_addr; flags interval; auto-merge; elements = { fd00:244::/48 } }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr @nat-from4 ip daddr @cluster4 return
    ip saddr @nat-from4 masquerade
    ip6 saddr @nat-from6 ip6 daddr @cluster6 return
    ip6 saddr @nat-from6 masquerade
  }
}
`,
  );
});

test('the lease file is what the CNI plugin reads (subnets and MTU), written only when it changes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nbt-agent-lease-'));
  try {
    const path = join(dir, 'run/netboot/subnet.json');
    const lease = leaseOf({ podCIDRs: ['10.244.1.0/24'], disabled: [] }, 1450, ['10.244.0.0/16']);
    assert.equal(lease, { subnets: ['10.244.1.0/24'], gateways: ['10.244.1.1'], mtu: 1450, clusterCIDRs: ['10.244.0.0/16'] }, 'no disabledSubnets field');
    assert.ok(writeLeaseFile(path, lease));
    assert.not.ok(writeLeaseFile(path, lease), 'unchanged: not rewritten');
    assert.equal(readLease(path), { subnets: ['10.244.1.0/24'], mtu: 1450 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a pool migration in the lease file: new pods get the open subnet, one per family; the disabled ones are marked; none open is try-again-later', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nbt-agent-lease-'));
  try {
    const path = join(dir, 'subnet.json');
    const migrating = leaseOf({ podCIDRs: ['10.245.3.0/24', 'fd00::/64', '10.244.1.0/24', '10.246.0.0/24'], disabled: ['10.244.1.0/24'] }, 1500, [
      '10.244.0.0/16',
    ]);
    assert.equal(migrating.subnets, ['10.245.3.0/24', 'fd00::/64']);
    assert.equal(migrating.gateways, ['10.245.3.1', 'fd00::1']);
    assert.equal(migrating.disabledSubnets, ['10.244.1.0/24', '10.246.0.0/24'], 'a second open IPv4 subnet is not allocated from either');
    writeLeaseFile(path, migrating);
    assert.equal(readLease(path).subnets, ['10.245.3.0/24', 'fd00::/64'], 'the plugin allocates only from the open subnets');
    writeLeaseFile(path, leaseOf({ podCIDRs: ['10.244.1.0/24'], disabled: ['10.244.1.0/24'] }, 1500, ['10.244.0.0/16']));
    const err = (() => {
      try {
        readLease(path);
      } catch (e) {
        return e as CniError;
      }
    })();
    assert.is(err?.code, CniCode.TryAgainLater);
    assert.match(err!.message, /10\.244\.1\.0\/24\) is in a disabled pool/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
