// A node leaves and comes back with another subnet, in a real lab (`netboot lab up` by the CLI, a real
// agent per node namespace), for each datastore: node3's agent is stopped (SIGTERM) and its record
// removed the way an operator would (the nodes file edited, its etcd key deleted, `kubectl delete node`);
// within one resync node1 and node2 hold no route (proto 78), FDB or neighbour entry for it. Then its
// agent starts again with a different subnet, its pod is re-created by CNI DEL + ADD into the new one, and
// `lab check`'s whole matrix passes with nothing left anywhere for the old subnet. Checked with `ip -j`
// and `bridge -j`, not with netboot's own code.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Cidr } from '@netboot/ipam';
import { ipJson, privileged, sh, skipIf } from '@netboot/core/testing';
import { leaseFileOf, waitForAgent } from '../src/lab/agents.js';
import { cniAdd, cniDel, labPlugin } from '../src/lab/pods.js';
import { spawnInNetns, stopProcess } from '../src/lab/processes.js';
import { type LabState, saveLabState } from '../src/lab/state.js';
import { missingKubernetes } from '../src/testing/control-plane.js';
import { CLI, labCli, labKubectl, netbootRoutes, ROOT } from './lab-cli-fixture.js';

const it = privileged(test);
const { netboot, up } = labCli(it);
/** The agents' full re-list period in these labs; a removed peer must be gone within it. */
const RESYNC_SECONDS = 3;
/** The VXLAN device the agent makes in each node. */
const VXLAN = 'netboot.1';

/** What a node holds that points at node `gone` (its underlay IP, VTEP MAC, pod CIDR): routes, FDB, neighbours. */
function entriesFor(netns: string, gone: { ip: string; mac?: string; cidr: string }): string[] {
  const cidr = Cidr.parse(gone.cidr);
  const found = [...netbootRoutes(netns).keys()].filter((dst) => Cidr.parse(dst).overlaps(cidr)).map((dst) => `route ${dst}`);
  const hasVxlan = (ipJson(netns, 'link', 'show') as { ifname: string }[]).some((l) => l.ifname === VXLAN);
  if (!hasVxlan) return found;
  // bridge -j fdb show dev netboot.1; ip -j neigh show dev netboot.1
  const fdb = JSON.parse(sh(netns, 'bridge', '-j', 'fdb', 'show', 'dev', VXLAN) || '[]') as { mac: string; dst?: string }[];
  for (const f of fdb) if (f.dst === gone.ip || (gone.mac !== undefined && f.mac === gone.mac)) found.push(`fdb ${f.mac} dst ${f.dst}`);
  const neigh = ipJson(netns, 'neigh', 'show', 'dev', VXLAN) as { dst: string; lladdr?: string }[];
  for (const n of neigh) if (cidr.contains(n.dst) || (gone.mac !== undefined && n.lladdr === gone.mac)) found.push(`neigh ${n.dst} lladdr ${n.lladdr}`);
  return found;
}

async function until(what: string, ms: number, check: () => string[]): Promise<number> {
  const start = Date.now();
  let left = check();
  while (left.length > 0 && Date.now() - start < ms) {
    await new Promise((r) => setTimeout(r, 100));
    left = check();
  }
  assert.equal(left, [], `${what} after ${ms} ms`);
  return Date.now() - start;
}

/** The lab's etcd, in its underlay namespace. */
const ETCD = 'http://192.168.1.1:2379';

function etcdctl(state: LabState, ...args: string[]): string {
  return sh(`${state.name}-underlay`, 'etcdctl', '--endpoints', ETCD, ...args);
}

/** How each datastore forgets node3, and what it hands node3 next time (a different subnet). */
const forget: Record<LabState['datastore'], (state: LabState) => void> = {
  file(state) {
    const file = join(state.dir, 'nodes.json');
    const nodes = JSON.parse(readFileSync(file, 'utf8')) as { nodes: { name: string; podCIDRs: string[] }[] };
    const without = nodes.nodes.filter((n) => n.name !== 'node3');
    writeFileSync(file, `${JSON.stringify({ nodes: without }, null, 2)}\n`);
  },
  etcd(state) {
    // Its record, and its block released as ClusterIpam.releaseNode does (affinity and block).
    const block = JSON.parse(readFileSync(leaseFileOf(state.nodes[2]!), 'utf8')) as { subnets: string[] };
    etcdctl(state, 'del', '/netboot/nodes/node3');
    etcdctl(state, 'del', '--prefix', '/netboot/ipam/affinities/node3/');
    for (const cidr of block.subnets) etcdctl(state, 'del', `/netboot/ipam/blocks/${cidr.replace('/', '_')}`);
  },
  kubernetes(state) {
    labKubectl(state, 'delete', 'node', 'node3', '--wait=true');
  },
};

/**
 * Before node3 comes back, a different subnet for it: the file datastore gets a new entry; under etcd a
 * released block would come back (a node's first choice is a hash of its name), so the operator moves
 * the cluster to a new pool with the real CLI (the peers claim blocks there too and keep their old ones).
 */
