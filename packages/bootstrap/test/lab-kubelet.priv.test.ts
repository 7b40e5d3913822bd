// `netboot lab up --runtime kubelet`, `lab check` and `lab down` as a user runs them (the real CLI in a
// child process), in vxlan, host-gw and cross-subnet mode: three nodes each running a real containerd and kubelet, pods of a Deployment placed
// by the real scheduler and networked by netboot's plugin through containerd's CRI; the control plane
// is the kubeadm config `netboot init` plans, run as kubeadm renders it. Checked beside the
// CLI's own verdict with independent tools: kubectl (nodes Ready, pods Ready and spread, each pod's IP
// inside its node's spec.podCIDR), `kubectl exec … ping` from a pod to pods on the other nodes and to
// the outside host, and afterwards no namespace, process, cgroup, directory or changed sysctl is left.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { privileged } from '@netboot/core/testing';
import { Cidr } from '@netboot/ipam';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { missingBusybox } from '../src/lab/images/busybox.js';
import { missingContainerd } from '../src/lab/kubelet/runtime.js';
import { KUBELET_SYSCTLS, readKubeletSysctls } from '../src/lab/kubelet/sysctls.js';
import { stopProcess } from '../src/lab/processes.js';
import type { LabState } from '../src/lab/state.js';
import { missingKubernetes } from '../src/testing/control-plane.js';
import { CLI, labCli, netbootRoutes, ROOT } from './lab-cli-fixture.js';

const needs = () => {
  const missing = missingKubernetes() ?? missingContainerd() ?? missingBusybox();
  if (missing !== undefined && process.env.CI) throw new Error(missing);
  return missing;
};
const it = privileged(test, needs);
const { netboot, up, fresh, downed } = labCli(it, 300_000);

/** kubectl against the lab's API server (inside its underlay namespace). */
function kubectl(state: LabState, ...args: string[]): string {
  const { kubeconfig, bin } = JSON.parse(readFileSync(join(state.dir, 'kubelet.json'), 'utf8')) as { kubeconfig: string; bin: string };
  const r = spawnSync('ip', ['netns', 'exec', `${state.name}-underlay`, join(bin, 'kubectl'), '--kubeconfig', kubeconfig, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

interface CheckOutput {
  pods: { name: string; node: string; ips: string[] }[];
  probes: { ok: boolean; from: string; to: string; reason: string | null }[];
  rollout?: { ok: boolean; leaks: string[] };
}

async function until(what: string, ok: () => boolean, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs / 1000} s: ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * node3 drained (`kubectl drain`), its kubelet stopped and its Node deleted, as an operator retires a
 * node: its pods are recreated on node1 and node2 and Ready, and neither keeps a route to node3's pods.
 */
async function drainNode3(state: LabState, replicas: number, podCIDR: string): Promise<void> {
  for (const n of ['node1', 'node2']) assert.ok(netbootRoutes(`${state.name}-${n}`).has(podCIDR), `${n} routes node3's ${podCIDR}`);
  kubectl(state, 'drain', 'node3', '--ignore-daemonsets', '--delete-emptydir-data', '--force', '--grace-period=1', '--timeout=90s');
  const kubelet = state.processes.find((p) => p.what === `kubelet ${state.name}-node3`);
  assert.ok(kubelet, 'node3 kubelet recorded');
  await stopProcess(kubelet!);
  kubectl(state, 'delete', 'node', 'node3', '--wait=true');
  type Pod = { spec: { nodeName?: string }; status: { conditions?: { type: string; status: string }[] } };
  const placed = () =>
    (JSON.parse(kubectl(state, 'get', 'pods', '-l', 'app=netboot-check', '-o', 'json')).items as Pod[]).filter(
      (p) => p.spec.nodeName !== 'node3' && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    ).length;
  await until(`${replicas} Ready pods on node1 and node2`, () => placed() === replicas);
  await until("node1 and node2 drop node3's route", () => ['node1', 'node2'].every((n) => !netbootRoutes(`${state.name}-${n}`).has(podCIDR)));
}

/** Mounts of the lab in this (the host's) mount namespace: kubelet's and containerd's belong in the nodes' own. */
function hostMounts(lab: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((line) => line.includes(`/run/netboot-lab/${lab}/`) || / \/run\/containerd /.test(line))
    .map((line) => `mount ${line.split(' ')[4]}`);
}

/** Everything of lab `lab` that could outlive it. */
function leftovers(lab: string): string[] {
  const found: string[] = [];
  for (const ns of existsSync('/run/netns') ? readdirSync('/run/netns') : []) if (ns.startsWith(`${lab}-`)) found.push(`netns ${ns}`);
  for (const h of readdirSync('/sys/fs/cgroup'))
    for (const d of existsSync(`/sys/fs/cgroup/${h}`) ? readdirSync(`/sys/fs/cgroup/${h}`) : [])
      if (d.startsWith(`netboot-lab-${lab}-`)) found.push(`cgroup ${h}/${d}`);
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`/run/netboot-lab/${lab}/`)) found.push(`process ${pid}`);
    } catch {}
  }
  if (existsSync(`/run/netboot-lab/${lab}`)) found.push(`dir /run/netboot-lab/${lab}`);
  found.push(...hostMounts(lab));
  for (const p of ['/var/lib/kubelet', '/var/log/pods', '/var/log/containers']) if (existsSync(p)) found.push(`host path ${p}`);
  return found;
}

