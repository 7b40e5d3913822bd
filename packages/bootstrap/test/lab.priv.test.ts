// `netboot lab up` and `lab down` as a user runs them, for every mode with every datastore (nine labs):
// the real CLI in a child process, one lab per test (named nbt-<random>), checked with independent tools — `ip -j route` in each node's namespace shows
// the peers' pod CIDRs with netboot's protocol (78), ping goes pod to pod across nodes and to the
// outside host — and afterwards no namespace, process or directory of the lab is left, also when `up`
// was killed half-way.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { privileged, skipIf } from '@netboot/core/testing';
import type { LabState } from '../src/lab/state.js';
import { missingKubernetes } from '../src/testing/control-plane.js';
import { CLI, labCli, labKubectl, netbootRoutes, pings, ROOT } from './lab-cli-fixture.js';

const it = privileged(test);
const { netboot, up, fresh, downed } = labCli(it);

/** Each node has a netboot route to every other node's pod CIDRs, and no more. */
function assertPeerRoutes(state: LabState): void {
  for (const node of state.nodes) {
    const peers = state.nodes.filter((n) => n !== node).flatMap((n) => n.podCIDRs);
    assert.equal([...netbootRoutes(node.netns).keys()].sort(), peers.sort(), `${node.name}'s netboot routes`);
  }
}

/** The first pod of each node, in node order. */
function firstPods(state: LabState) {
  return state.nodes.map((n) => state.pods.find((p) => p.node === n.name)!);
}

/** Every pod pings every pod of the other nodes, and the outside host (through the node's NAT). */
function assertTraffic(state: LabState): void {
  const pods = firstPods(state);
  for (const a of pods) for (const b of pods) if (a !== b) assert.ok(pings(a.netns, b.ips[0]!), `${a.name} (${a.ips[0]}) → ${b.name} (${b.ips[0]})`);
  assert.ok(pings(pods[0]!.netns, state.outside.ips[0]!), `${pods[0]!.name} → outside ${state.outside.ips[0]}`);
  // …and `lab check`'s whole matrix passes, NAT included (lab-check.priv.test.ts tests the check itself).
  const check = netboot('lab', 'check', '--name', state.name, '--json');
  assert.is(check.code, 0, `lab check:\n${check.stdout}${check.stderr}`);
}

/** The process recorded is gone (or a zombie nobody reaped: it runs nothing). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\S+ \(.*\) [ZX] /.test(stat);
  } catch {
    return false;
  }
}

/** `lab down` removes every namespace, process and file of `state`; a second run has nothing to do. */
function assertDown(state: LabState): void {
  const r = netboot('lab', 'down', '--name', state.name);
  assert.is(r.code, 0, r.stderr);
  for (const ns of state.namespaces) assert.not.ok(existsSync(`/run/netns/${ns}`), `namespace ${ns} left`);
  assert.equal(
    (spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.match(new RegExp(`^${state.name}-\\S+`, 'gm')) ?? []).sort(),
    [],
    'ip netns list shows none of the lab',
  );
  for (const p of state.processes) assert.not.ok(running(p.pid), `${p.what} (pid ${p.pid}) still runs`);
  assert.not.ok(existsSync(state.dir), `${state.dir} left`);
  const again = netboot('lab', 'down', '--name', state.name);
  assert.is(again.code, 0);
  assert.match(again.stderr, /nothing to do/);
  downed();
}

it('host-gw, file datastore: peers routed via their node IPs, pods reach each other and the outside; down removes it all', () => {
  const state = up('--nodes', '2', '--pods', '1', '--mode', 'host-gw', '--datastore', 'file');
  assert.equal(
    state.nodes.map((n) => n.podCIDRs),
    [['10.244.1.0/24'], ['10.244.2.0/24']],
    'the pod CIDRs the lab carved for the nodes file',
  );
  assert.equal(
    state.processes.map((p) => p.what),
    ['agent node1', 'agent node2'],
  );
  assertPeerRoutes(state);
  assertModeShape(state);
  for (const p of state.processes) assert.ok(running(p.pid), `${p.what} runs after up exited`);
  assertTraffic(state);
  const listed = netboot('lab', 'list');
  assert.match(listed.stdout, new RegExp(`${state.name}\\s+host-gw\\s+file`));
  assertDown(state);
});

/** The routes have the mode's shape: host-gw via the peer's underlay address, vxlan through the VXLAN
 * device, cross-subnet direct on the node's own subnet and encapsulated across the router. */