function readmit(state: LabState): void {
  if (state.datastore === 'file') {
    const file = join(state.dir, 'nodes.json');
    const nodes = JSON.parse(readFileSync(file, 'utf8')) as { nodes: { name: string; podCIDRs: string[] }[] };
    nodes.nodes.push({ name: 'node3', podCIDRs: ['10.244.9.0/24'] });
    writeFileSync(file, `${JSON.stringify(nodes, null, 2)}\n`);
  } else if (state.datastore === 'etcd') {
    for (const args of [
      ['add', '10.245.0.0/16'],
      ['disable', '10.244.0.0/16'],
    ]) {
      // biome-ignore format: one command line
      const r = spawnSync('ip', ['netns', 'exec', `${state.name}-underlay`, process.execPath, ...CLI, 'pool', ...args, '--etcd-endpoint', ETCD], { cwd: ROOT, encoding: 'utf8' });
      assert.is(r.status, 0, `netboot pool ${args.join(' ')}: ${r.stderr}`);
    }
  }
}

async function churn(datastore: LabState['datastore'], mode: string): Promise<void> {
  const state = up('--nodes', '3', '--pods', '1', '--mode', mode, '--datastore', datastore, '--resync-seconds', String(RESYNC_SECONDS));
  const node3 = state.nodes.find((n) => n.name === 'node3')!;
  const peers = state.nodes.filter((n) => n !== node3);
  const old = node3.podCIDRs[0]!;
  const macOf = () => (ipJson(node3.netns, 'link', 'show', 'dev', VXLAN) as { address: string }[])[0]?.address;
  const gone = { ip: node3.ips[0]!, cidr: old, ...(mode === 'host-gw' ? {} : { mac: macOf() }) };
  // Before: every peer has something for node3 (so the check below can fail).
  for (const p of peers) assert.ok(entriesFor(p.netns, gone).length > 0, `${p.name} routes node3 before it leaves`);

  // Stop node3's agent as its init system would, remember how it was started.
  const procIdx = state.processes.findIndex((p) => p.what === 'agent node3');
  const proc = state.processes[procIdx]!;
  const argv = readFileSync(`/proc/${proc.pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
  // SIGTERM, then SIGKILL after 5 s: an agent that outlived this step was replaced in the state below
  // and so leaked past lab down (seen twice). A hang on SIGTERM is printed, for the agent to fix.
  if ((await stopProcess(proc)) === 'killed') process.stderr.write('# node3’s agent ignored SIGTERM for 5 s: killed\n');
  forget[datastore](state);
  const took = await until('peers still hold entries for node3', (RESYNC_SECONDS + 1) * 1000, () =>
    peers.flatMap((p) => entriesFor(p.netns, gone).map((e) => `${p.name}: ${e}`)),
  );
  process.stderr.write(`# ${datastore}/${mode}: node3 gone from its peers in ${took} ms\n`);

  // Back with another subnet: no lease file to reclaim the old one from.
  readmit(state);
  rmSync(leaseFileOf(node3), { force: true });
  const again = spawnInNetns('agent node3', node3.netns, argv, join(node3.dir, 'agent.log'));
  state.processes[procIdx] = again;
  saveLabState(state);
  node3.podCIDRs = await waitForAgent(node3, again, 90_000);
  assert.is.not(node3.podCIDRs[0], old, 'node3 has a different subnet');
  assert.not.ok(Cidr.parse(node3.podCIDRs[0]!).overlaps(Cidr.parse(old)), `${node3.podCIDRs[0]} is apart from ${old}`);
  saveLabState(state);

  // Its pod again, through the lab's CNI code: DEL, then ADD into the new subnet.
  const pod = state.pods.find((p) => p.node === 'node3')!;
  const plugin = labPlugin(state.dir);
  await cniDel(plugin, node3, pod);
  pod.ips = await cniAdd(plugin, node3, pod);
  assert.ok(Cidr.parse(node3.podCIDRs[0]!).contains(pod.ips[0]!), `pod ${pod.ips[0]} in ${node3.podCIDRs[0]}`);
  saveLabState(state);

  // Peers route the new subnet; nothing anywhere for the old one.
  await until('peers lack routes to node3’s new subnet', (RESYNC_SECONDS + 1) * 1000, () =>
    peers.filter((p) => !netbootRoutes(p.netns).has(node3.podCIDRs[0]!)).map((p) => p.name),
  );
  const stale = { ip: '', cidr: old };
  for (const n of state.nodes) assert.equal(entriesFor(n.netns, stale), [], `${n.name}: stale entries for ${old}`);
  // The peers' own leases (under etcd they moved to the new pool too), for `lab check`.
  for (const n of peers) n.podCIDRs = (JSON.parse(readFileSync(leaseFileOf(n), 'utf8')) as { subnets: string[] }).subnets;
  saveLabState(state);
  const check = netboot('lab', 'check', '--name', state.name, '--json');
  assert.is(check.code, 0, `lab check after node3 came back:\n${check.stdout}${check.stderr}`);
  for (const n of state.nodes) assert.equal(entriesFor(n.netns, stale), [], `${n.name}: stale entries for ${old} after the check`);
}

it('file datastore, vxlan: node3 leaves (entry removed) and comes back with another pod CIDR', () => churn('file', 'vxlan'));
it('etcd datastore, host-gw: node3 leaves (key and block deleted) and comes back with a block of a new pool', () => churn('etcd', 'host-gw'));
skipIf(it, process.env.CI === 'true' ? undefined : missingKubernetes())(
  'Kubernetes datastore, vxlan: kubectl delete node node3, then it re-registers with a new podCIDR',
  () => churn('kubernetes', 'vxlan'),
);

test.run();
