import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { privileged, sh } from '@netboot/core/testing';
import { Cidr } from '@netboot/ipam';
import type { LabState } from '../src/lab/state.js';
import { labCli, netbootRoutes, pings } from './lab-cli-fixture.js';

const it = privileged(test);
const lab = labCli(it);
const { netboot } = lab;
/** A two-node lab, one pod each. */
const up = (...args: string[]) => lab.up('--nodes', '2', '--pods', '1', ...args);

const inPool = (pool: string) => (x: string) => Cidr.parse(pool).contains(x.includes('/') ? Cidr.parse(x) : x);
const routes78 = (netns: string) => [...netbootRoutes(netns).keys()].sort();
const lease = (state: LabState, node: string) =>
  JSON.parse(readFileSync(join(state.dir, node, 'subnet.json'), 'utf8')) as { subnets: string[]; disabledSubnets?: string[] };

interface Migration {
  oldPool: string;
  newPool: string;
  nodes: { name: string; before: string[]; after: string[] }[];
  newPod: { name: string; node: string; ips: string[] };
  released: { name: string; ips: string[] }[];
  checks: { during: { passed: number; failed: number }; after: { passed: number; failed: number } };
}

/** What holds after any migration from 10.244.0.0/16 to `newPool`, checked with ip, the lease files and ping. */
function assertMigrated(before: LabState, m: Migration, newPool: string): LabState {
  const state = JSON.parse(readFileSync(join(before.dir, 'state.json'), 'utf8')) as LabState;
  assert.is(m.oldPool, '10.244.0.0/16');
  assert.is(m.newPool, newPool);
  assert.ok(m.newPod.ips.every(inPool(newPool)), `the new pod's ${m.newPod.ips} are in ${newPool}`);
  assert.equal(m.released.map((p) => p.name).sort(), before.pods.map((p) => p.name).sort(), 'every old pod released');
  assert.ok(m.checks.during.passed > 0 && m.checks.during.failed === 0, `old pods reachable with both pools: ${JSON.stringify(m.checks.during)}`);
  assert.equal(m.checks.after, { passed: 3, failed: 0 }, 'the new pod reaches both nodes and the outside');
  for (const node of state.nodes) {
    const l = lease(state, node.name);
    assert.ok(l.subnets.length === 1 && l.subnets.every(inPool(newPool)), `${node.name}'s lease: ${JSON.stringify(l)}`);
    assert.is(l.disabledSubnets, undefined, `${node.name}: nothing disabled is left`);
    const peers = state.nodes.filter((n) => n !== node).map((n) => lease(state, n.name).subnets[0]!);
    assert.equal(routes78(node.netns), peers.sort(), `${node.name} routes only its peers' new subnets`);
  }
  assert.equal(state.podCIDRs, [newPool]);
  assert.equal(
    state.pods.map((p) => p.name),
    [m.newPod.name],
  );
  for (const p of before.pods) assert.not.ok(existsSync(`/run/netns/${p.netns}`), `${p.netns} deleted`);
  const pod = state.pods[0]!;
  assert.ok(pings(pod.netns, state.nodes[1]!.ips[0]!), 'new pod → node2');
  assert.ok(pings(pod.netns, state.outside.ips[0]!), 'new pod → outside (NAT)');
  const check = netboot('lab', 'check', '--name', state.name, '--json');
  assert.is(check.code, 0, `lab check after the migration:\n${check.stdout}${check.stderr}`);
  return state;
}

