// Pods made by real kubelets (netboot lab up --runtime kubelet: containerd + kubelet per lab node, a
// real scheduler): how long from `kubectl create` of PODS pods at once to each pod's Ready, with
// netboot's CNI plugin and with the reference `bridge` + `host-local` conflist (Debian's Go plugins)
// on the same lab, same run, rounds alternating; and memory per lab node. The conflist is swapped in
// place on every node (containerd reloads its CNI config when the file changes); both networks use the
// node's bridge cni0 and its pod CIDR, and every pod of a round is gone (no veth left on any node)
// before the next starts. Pods have no readiness probe: Ready = sandbox networked + container started.
// Target (issue 11): netboot's p50 no slower than the reference by more than its Node start-up (~25 ms).
//
//   pnpm bench kubelet                      # defaults; writes its section of bench/RESULTS.md
//   PODS=10 ROUNDS=1 pnpm bench kubelet     # quick check (prints only)
//
// Knobs: NODES (2), PODS (30 per round), ROUNDS (2 per side).
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { missingBusybox } from '../packages/bootstrap/src/lab/images/busybox.ts';
import { missingContainerd } from '../packages/bootstrap/src/lab/kubelet/runtime.ts';
import type { LabState } from '../packages/bootstrap/src/lab/state.ts';
import { missingKubernetes } from '../packages/bootstrap/src/testing/control-plane.ts';
import { percentile } from './lib/agent-peers.js';
import { intEnv, machineFacts, median, settle, writeResultsSection } from './lib/common.js';

const ROOT = join(import.meta.dirname, '..');
const CLI = ['--conditions=source', '--import', 'tsx', join(ROOT, 'packages/bootstrap/src/cli/main.ts')];
const NODES = intEnv('NODES', 2);
const PODS = intEnv('PODS', 30);
const ROUNDS = intEnv('ROUNDS', 2);
const defaults = !['NODES', 'PODS', 'ROUNDS'].some((k) => process.env[k] !== undefined);
const NAME = 'nbt-bench-kubelet';
type Side = 'netboot' | 'reference';

const missing = missingKubernetes() ?? missingContainerd() ?? missingBusybox();
if (missing !== undefined) {
  console.log(`bench kubelet: skipped: ${missing}`);
  process.exit(0);
}

