// Pods made by real kubelets (netboot lab up --runtime kubelet: containerd + kubelet per lab node, a
// real scheduler): how long from `kubectl create` to each pod's Ready — SEQ pods one by one, then PODS
// pods at once — with netboot's CNI plugin (the single executable `netboot cni build` makes) and with
// the reference `bridge` + `host-local` conflist (Debian's Go plugins), on the same lab, same run,
// sides alternating; and memory per lab node. The conflist is swapped in place on every node
// (containerd reloads its CNI config when the file changes); both networks use the node's bridge cni0
// and its pod CIDR, and every pod of a phase is gone (no veth left on any node) before the next starts.
// Pods have no readiness probe: Ready = sandbox networked + container started. Each ADD of netboot and of
// bridge is timed too, wall and CPU, by a wrapper around the plugin (the same overhead on both sides).
// The lab's conflist names each node's agent as the plugin's warm CNI server (`server`: the agent runs
// beside containerd with --cni-socket), so netboot's ADD is the single executable's shim forwarding to
// the agent: the plugin's CPU is the shim's, the ADD's own work is in the agents' CPU column. A third
// side runs the same executable with `server: false` (the whole plugin in its own process), so the
// warm server is judged against the plugin without it on the same lab.
// Target (issue 11): netboot's p50 no slower than the reference by more than its Node start-up (~25 ms).
//
//   pnpm bench kubelet                      # defaults; writes its section of bench/RESULTS.md
//   PODS=10 ROUNDS=1 SEQ=3 pnpm bench kubelet     # quick check (prints only)
//
// Knobs: NODES (2), PODS (30 per round), ROUNDS (3 per side), SEQ (20 pods one by one per side).
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { missingBusybox } from '../packages/bootstrap/src/lab/images/busybox.ts';
import { processesDir } from '../packages/bootstrap/src/lab/kubelet/cgroups.ts';
import { cgroupRootOf } from '../packages/bootstrap/src/lab/kubelet/layout.ts';
import { missingContainerd } from '../packages/bootstrap/src/lab/kubelet/runtime.ts';
import type { LabState } from '../packages/bootstrap/src/lab/state.ts';
import { missingKubernetes } from '../packages/bootstrap/src/testing/control-plane.ts';
import { percentile } from './lib/agent-peers.js';
import { intEnv, machineFacts, median, settle, writeResultsSection } from './lib/common.js';

const ROOT = join(import.meta.dirname, '..');
const CLI = ['--conditions=source', '--import', 'tsx', join(ROOT, 'packages/bootstrap/src/cli/main.ts')];
const NODES = intEnv('NODES', 2);
const PODS = intEnv('PODS', 30);
const ROUNDS = intEnv('ROUNDS', 3);
const SEQ = intEnv('SEQ', 20);
const defaults = !['NODES', 'PODS', 'ROUNDS', 'SEQ'].some((k) => process.env[k] !== undefined);
const NAME = 'nbt-bench-kubelet';
/** netboot through its agent's warm CNI server (the lab's conflist), netboot run in the plugin's own process (`server: false`), the reference. */
const SIDES = ['netboot', 'in-process', 'reference'] as const;
type Side = (typeof SIDES)[number];
const perSide = <T>(make: () => T) => Object.fromEntries(SIDES.map((s) => [s, make()])) as Record<Side, T>;

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

const binOf = (node: { dir: string }) => join(node.dir, 'opt', 'cni', 'bin');
const callLogOf = (node: { dir: string }) => join(node.dir, 'cni-calls-ms.log');

/**
 * Installs both sides' plugins on every node — netboot's single executable and Debian's bridge +
 * host-local — each of netboot and bridge behind the same wrapper (Debian's python3 -SE, ~10 ms, on
 * both sides) that forks the real plugin, waits for it and appends, for every ADD as containerd ran
 * it, its wall time and its CPU time (user + sys from wait4, host-local included for bridge) in ms to
 * the node's log: CPU near wall means the plugin's own work, wall far above CPU means it waited for a
 * core (the lab's kubelets, containerds and agents, and the machine's other users).
 */