it('file datastore, host-gw: migrate-pool moves the lab to 10.245.0.0/16 — progress for each step, the nodes file keeps only the new pool', () => {
  const before = up('--mode', 'host-gw');
  const r = netboot('lab', 'migrate-pool', '--name', before.name);
  assert.is(r.code, 0, r.stderr);
  for (const step of [
    /pool 10\.245\.0\.0\/16 added/,
    /pool 10\.244\.0\.0\/16 disabled/,
    /node1: leased 10\.245\.1\.0\/24 for new pods; 10\.244\.1\.0\/24 kept, disabled/,
    /node1-pod2: 10\.245\.1\.\d+ from the new pool/,
    /old and new pods: 15 of 15 probes passed/,
    /node2-pod1: released 10\.244\.2\.\d+ \(CNI DEL\)/,
    /pool 10\.244\.0\.0\/16 deleted/,
  ])
    assert.match(r.stderr, step);
  assert.match(r.stdout, /moved from 10\.244\.0\.0\/16 to 10\.245\.0\.0\/16 in [\d.]+ s; 3 of 3 probes passed/);
  const state = JSON.parse(readFileSync(join(before.dir, 'state.json'), 'utf8')) as LabState;
  const pod = state.pods[0]!;
  const m: Migration = {
    oldPool: '10.244.0.0/16',
    newPool: '10.245.0.0/16',
    nodes: [],
    newPod: { name: pod.name, node: pod.node, ips: pod.ips },
    released: before.pods.map((p) => ({ name: p.name, ips: p.ips })),
    checks: { during: { passed: 15, failed: 0 }, after: { passed: 3, failed: 0 } },
  };
  assertMigrated(before, m, '10.245.0.0/16');
  const file = JSON.parse(readFileSync(join(before.dir, 'nodes.json'), 'utf8')) as { pools: unknown; nodes: { name: string; podCIDRs: string[] }[] };
  assert.equal(file.pools, [{ cidr: '10.245.0.0/16', disabled: false, natOutgoing: true }]);
  assert.equal(
    file.nodes.map((n) => n.podCIDRs),
    [['10.245.1.0/24'], ['10.245.2.0/24']],
  );
});

it('etcd datastore, vxlan: migrate-pool --json to 10.250.0.0/16 through ClusterIpam — the old pool is gone from etcd, its blocks too', () => {
  const before = up('--datastore', 'etcd', '--mode', 'vxlan');
  const r = netboot('lab', 'migrate-pool', '--name', before.name, '--new-pool', '10.250.0.0/16', '--json');
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stderr, '', '--json: no progress lines');
  const m = JSON.parse(r.stdout) as Migration;
  for (const n of m.nodes) {
    assert.ok(n.before.every(inPool('10.244.0.0/16')), JSON.stringify(n));
    assert.ok(n.after.length === 1 && n.after.every(inPool('10.250.0.0/16')), JSON.stringify(n));
  }
  const state = assertMigrated(before, m, '10.250.0.0/16');
  const etcd = (...args: string[]) => sh(`${state.name}-underlay`, 'etcdctl', '--endpoints', 'http://192.168.1.1:2379', ...args);
  const pools = etcd('get', '--prefix', '/netboot/ipam/pools/', '--print-value-only')
    .trim()
    .split('\n')
    .map((v) => JSON.parse(v).cidr);
  assert.equal(pools, ['10.250.0.0/16']);
  const blocks = etcd('get', '--prefix', '/netboot/ipam/blocks/', '--keys-only')
    .trim()
    .split('\n')
    .filter((l) => l !== '');
  assert.is(blocks.length, 2, `one block per node: ${blocks}`);
  assert.ok(
    blocks.every((k) => k.includes('10.250.')),
    `only the new pool's blocks: ${blocks}`,
  );
});

it('refusals: a new pool overlapping the old is a usage error (exit 2) and changes nothing; no such lab is exit 1', () => {
  const before = up('--mode', 'host-gw');
  const overlap = netboot('lab', 'migrate-pool', '--name', before.name, '--new-pool', '10.244.128.0/17');
  assert.is(overlap.code, 2);
  assert.match(overlap.stderr, /overlaps the lab's pool 10\.244\.0\.0\/16/);
  assert.equal(lease(before, 'node1').subnets, ['10.244.1.0/24'], 'nothing changed');
  assert.is(netboot('lab', 'migrate-pool', '--name', 'nbt-no-such-lab').code, 1);
});

it.run();