function netboot(...args: string[]): string {
  const r = spawnSync(process.execPath, [...CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 600_000, env: { ...process.env, NODE_OPTIONS: '' } });
  if (r.status !== 0) throw new Error(`netboot ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let state!: LabState;
let kubectlArgv: string[] = [];

function kubectl(args: string[], input?: string): string {
  const r = spawnSync(kubectlArgv[0]!, [...kubectlArgv.slice(1), ...args], { encoding: 'utf8', input: input ?? '', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const conflistOf = (node: { dir: string }) => join(node.dir, 'etc', 'cni', 'net.d', '10-netboot.conflist');
const netbootConflists = new Map<string, string>();

/** The reference network on the node's bridge and pod CIDR: bridge + host-local, as a kubeadm tutorial has it. */
function referenceConflist(node: LabState['nodes'][number]): string {
  return JSON.stringify({
    cniVersion: '1.0.0',
    name: 'reference',
    plugins: [
      {
        type: 'bridge',
        bridge: 'cni0',
        isGateway: true,
        ipMasq: false,
        mtu: 1450,
        hairpinMode: true,
        ipam: { type: 'host-local', ranges: [[{ subnet: node.podCIDRs[0] }]], dataDir: join(node.dir, 'reference-ipam') },
      },
    ],
  });
}

/** Swaps every node's conflist to `side` (atomically: containerd reloads on the rename). */
function use(side: Side): void {
  for (const node of state.nodes) {
    const file = conflistOf(node);
    for (const plugin of ['bridge', 'host-local']) copyFileSync(join('/usr/lib/cni', plugin), join(node.dir, 'opt', 'cni', 'bin', plugin));
    if (!netbootConflists.has(node.name)) netbootConflists.set(node.name, readFileSync(file, 'utf8'));
    writeFileSync(`${file}.tmp`, side === 'netboot' ? netbootConflists.get(node.name)! : referenceConflist(node));
    renameSync(`${file}.tmp`, file);
  }
}

function podList(round: string): string {
  const pod = (i: number) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `${round}-${i}`, labels: { bench: round } },
    spec: {
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 0,
      containers: [{ name: 'http', image: 'docker.io/netboot/busybox-http:1', imagePullPolicy: 'Never' }],
    },
  });
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items: Array.from({ length: PODS }, (_, i) => pod(i)) });
}

/** Creates PODS pods at once; resolves with each one's create → Ready time (ms), from a watch. */
async function round(id: string): Promise<number[]> {
  const jsonpath = '{.metadata.name}{" "}{.status.conditions[?(@.type=="Ready")].status}{"\\n"}';
  const watch = spawn(kubectlArgv[0]!, [...kubectlArgv.slice(1), 'get', 'pods', '-l', `bench=${id}`, '-w', '-o', `jsonpath=${jsonpath}`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ready = new Map<string, number>();
  let buffered = '';
  const done = new Promise<void>((resolve) => {
    watch.stdout.setEncoding('utf8').on('data', (d: string) => {
      const now = performance.now();
      buffered += d;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        const [name, status] = line.trim().split(' ');
        if (name && status === 'True' && !ready.has(name)) ready.set(name, now);
      }
      if (ready.size === PODS) resolve();
    });
  });
  await sleep(1500); // the watch is established
  const t0 = performance.now();
  kubectl(['create', '-f', '-'], podList(id));
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`round ${id}: only ${ready.size} of ${PODS} pods Ready after 300 s`)), 300_000);
  });
  try {
    await Promise.race([done, timeout]);
  } finally {
    clearTimeout(timer);
    watch.kill();
  }
  return [...ready.values()].map((t) => t - t0);
}

/** Deletes the round's pods and waits until no node has a pod veth left. */
async function clear(id: string): Promise<void> {
  kubectl(['delete', 'pods', '-l', `bench=${id}`, '--grace-period=0', '--force', '--wait=false']);
  for (;;) {
    const pods = kubectl(['get', 'pods', '-l', `bench=${id}`, '-o', 'name']).trim();
    const veths = state.nodes.flatMap((n) =>
      (JSON.parse(spawnSync('ip', ['-n', n.netns, '-j', 'link', 'show', 'type', 'veth'], { encoding: 'utf8' }).stdout || '[]') as { ifname: string }[]).filter(
        (l) => l.ifname !== 'eth0',
      ),
    );
    if (pods === '' && veths.length === 0) return;
    await sleep(500);
  }
}

const rssMiB = (pid: number): number => {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
};

/** Every PID in a cgroup tree of the pids hierarchy. */
function cgroupPids(dir: string): number[] {
  try {
    const here = readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
    return [
      ...here,
      ...readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .flatMap((e) => cgroupPids(join(dir, e.name))),
    ];
  } catch {
    return [];
  }
}

/** RSS (MiB) per node, by part: containerd, kubelet, agent, and the pods with their shims. */
function memory(): { node: string; containerd: number; kubelet: number; agent: number; pods: number; podCount: number }[] {
  return state.nodes.map((n) => {
    const pidOf = (what: string) => state.processes.find((p) => p.what === what)?.pid ?? 0;
    const containerd = pidOf(`containerd ${n.netns}`);
    const kubelet = pidOf(`kubelet ${n.netns}`);
    const root = `/sys/fs/cgroup/pids/netboot-lab-${NAME}-${n.name}`;
    const shims = cgroupPids(join(root, 'runtime')).filter((p) => p !== containerd && p !== kubelet);
    const podPids = cgroupPids(join(root, 'kubepods'));
    const podCount = Number(
      kubectl(['get', 'pods', '--field-selector', `spec.nodeName=${n.name}`, '-o', 'name'])
        .split('\n')
        .filter(Boolean).length,
    );
    return {
      node: n.name,
      containerd: rssMiB(containerd),
      kubelet: rssMiB(kubelet),
      agent: rssMiB(pidOf(`agent ${n.name}`)),
      pods: [...shims, ...podPids].reduce((s, p) => s + rssMiB(p), 0),
      podCount,
    };
  });
}

const started = new Date();
process.stderr.write(`bench kubelet: lab up --runtime kubelet --nodes ${NODES} …\n`);
state = JSON.parse(netboot('lab', 'up', '--name', NAME, '--runtime', 'kubelet', '--nodes', String(NODES), '--json')) as LabState;
const ks = JSON.parse(readFileSync(join(state.dir, 'kubelet.json'), 'utf8')) as { kubeconfig: string; bin: string; apiNetns: string };
kubectlArgv = ['ip', 'netns', 'exec', ks.apiNetns, join(ks.bin, 'kubectl'), '--kubeconfig', ks.kubeconfig];
const times: Record<Side, number[]> = { netboot: [], reference: [] };
let mem: ReturnType<typeof memory> = [];
try {
  for (let r = 1; r <= ROUNDS; r++)
    for (const side of (r % 2 === 1 ? ['netboot', 'reference'] : ['reference', 'netboot']) as Side[]) {
      use(side);
      await sleep(2000);
      settle();
      const id = `${side}-${r}`;
      const t = await round(id);
      times[side].push(...t);
      process.stderr.write(
        `  ${id}: ${PODS} pods Ready, p50 ${percentile(t, 50).toFixed(0)} ms, p90 ${percentile(t, 90).toFixed(0)} ms, last ${Math.max(...t).toFixed(0)} ms\n`,
      );
      if (side === 'netboot' && mem.length === 0) mem = memory();
      await clear(id);
    }
} finally {
  use('netboot');
  netboot('lab', 'down', '--name', NAME);
}

const row = (side: Side) =>
  `| ${side === 'netboot' ? 'netboot (plugin + agent)' : 'reference bridge + host-local'} | ${times[side].length} | ${median(times[side]).toFixed(0)} | ${percentile(times[side], 90).toFixed(0)} | ${Math.max(...times[side]).toFixed(0)} |`;
const diff = median(times.netboot) - median(times.reference);
const perPod = (m: (typeof mem)[number]) => (m.podCount > 0 ? (m.pods / m.podCount).toFixed(1) : '–');
const body = `## kubelet: pod create → Ready on real kubelets (\`pnpm bench kubelet\`)

${started.toISOString().slice(0, 16)} UTC, ${machineFacts()}; \`netboot lab up --runtime kubelet --nodes ${NODES}\` (vxlan; containerd 1.6 +
kubelet v1.37 per node), ${ROUNDS} round(s) per side alternating, ${PODS} pods created at once per round by one \`kubectl create\`,
each timed to its Ready (a \`kubectl get -w\` watch). Same lab, conflist swapped in place between rounds.

| CNI | pods | p50 ms | p90 ms | last ms |
|---|---|---|---|---|
${row('netboot')}
${row('reference')}

netboot − reference at p50: ${diff >= 0 ? '+' : ''}${diff.toFixed(0)} ms (target: ≤ ~25 ms, netboot's Node start-up per ADD).

Memory per lab node (RSS MiB, during the first netboot round, ${PODS} pods over ${NODES} nodes):

| node | containerd | kubelet | netboot agent | pods + shims | per pod |
|---|---|---|---|---|---|
${mem.map((m) => `| ${m.node} | ${m.containerd.toFixed(0)} | ${m.kubelet.toFixed(0)} | ${m.agent.toFixed(0)} | ${m.pods.toFixed(0)} (${m.podCount} pods) | ${perPod(m)} |`).join('\n')}
`;
process.stdout.write(`\n${body}`);
if (defaults) writeResultsSection('kubelet', body);