function installPlugins(sea: string): void {
  for (const node of state.nodes) {
    const bin = binOf(node);
    copyFileSync(sea, join(bin, 'netboot.real'));
    copyFileSync('/usr/lib/cni/bridge', join(bin, 'bridge.real'));
    copyFileSync('/usr/lib/cni/host-local', join(bin, 'host-local'));
    for (const plugin of ['netboot', 'bridge']) {
      const wrapper = `#!/usr/bin/python3 -SE
import os, sys, time
real = sys.argv[0] + '.real'
t = time.monotonic_ns()
pid = os.fork()
if pid == 0:
    os.execv(real, [real] + sys.argv[1:])
_, status, ru = os.wait4(pid, 0)
end = time.time() * 1000
pod = dict(kv.split('=', 1) for kv in os.environ.get('CNI_ARGS', '').split(';') if '=' in kv).get('K8S_POD_NAME', '-')
with open(${JSON.stringify(callLogOf(node))}, 'a') as f:
    f.write('%s %.1f %.1f %s %.1f\\n' % (os.environ.get('CNI_COMMAND'), (time.monotonic_ns() - t) / 1e6, (ru.ru_utime + ru.ru_stime) * 1000, pod, end))
sys.exit(os.waitstatus_to_exitcode(status) & 255)
`;
      writeFileSync(join(bin, plugin), wrapper, { mode: 0o755 });
    }
  }
}

/** One plugin call as the wrapper logged it: wall and CPU ms, the pod (K8S_POD_NAME), when it returned (epoch ms). */
interface Call {
  wall: number;
  cpu: number;
  pod: string;
  end: number;
}

/** The `command` calls logged since the last take (and clears the logs). */
function takeCalls(command: 'ADD' | 'VERSION'): Call[] {
  return state.nodes.flatMap((node) => {
    let text = '';
    try {
      text = readFileSync(callLogOf(node), 'utf8');
    } catch {}
    writeFileSync(callLogOf(node), '');
    return text
      .split('\n')
      .filter((line) => line.startsWith(`${command} `))
      .map((line) => {
        const [, wall, cpu, pod, end] = line.split(' ');
        return { wall: Number(wall), cpu: Number(cpu), pod: pod ?? '-', end: Number(end) };
      });
  });
}

/** Swaps every node's conflist to `side` (atomically: containerd reloads on the rename). */
function use(side: Side): void {
  for (const node of state.nodes) {
    const file = conflistOf(node);
    if (!netbootConflists.has(node.name)) netbootConflists.set(node.name, readFileSync(file, 'utf8'));
    const list = JSON.parse(netbootConflists.get(node.name)!) as { plugins: { server?: string | false }[] };
    list.plugins[0]!.server = false;
    const text = { netboot: netbootConflists.get(node.name)!, 'in-process': JSON.stringify(list), reference: referenceConflist(node) }[side];
    writeFileSync(`${file}.tmp`, text);
    renameSync(`${file}.tmp`, file);
  }
}

function podList(round: string, from: number, count: number): string {
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
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items: Array.from({ length: count }, (_, i) => pod(from + i)) });
}

