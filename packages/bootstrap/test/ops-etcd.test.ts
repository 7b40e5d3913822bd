// `netboot status`, `netboot ipam …` and `netboot pool …` against a real etcd holding what real agents'
// datastores wrote (EtcdDatastore: leased blocks, published records) and pods' IPs (ClusterIpam), run
// as the CLI a person types, judged by exit code and output.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type EtcdFixture, startEtcd, withTempDir } from '@netboot/core/testing';
import { ClusterIpam, type Reservation } from '@netboot/ipam';
import { EtcdKv } from '@netboot/ipam/etcd';
import { EtcdDatastore } from '../src/datastore/index.js';
import { netboot } from './ops-fixture.js';

let etcd: EtcdFixture;
let kv: EtcdKv;
let ipam: ClusterIpam;
let E: string[];
const agents: EtcdDatastore[] = [];
const cidrs: Record<string, string[]> = {};
let pod: Reservation;

test.before(async () => {
  etcd = await startEtcd();
  const prefix = `/nbt-${randomBytes(4).toString('hex')}`;
  E = ['--etcd-endpoint', etcd.endpoint, '--etcd-prefix', prefix];
  kv = await EtcdKv.open({ endpoints: etcd.endpoint, prefix });
  ipam = new ClusterIpam(kv);
  // What two agents do: claim a block of the pool for their node, publish their record.
  await ipam.createPool({ name: 'default', cidr: '10.244.0.0/16' });
  for (const [n, name] of ['node1', 'node2'].entries()) {
    const ds = new EtcdDatastore({ endpoints: [etcd.endpoint], node: name, prefix });
    agents.push(ds);
    cidrs[name] = [(await ipam.claimBlock(name)).cidr];
    await ds.publish({ name, nodeIPs: [`192.168.1.1${n + 1}`], podCIDRs: cidrs[name]!, mode: 'vxlan' });
  }
  pod = await ipam.allocate('node1', { containerId: 'c1', ifname: 'eth0' });
});

test.after(async () => {
  for (const a of agents) await a.close();
  await kv?.close();
  await etcd?.stop();
});

test('status: every node with its subnet, node IP and mode; exit 0 when nothing is wrong', async () => {
  const r = await netboot('status', ...E, '--health-port', '0', '--json');
  assert.is(r.code, 0, r.stderr);
  const nodes = r.json().nodes as { name: string; podCIDRs: string[]; nodeIPs: string[]; mode: string; health: { state: string } }[];
  assert.equal(
    nodes.map((n) => [n.name, n.podCIDRs, n.nodeIPs, n.mode, n.health.state]),
    [
      ['node1', cidrs.node1, ['192.168.1.11'], 'vxlan', 'unknown'],
      ['node2', cidrs.node2, ['192.168.1.12'], 'vxlan', 'unknown'],
    ],
  );
  const text = await netboot('status', ...E, '--health-port', '0');
  assert.match(text.stdout, new RegExp(`node1\\s+192\\.168\\.1\\.11\\s+${cidrs.node1![0]!.replace(/\./g, '\\.')}\\s+vxlan\\s+unknown`));
  assert.match(text.stdout, /✓ no problems found/);
});

test('ipam show --ip: who holds an address (node, container, interface); a free one says so', async () => {
  const r = await netboot('ipam', 'show', '--ip', pod.ip, ...E);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`${pod.ip} is held by container c1 interface eth0 \\(node node1, pool default, block ${pod.block}\\)`));
  const j = await netboot('ipam', 'show', '--ip', pod.ip, ...E, '--json');
  assert.equal(j.json().ip.holder, { ...pod, node: 'node1' });
  const free = await netboot('ipam', 'show', '--ip', '10.244.255.77', ...E);
  assert.is(free.code, 0);
  assert.match(free.stdout, /10\.244\.255\.77 is free/);
});

test('ipam show: usage per pool; --blocks lists node blocks, --node the node’s pod IPs', async () => {
  const r = await netboot('ipam', 'show', ...E);
  assert.match(r.stdout, /pool default 10\.244\.0\.0\/16: 1 of \d+ addresses in use/);
  const j = (await netboot('ipam', 'show', '--blocks', '--node', 'node1', ...E, '--json')).json();
  assert.equal(
    j.blocks.map((b: { cidr: string; node: string }) => [b.cidr, b.node]),
    [[cidrs.node1![0], 'node1']],
  );
  assert.equal(
    j.reservations.map((x: Reservation) => [x.ip, x.containerId]),
    [[pod.ip, 'c1']],
  );
});