function assertModeShape(state: LabState): void {
  for (const node of state.nodes) {
    const routes = netbootRoutes(node.netns);
    for (const peer of state.nodes.filter((n) => n !== node)) {
      const r = routes.get(peer.podCIDRs[0]!);
      const sameSubnet = peer.ips[0]!.split('.').slice(0, 3).join('.') === node.ips[0]!.split('.').slice(0, 3).join('.');
      const direct = state.mode === 'host-gw' || (state.mode === 'cross-subnet' && sameSubnet);
      if (direct) assert.is(r?.gateway, peer.ips[0], `${node.name} → ${peer.name}: via its node IP`);
      else assert.is.not(r?.dev, 'eth0', `${node.name} → ${peer.name}: through the VXLAN device`);
    }
  }
}

/** The Node objects, read with kubectl from the underlay, carry the CIDRs the agents leased. */
function assertNodeCidrs(state: LabState): void {
  const nodes = JSON.parse(labKubectl(state, 'get', 'nodes', '-o', 'json')) as { items: { metadata: { name: string }; spec: { podCIDRs?: string[] } }[] };
  assert.equal(
    Object.fromEntries(nodes.items.map((n) => [n.metadata.name, n.spec.podCIDRs])),
    Object.fromEntries(state.nodes.map((n) => [n.name, n.podCIDRs])),
  );
}

const PROCESSES: Record<LabState['datastore'], string[]> = {
  file: [],
  etcd: ['etcd'],
  kubernetes: ['etcd', 'kube-apiserver', 'kube-controller-manager'],
};

// Every mode with every datastore, each lab brought up by the CLI, its whole matrix checked, taken down.
// cross-subnet gets 3 nodes: two share a subnet (host-gw between them), the third is across the router.
// Without the Kubernetes binaries the Kubernetes labs skip with the build command (in CI they run, and fail).
for (const datastore of ['file', 'etcd', 'kubernetes'] as const) {
  for (const mode of ['host-gw', 'vxlan', 'cross-subnet'] as const) {
    if (mode === 'host-gw' && datastore === 'file') continue; // the first test, with its exact CIDRs
    const nodes = mode === 'cross-subnet' ? 3 : 2;
    const skip = datastore === 'kubernetes' && process.env.CI !== 'true' ? missingKubernetes() : undefined;
    skipIf(it, skip)(`${mode}, ${datastore} datastore: ${nodes} nodes routed the ${mode} way, the whole matrix passes, down removes it all`, () => {
      const state = up('--nodes', String(nodes), '--pods', '1', '--mode', mode, '--datastore', datastore);
      assert.equal(
        state.processes.map((p) => p.what),
        [...PROCESSES[datastore], ...state.nodes.map((n) => `agent ${n.name}`)],
      );
      if (mode === 'cross-subnet')
        assert.equal(
          state.nodes.map((n) => n.ips[0]),
          ['192.168.1.11', '192.168.1.12', '192.168.2.13'],
        );
      if (datastore === 'kubernetes') assertNodeCidrs(state);
      assertPeerRoutes(state);
      assertModeShape(state);
      assertTraffic(state);
      assertDown(state);
    });
  }
}

it('an `up` killed half-way: down still removes its namespaces and the agents it had started', async () => {
  const name = fresh();
  const child: ChildProcess = spawn(process.execPath, [...CLI, 'lab', 'up', '--name', name, '--nodes', '3', '--pods', '2'], { cwd: ROOT, stdio: 'ignore' });
  const stateFile = `/run/netboot-lab/${name}/state.json`;
  const deadline = Date.now() + 60_000;
  let state: LabState | undefined;
  // Kill it once it has started agents and before it is done.
  while (Date.now() < deadline) {
    try {
      state = JSON.parse(readFileSync(stateFile, 'utf8')) as LabState;
    } catch {}
    if (state !== undefined && state.processes.length >= 2) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await gone;
  state = JSON.parse(readFileSync(stateFile, 'utf8')) as LabState;
  assert.not.ok(state.complete, 'killed before it finished');
  assert.ok(state.processes.length >= 2, 'agents had started');
  assert.ok(
    state.processes.some((p) => running(p.pid)),
    'its agents outlive it',
  );
  // What a kill between spawning an agent and recording it leaves: a process in a lab namespace that no
  // state names. down must stop it too (else it lives on in the deleted namespace).
  const node1 = state.namespaces.find((ns) => ns.endsWith('-node1'))!;
  const stray = spawn('ip', ['netns', 'exec', node1, 'sleep', '300'], { detached: true, stdio: 'ignore' });
  stray.unref();
  assertDown(state);
  assert.not.ok(running(stray.pid!), `an unrecorded process in ${node1} (pid ${stray.pid}) outlived lab down`);
});

test.run();