/** A watch on the round's pods (`kubectl get -w`): when each first became Ready (performance.now()). */
async function watchReady(id: string) {
  const jsonpath = '{.metadata.name}{" "}{.status.conditions[?(@.type=="Ready")].status}{"\\n"}';
  const watch = spawn(kubectlArgv[0]!, [...kubectlArgv.slice(1), 'get', 'pods', '-l', `bench=${id}`, '-w', '-o', `jsonpath=${jsonpath}`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ready = new Map<string, number>();
  const waiters: { n: number; resolve: () => void }[] = [];
  let buffered = '';
  watch.stdout.setEncoding('utf8').on('data', (d: string) => {
    const now = performance.now();
    buffered += d;
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      const [name, status] = line.trim().split(' ');
      if (name && status === 'True' && !ready.has(name)) ready.set(name, now);
    }
    for (const w of waiters.filter((w) => ready.size >= w.n)) w.resolve();
  });
  await sleep(1500); // the watch is established
  return {
    ready,
    /** Resolves once `n` pods have been Ready; rejects after 300 s. */
    async waitFor(n: number): Promise<void> {
      let timer: NodeJS.Timeout | undefined;
      try {
        await new Promise<void>((resolve, reject) => {
          if (ready.size >= n) return resolve();
          waiters.push({ n, resolve });
          timer = setTimeout(() => reject(new Error(`${id}: only ${ready.size} of ${n} pods Ready after 300 s`)), 300_000);
        });
      } finally {
        clearTimeout(timer);
      }
    },
    stop: () => watch.kill(),
  };
}

/** A timed pod: its name, when `kubectl create` was run (epoch ms), and its create → Ready (ms). */
interface Timed {
  pod: string;
  created: number;
  ready: number;
}

const epochOf = (t: number) => performance.timeOrigin + t;

/** Creates `count` pods at once; resolves with each one's create → Ready time (ms). */
async function burst(id: string, count: number): Promise<Timed[]> {
  const w = await watchReady(id);
  try {
    const t0 = performance.now();
    kubectl(['create', '-f', '-'], podList(id, 0, count));
    await w.waitFor(count);
    return [...w.ready].map(([pod, t]) => ({ pod, created: epochOf(t0), ready: t - t0 }));
  } finally {
    w.stop();
  }
}

/**
 * Creates `count` pods one after another; each one's create → Ready (ms). A pod is created a pause
 * after the previous one's Ready: that Ready came just after a PLEG relist, so without the pause every
 * create would fall at the same point of kubelet's 1 s period and create → Ready would be ~1 s minus
 * that offset whatever the plugin costs. The pauses spread the creates evenly over the period (the
 * same golden-ratio sequence on every side), so the mean moves with the setup time itself.
 */
async function oneByOne(id: string, count: number): Promise<Timed[]> {
  const w = await watchReady(id);
  const times: Timed[] = [];
  try {
    for (let i = 0; i < count; i++) {
      await sleep(((i * 0.618034) % 1) * 1000);
      const t0 = performance.now();
      kubectl(['create', '-f', '-'], podList(id, i, 1));
      await w.waitFor(i + 1);
      times.push({ pod: `${id}-${i}`, created: epochOf(t0), ready: w.ready.get(`${id}-${i}`)! - t0 });
    }
    return times;
  } finally {
    w.stop();
  }
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

/** ms per clock tick of /proc/PID/stat's CPU times. */
const TICK_MS = 1000 / Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);

/** CPU ms the nodes' agents have used so far (utime + stime of each /proc/PID/stat). */
function agentsCpuMs(): number {
  let sum = 0;
  for (const n of state.nodes) {
    const pid = state.processes.find((p) => p.what === `agent ${n.name}`)?.pid;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      sum += (Number(fields[11]) + Number(fields[12])) * TICK_MS;
    } catch {}
  }
  return sum;
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
    const root = processesDir(cgroupRootOf(NAME, n.name));
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
const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
// netboot as `netboot cni install` installs it: the single executable (`netboot cni build`), not the
// lab's development script.
const sea = mkdtempSync(join(tmpdir(), 'nbt-bench-sea-'));
process.stderr.write(`bench kubelet: netboot cni build --out ${sea} …\n`);
netboot('cni', 'build', '--out', sea);
process.stderr.write(`bench kubelet: lab up --runtime kubelet --nodes ${NODES} …\n`);
state = JSON.parse(netboot('lab', 'up', '--name', NAME, '--runtime', 'kubelet', '--nodes', String(NODES), '--json')) as LabState;
const ks = JSON.parse(readFileSync(join(state.dir, 'kubelet.json'), 'utf8')) as { kubeconfig: string; bin: string; apiNetns: string };
kubectlArgv = ['ip', 'netns', 'exec', ks.apiNetns, join(ks.bin, 'kubectl'), '--kubeconfig', ks.kubeconfig];
const times: Record<'burst' | 'seq', Record<Side, number[]>> = { burst: perSide(() => []), seq: perSide(() => []) };
/** The plugin's own ADD (netboot, or bridge with host-local), as containerd ran it: wall and CPU ms. */
const adds: Record<'burst' | 'seq', Record<Side, Call[]>> = { burst: perSide(() => []), seq: perSide(() => []) };
/** Each pod's create → its ADD returned (the network ready, before kubelet's PLEG notices the container), ms. */
const netReady: Record<'burst' | 'seq', Record<Side, number[]>> = { burst: perSide(() => []), seq: perSide(() => []) };
let mem: ReturnType<typeof memory> = [];
/** CPU ms of all the nodes' agents from each phase's first create to its last Ready, summed per kind and side. */
const agentCpu: Record<'burst' | 'seq', Record<Side, number>> = { burst: perSide(() => 0), seq: perSide(() => 0) };
/** An idle agent's CPU, as a share of a core. */
let idleAgentCpu = 0;
/** VERSION (the process start-up alone) of each plugin, wall and CPU ms. */
const startup: Record<'netboot' | 'bridge', { wall: number; cpu: number }[]> = { netboot: [], bridge: [] };
try {
  installPlugins(join(sea, 'netboot'));
  // The agents' CPU with no pod coming or going, over 10 s: what the last column holds besides ADDs.
  const idle0 = agentsCpuMs();
  await sleep(10_000);
  idleAgentCpu = (agentsCpuMs() - idle0) / 10_000 / state.nodes.length;
  // Start-up alone: VERSION through the same wrapper on node1, 10 times per plugin.
  for (const plugin of ['netboot', 'bridge'] as const) {
    for (let i = 0; i < 10; i++)
      spawnSync(join(binOf(state.nodes[0]!), plugin), [], { input: '{"cniVersion":"1.0.0"}', env: { PATH: process.env.PATH, CNI_COMMAND: 'VERSION' } });
    startup[plugin] = takeCalls('VERSION');
  }
  /** The sides in turn, starting one further each round. */
  const order = (r: number): Side[] => SIDES.map((_, i) => SIDES[(i + r - 1) % SIDES.length]!);
  const phase = async (kind: 'burst' | 'seq', id: string, side: Side) => {
    use(side);
    await sleep(2000);
    settle();
    takeCalls('ADD');
    const cpu0 = agentsCpuMs();
    const wall0 = performance.now();
    const pods = kind === 'burst' ? await burst(id, PODS) : await oneByOne(id, SEQ);
    // Above what idle agents would have used meanwhile (one by one includes the pauses).
    agentCpu[kind][side] += agentsCpuMs() - cpu0 - idleAgentCpu * (performance.now() - wall0) * state.nodes.length;
    const t = pods.map((p) => p.ready);
    times[kind][side].push(...t);
    const calls = takeCalls('ADD');
    adds[kind][side].push(...calls);
    const addEnd = new Map(calls.map((c) => [c.pod, c.end]));
    netReady[kind][side].push(...pods.flatMap((p) => (addEnd.has(p.pod) ? [addEnd.get(p.pod)! - p.created] : [])));
    process.stderr.write(`  ${id}: ${t.length} pods Ready, p50 ${percentile(t, 50).toFixed(0)} ms, p90 ${percentile(t, 90).toFixed(0)} ms\n`);
    if (kind === 'burst' && side === 'netboot' && mem.length === 0) mem = memory();
    await clear(id);
  };
  // One untimed pod per node on each side first: a node's first pod pays one-time costs (containerd's first
  // sandbox, the agent's CNI server compiling the verbs on first use) that are no side's steady state.
  for (const side of SIDES) {
    use(side);
    await sleep(2000);
    await burst(`warm-${side}`, NODES);
    await clear(`warm-${side}`);
  }
  takeCalls('ADD');
  for (const side of order(1)) await phase('seq', `seq-${side}`, side);
  for (let r = 1; r <= ROUNDS; r++) for (const side of order(r)) await phase('burst', `${side}-${r}`, side);
} finally {
  use('netboot');
  netboot('lab', 'down', '--name', NAME);
  rmSync(sea, { recursive: true, force: true });
}

const row = (kind: 'burst' | 'seq', side: Side) => {
  const t = times[kind][side];
  const what = {
    netboot: 'netboot (single executable → agent)',
    'in-process': 'netboot in-process (`server: false`)',
    reference: 'reference bridge + host-local',
  }[side];
  const wall = adds[kind][side].map((a) => a.wall);
  const cpu = adds[kind][side].map((a) => a.cpu);
  const net = netReady[kind][side];
  // biome-ignore format: one table row
  return `| ${kind === 'seq' ? 'one by one' : `${PODS} at once`} | ${what} | ${t.length} | ${median(t).toFixed(0)} | ${percentile(t, 90).toFixed(0)} | ${median(net).toFixed(0)} | ${percentile(net, 90).toFixed(0)} | ${median(wall).toFixed(0)} | ${percentile(wall, 90).toFixed(0)} | ${median(cpu).toFixed(0)} | ${(agentCpu[kind][side] / t.length).toFixed(1)} |`;
};
const diff = (kind: 'burst' | 'seq', side: Side, of = times) => {
  const d = median(of[kind][side]) - median(of[kind].reference);
  return `${d >= 0 ? '+' : ''}${d.toFixed(0)} ms`;
};
const startupOf = (p: 'netboot' | 'bridge') => `${median(startup[p].map((c) => c.wall)).toFixed(0)} / ${median(startup[p].map((c) => c.cpu)).toFixed(0)}`;
const perPod = (m: (typeof mem)[number]) => (m.podCount > 0 ? (m.pods / m.podCount).toFixed(1) : '–');
const body = `## kubelet: pod create → Ready on real kubelets (\`pnpm bench kubelet\`)

${started.toISOString().slice(0, 16)} UTC, ${machineFacts()}, load average ${load} at the start (the machine is shared);
\`netboot lab up --runtime kubelet --nodes ${NODES}\` (vxlan; Debian's containerd 1.6 + kubelet v1.37 per node). Same lab for all
sides (netboot, netboot in-process, reference), the conflist swapped in place between phases, each side first started one untimed pod per node; netboot is the single executable of \`netboot cni build\`. One by one: ${SEQ} pods
per side, each created after the previous is Ready and a pause that spreads the creates evenly over kubelet's 1 s relist period. At once: ${PODS} pods by one \`kubectl create\`, ${ROUNDS} round(s) per side,
alternating. Each pod timed from its \`kubectl create\` to Ready as a \`kubectl get -w\` watch sees it; the plugin's ADD
(netboot, or bridge running host-local) timed by a wrapper around it, as containerd ran it, wall and CPU (user + sys). kubelet notices a
started container through its PLEG relist (every 1 s), so create → Ready moves in steps of up to a second: the ADD columns
are the plugin's own share. netboot's conflist names the node's agent as its warm CNI server (\`server\`, the agent started
beside containerd with \`--cni-socket\`): its ADD is the executable's shim forwarding the call, the work done in the agent,
whose CPU (all nodes' agents, first create to last Ready, above their idle use, per pod) is the last column, for every side (in-process and
reference: the agents idle). \`in-process\` is the same executable with \`server: false\`: the whole plugin in its own process.

| pods | CNI | n | create → Ready p50 ms | p90 ms | create → ADD returned p50 ms | p90 ms | plugin ADD p50 ms | ADD p90 ms | ADD CPU p50 ms | agents' CPU per pod ms |
|---|---|---|---|---|---|---|---|---|---|---|
${SIDES.map((side) => row('seq', side)).join('\n')}
${SIDES.map((side) => row('burst', side)).join('\n')}

netboot − reference at p50, create → Ready: one by one ${diff('seq', 'netboot')}, ${PODS} at once ${diff('burst', 'netboot')}; in-process: ${diff('seq', 'in-process')}, ${diff('burst', 'in-process')}
(target: ≤ ~25 ms, netboot's Node start-up per ADD). Create → ADD returned (the pod's network up, before kubelet's 1 s relist):
one by one ${diff('seq', 'netboot', netReady)}, ${PODS} at once ${diff('burst', 'netboot', netReady)}; in-process: ${diff('seq', 'in-process', netReady)}, ${diff('burst', 'in-process', netReady)}.
Start-up alone (VERSION through the same wrapper, 10 calls on node1), wall / CPU p50: netboot ${startupOf('netboot')} ms, bridge ${startupOf('bridge')} ms.
An idle agent (no pod coming or going, 10 s before the phases) used ${(idleAgentCpu * 100).toFixed(1)} % of a core.

Memory per lab node (RSS MiB, during netboot's first ${PODS}-pod round, over ${NODES} nodes):

| node | containerd | kubelet | netboot agent | pods + shims | per pod |
|---|---|---|---|---|---|
${mem.map((m) => `| ${m.node} | ${m.containerd.toFixed(0)} | ${m.kubelet.toFixed(0)} | ${m.agent.toFixed(0)} | ${m.pods.toFixed(0)} (${m.podCount} pods) | ${perPod(m)} |`).join('\n')}
`;
process.stdout.write(`\n${body}`);
if (defaults) writeResultsSection('kubelet', body);