/** The flags of the process `what` of the lab, from its /proc/PID/cmdline. */
function cmdline(state: LabState, what: string): string[] {
  const p = state.processes.find((q) => q.what === what);
  assert.ok(p, `${what} recorded`);
  return readFileSync(`/proc/${p!.pid}/cmdline`, 'utf8').split('\0');
}

/**
 * The control plane is init's plan as kubeadm renders it: the lab's kubeadm.yaml is byte for byte what
 * `netboot init --dry-run --kubeadm-config <the lab's own config> --out DIR` writes for the lab's options,
 * the running controller manager and API server carry the network flags it plans (read from
 * /proc/PID/cmdline), and kubeadm's upload-config put it in kube-system/kubeadm-config.
 */
function assertControlPlaneFromInit(state: LabState): void {
  const root = join(state.dir, 'kubernetes');
  const out = mkdtempSync(join(tmpdir(), 'nbt-init-out-'));
  try {
    // exit 1 is this host's preflight (ip_forward, podman's conflist); the artifacts are written anyway.
    // biome-ignore format: flag/value pairs
    netboot('init', '--dry-run', '--pod-cidr', state.podCIDRs[0]!, '--node-mask', '24', '--mode', state.mode, '--datastore', 'kubernetes',
      '--nodes', String(state.nodes.length), '--kubeadm-config', join(root, 'user-kubeadm.yaml'), '--out', out);
    assert.fixture(readFileSync(join(root, 'kubeadm.yaml'), 'utf8'), readFileSync(join(out, 'kubeadm.yaml'), 'utf8'));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  const kcm = cmdline(state, 'kube-controller-manager');
  for (const f of [
    '--allocate-node-cidrs=true',
    `--cluster-cidr=${state.podCIDRs[0]}`,
    '--node-cidr-mask-size=24',
    '--controllers=*,bootstrapsigner,tokencleaner',
  ])
    assert.ok(kcm.includes(f), `kube-controller-manager ${f}: ${kcm.join(' ')}`);
  const api = cmdline(state, 'kube-apiserver');
  for (const f of ['--service-cluster-ip-range=10.96.0.0/12', '--etcd-servers=http://192.168.1.1:2379', '--advertise-address=192.168.1.1'])
    assert.ok(api.includes(f), `kube-apiserver ${f}: ${api.join(' ')}`);
  const uploaded = kubectl(state, '-n', 'kube-system', 'get', 'configmap', 'kubeadm-config', '-o', 'jsonpath={.data.ClusterConfiguration}');
  assert.match(uploaded, `podSubnet: ${state.podCIDRs[0]}`);
}

/**
 * containerd's plugin calls went to each node's agent, its warm CNI server (the conflist's `server`):
 * every agent log has ADDs answered there, and none fell back to running in the plugin's own process.
 */
function assertAgentsServedCni(state: LabState): void {
  for (const n of state.nodes) {
    const served = readFileSync(join(n.dir, 'agent.log'), 'utf8')
      .split('\n')
      .filter((l) => l.includes('cni server: '));
    assert.ok(
      served.some((l) => /cni server: ADD \S+ \(pid \d+\): exit 0/.test(l)),
      `${n.name}'s agent answered ADDs:\n${served.join('\n')}`,
    );
    assert.equal(
      served.filter((l) => l.includes('fallback')),
      [],
      `${n.name}: no call fell back`,
    );
  }
}

/** `lab down` leaves nothing of lab `name` and puts back the sysctls and /run/containerd as they were before its `up`. */
function assertDown(name: string, sysctls: Record<string, string>, hadRunContainerd: boolean): void {
  const down = netboot('lab', 'down', '--name', name);
  assert.is(down.code, 0, down.stderr);
  downed();
  assert.equal(leftovers(name), []);
  assert.equal(readKubeletSysctls(), sysctls, `${KUBELET_SYSCTLS.join(', ')} restored`);
  assert.is(existsSync('/run/containerd'), hadRunContainerd, '/run/containerd as it was');
}

async function kubeletLab(mode: string, replicas: number, rollout: boolean, drain = false): Promise<void> {
  const sysctls = readKubeletSysctls();
  const hadRunContainerd = existsSync('/run/containerd');
  const state = up('--runtime', 'kubelet', '--mode', mode, '--nodes', '3');
  const { name } = state;
  assert.equal(hostMounts(state.name), [], "the nodes' mounts stay in their own mount namespaces");
  assertControlPlaneFromInit(state);

  // The nodes, by kubectl: Ready, registered by their kubelets with the lab's addresses, each a pod CIDR.
  const nodes = JSON.parse(kubectl(state, 'get', 'nodes', '-o', 'json')).items as {
    metadata: { name: string };
    spec: { podCIDR: string };
    status: { conditions: { type: string; status: string }[]; addresses: { type: string; address: string }[]; nodeInfo: { containerRuntimeVersion: string } };
  }[];
  assert.equal(nodes.map((n) => n.metadata.name).sort(), ['node1', 'node2', 'node3']);
  for (const n of nodes) {
    assert.ok(
      n.status.conditions.some((c) => c.type === 'Ready' && c.status === 'True'),
      `${n.metadata.name} Ready`,
    );
    assert.match(n.status.nodeInfo.containerRuntimeVersion, /^containerd:\/\//);
    assert.is(n.status.addresses.find((a) => a.type === 'InternalIP')?.address, state.nodes.find((s) => s.name === n.metadata.name)!.ips[0]);
  }

  const args = ['lab', 'check', '--name', name, '--json', '--replicas', String(replicas), ...(rollout ? [] : ['--skip-rollout'])];
  const check = netboot(...args);
  const result = JSON.parse(check.stdout || '{}') as CheckOutput;
  const failed = (result.probes ?? []).filter((p) => !p.ok).map((p) => `${p.from} → ${p.to}: ${p.reason}`);
  assert.is(check.code, 0, `lab check:\n${failed.join('\n')}\n${JSON.stringify(result.rollout)}\n${check.stderr}`);
  assert.is(result.pods.length, replicas);
  // pod × (other pods + 3 nodes + outside), all passed.
  assert.is(result.probes.length, replicas * (replicas - 1 + 3 + 1));
  if (rollout) assert.equal(result.rollout, { ok: true, leaks: [], probes: `${result.probes.length} of ${result.probes.length} probes passed` });
  assertAgentsServedCni(state);

  // By kubectl: the Deployment's pods Ready, spread evenly (maxSkew 1), each IP in its node's pod CIDR.
  const pods = JSON.parse(kubectl(state, 'get', 'pods', '-l', 'app=netboot-check', '-o', 'json')).items as {
    metadata: { name: string };
    spec: { nodeName: string };
    status: { podIP: string; conditions: { type: string; status: string }[] };
  }[];
  assert.is(pods.length, replicas);
  const perNode = nodes.map((n) => pods.filter((p) => p.spec.nodeName === n.metadata.name).length);
  assert.ok(Math.max(...perNode) - Math.min(...perNode) <= 1, `spread ${perNode.join('/')}`);
  for (const p of pods) {
    assert.ok(
      p.status.conditions.some((c) => c.type === 'Ready' && c.status === 'True'),
      `${p.metadata.name} Ready`,
    );
    const cidr = Cidr.parse(nodes.find((n) => n.metadata.name === p.spec.nodeName)!.spec.podCIDR);
    assert.ok(cidr.contains(p.status.podIP), `${p.metadata.name} ${p.status.podIP} in ${cidr}`);
  }
  // Through the API and the runtime (kubectl exec → kubelet → containerd): ping from the first pod to a
  // pod on each other node, and to the outside host.
  const first = pods[0]!;
  const targets = nodes
    .filter((n) => n.metadata.name !== first.spec.nodeName)
    .map((n) => pods.find((p) => p.spec.nodeName === n.metadata.name)!.status.podIP)
    .concat(state.outside.ips[0]!);
  for (const ip of targets) kubectl(state, 'exec', first.metadata.name, '--', 'ping', '-c', '1', '-W', '2', ip);
  if (drain) await drainNode3(state, replicas, nodes.find((n) => n.metadata.name === 'node3')!.spec.podCIDR);

  assertDown(name, sysctls, hadRunContainerd);
}

it('3 kubelet nodes, vxlan: 12 pods Ready, full matrix, rollout restart leaks nothing, node3 retired, down leaves nothing', async () => {
  await kubeletLab('vxlan', 12, true, true);
});

it('3 kubelet nodes, host-gw: 6 pods Ready, full matrix', async () => {
  await kubeletLab('host-gw', 6, false);
});

it('3 kubelet nodes, cross-subnet (node3 behind the underlay router): 6 pods Ready, full matrix', async () => {
  await kubeletLab('cross-subnet', 6, false);
});

it('an `up --runtime kubelet` killed once its kubelets run: down removes every process, cgroup, mount and sysctl change', async () => {
  const sysctls = readKubeletSysctls();
  const hadRunContainerd = existsSync('/run/containerd');
  const name = fresh();
  const child = spawn(process.execPath, [...CLI, 'lab', 'up', '--name', name, '--runtime', 'kubelet', '--nodes', '2'], { cwd: ROOT, stdio: 'ignore' });
  const stateFile = `/run/netboot-lab/${name}/state.json`;
  let state: LabState | undefined;
  await until('both kubelets recorded', () => {
    try {
      state = JSON.parse(readFileSync(stateFile, 'utf8')) as LabState;
    } catch {}
    return (state?.processes.filter((p) => p.what.startsWith('kubelet ')).length ?? 0) === 2;
  });
  // kubelet changes the sysctls as it starts: let it, so down has them to restore.
  await until(
    'kubelet set vm.overcommit_memory',
    () => readKubeletSysctls()['vm.overcommit_memory'] === '1' || sysctls['vm.overcommit_memory'] === '1',
    30_000,
  );
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await gone;
  state = JSON.parse(readFileSync(stateFile, 'utf8')) as LabState;
  assert.not.ok(state.complete, 'killed before it finished');
  assert.ok(
    leftovers(name).some((l) => l.startsWith('cgroup ')),
    'its node cgroups outlive it',
  );
  assertDown(name, sysctls, hadRunContainerd);
});

it.run();