test('ipam check finds blocks of nodes without a record; gc frees only the empty ones; release --from-report the rest, refusing stale entries', async () => {
  assert.is((await netboot('ipam', 'check', ...E)).code, 0, 'a consistent store');
  const ghostIp = await ipam.allocate('ghost', { containerId: 'g1', ifname: 'eth0' }); // a node gone with a pod IP
  const empty = await ipam.claimBlock('ghost2'); // a node gone, its block empty
  const check = await netboot('ipam', 'check', ...E);
  assert.is(check.code, 1, 'problems found');
  assert.match(check.stdout, new RegExp(`orphan-block: block ${ghostIp.block!.replace(/\./g, '\\.')} belongs to node ghost`));
  assert.match(check.stdout, new RegExp(`orphan-block: block ${empty.cidr.replace(/\./g, '\\.')} belongs to node ghost2`));

  const dry = await netboot('ipam', 'gc', '--dry-run', ...E);
  assert.is(dry.code, 1, 'something is left for a human');
  assert.match(dry.stdout, new RegExp(`would release: block ${empty.cidr.replace(/\./g, '\\.')}`));
  assert.match(dry.stdout, /left for a human: .*ghost.*still holds pod IPs/);
  assert.ok(
    (await ipam.listBlocks()).some((b) => b.node === 'ghost2'),
    'dry run changed nothing',
  );
  const gc = await netboot('ipam', 'gc', ...E);
  assert.is(gc.code, 1);
  const after = await ipam.listBlocks();
  assert.not.ok(
    after.some((b) => b.node === 'ghost2'),
    'the empty orphan block is gone',
  );
  assert.ok(
    after.some((b) => b.node === 'ghost'),
    'the one with a pod IP stays',
  );

  await withTempDir(async (dir) => {
    const report = join(dir, 'report.json');
    const json = await netboot('ipam', 'check', ...E, '--json');
    writeFileSync(report, json.stdout);
    assert.equal(
      json.json().problems.map((p: { kind: string; node: string }) => [p.kind, p.node]),
      [['orphan-block', 'ghost']],
    );
    const rel = await netboot('ipam', 'release', '--from-report', report, ...E);
    assert.is(rel.code, 0, rel.stdout + rel.stderr);
    assert.match(rel.stdout, new RegExp(`released ${ghostIp.ip.replace(/\./g, '\\.')}  g1/eth0`));
    assert.is(await ipam.holder(ghostIp.ip), undefined);
    const again = await netboot('ipam', 'release', '--from-report', report, ...E);
    assert.is(again.code, 1, 'a stale report is refused');
    assert.match(again.stdout, /stale, not released: block .* belongs to node ghost/);
    // A report of another store is not applied here.
    writeFileSync(report, JSON.stringify({ store: 'local /var/lib/cni/networks/netboot', problems: [] }));
    const other = await netboot('ipam', 'release', '--from-report', report, ...E);
    assert.is(other.code, 1);
    assert.match(other.stderr, /describes local \/var\/lib\/cni\/networks\/netboot, not etcd/);
  });
});

test('pool add/list/disable/delete: the migration, and delete refused while in use naming who uses it', async () => {
  const add = await netboot('pool', 'add', '10.245.0.0/16', '--block-size', '26', ...E);
  assert.is(add.code, 0, add.stderr);
  assert.match(add.stdout, /added pool 10\.245\.0\.0\/16 \(pool-10-245-0-0-16\): \/26 node blocks, NAT on, vxlan/);
  const overlap = await netboot('pool', 'add', '10.244.128.0/17', ...E);
  assert.is(overlap.code, 1);
  assert.match(overlap.stderr, /overlaps/);

  assert.is((await netboot('pool', 'disable', '10.244.0.0/16', ...E)).code, 0);
  const list = (await netboot('pool', 'list', ...E, '--json')).json() as { cidr: string; disabled: boolean; allocated: number }[];
  assert.equal(list.map((p) => [p.cidr, p.disabled, p.allocated]).sort(), [
    ['10.244.0.0/16', true, 1],
    ['10.245.0.0/16', false, 0],
  ]);
  // A new pod on node1 gets the new pool's address though node1 still has a block in the old one.
  const moved = await ipam.allocate('node1', { containerId: 'c2', ifname: 'eth0' });
  assert.match(moved.ip, /^10\.245\./);

  const refused = await netboot('pool', 'delete', '10.244.0.0/16', ...E);
  assert.is(refused.code, 1);
  assert.match(refused.stderr, new RegExp(`still has 1 pod IP\\(s\\):\\n  ${pod.ip.replace(/\./g, '\\.')}  container c1 eth0  node node1`));
  assert.match(refused.stderr, /netboot pool disable 10\.244\.0\.0\/16/);
  await ipam.releaseAttachment({ containerId: 'c1', ifname: 'eth0' }); // the pod restarted elsewhere
  const deleted = await netboot('pool', 'delete', '10.244.0.0/16', ...E);
  assert.is(deleted.code, 0, deleted.stderr);
  assert.match(deleted.stdout, /deleted pool 10\.244\.0\.0\/16 \(default\) and 2 empty block\(s\)/);
  const gone = await netboot('pool', 'enable', '10.244.0.0/16', ...E);
  assert.is(gone.code, 1);
  assert.match(gone.stderr, /no pool 10\.244\.0\.0\/16 \(pools: 10\.245\.0\.0\/16 \(pool-10-245-0-0-16\)\)/);
});

test('usage errors exit 2 and say what is missing', async () => {
  const noCidr = await netboot('pool', 'add', ...E);
  assert.is(noCidr.code, 2);
  assert.match(noCidr.stderr, /pool add needs the pool's CIDR/);
  assert.is((await netboot('ipam', 'frob', ...E)).code, 2);
  const noEndpoint = await netboot('status', '--datastore', 'etcd');
  assert.is(noEndpoint.code, 2);
  assert.match(noEndpoint.stderr, /--datastore etcd needs --etcd-endpoint/);
  assert.is((await netboot('ipam', 'release', ...E)).code, 2);
  const help = await netboot('ipam', '--help');
  assert.is(help.code, 0);
  assert.match(help.stdout, /examples:/);
});

test.run();
