// netboot's node agent against flanneld (the peer to beat, built from its Go module at a pinned release
// by scripts/flannel.sh), one run, side by side, for host-gw and vxlan. Every trial is a fresh
// throwaway nbt-* namespace running this file again (`--trial`, via `ip netns exec`) with a veth
// underlay device (172.16.0.1/16, every peer's node IP directly connected), Debian's etcd on 127.0.0.1
// inside it holding N synthetic peers in the format each agent reads (netboot: ClusterIpam blocks + node
// records under /netboot/nodes/; flanneld: /coreos.com/network/config + subnet leases), and one agent:
//   cold start     agent spawned → every peer's route in the kernel (a netlink route dump every 50 ms)
//   RSS            VmRSS from /proc/<pid>/status 3 s after the cold start, largest N
//   idle CPU       utime+stime (+ children: flanneld's iptables, netboot's nft) over IDLE_S, largest N
//   peer→route     a new peer written to the datastore → its route seen by a netlink monitor (SAMPLES)
// netboot's agent runs as a deployment runs it: one esbuild bundle under plain `node` (bench/lib/agent-bundle.ts).
// netboot alone also runs on the Kubernetes API datastore (a real control plane in the namespace, one
// Node per peer with spec.podCIDRs and netboot.io annotations): cold start and peer→route latency.
// Then pod-to-pod TCP throughput across two nodes with iperf3, netboot's agents and CNI plugin against
// the same topology built by hand with `ip` (bench/lib/agent-throughput.ts).
// Targets (issue 9): RSS < 150 MB and idle CPU < 1 % of a core at 5,000 peers; peer→route p50 < 100 ms
// (etcd and the Kubernetes API); netboot ahead of flanneld on each figure; throughput ≥ 0.95× by hand.
//
//   pnpm bench agent                                   # defaults below; writes its section of bench/RESULTS.md
//   PEERS=200 REPEAT=1 SAMPLES=5 IDLE_S=2 K8S_PEERS=0 THROUGHPUT=0 pnpm bench agent   # quick check (prints only)
//
// Knobs: PEERS (comma list, 1000,5000), MODES (host-gw,vxlan), REPEAT (3 cold starts per size, mode and
// agent), SAMPLES (50), IDLE_S (10), K8S_PEERS (1000; 0 skips the Kubernetes datastore), THROUGHPUT
// (9 iperf3 pairs per mode: a netboot run and a by-hand run, order alternating; 0 skips), IPERF_S (3 s each).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tempNetns } from '@netboot/core/testing';
import { missingKubernetes } from '../packages/bootstrap/src/testing/control-plane.ts';
import { type AgentBundle, bundleAgent } from './lib/agent-bundle.js';
import { type BenchMode, percentile } from './lib/agent-peers.js';
import { measureThroughput, type ThroughputResult } from './lib/agent-throughput.js';
import { PHASES, runTrial, type TrialResult, type TrialSpec } from './lib/agent-trial.js';
import { intEnv, machineFacts, median, settle, writeResultsSection } from './lib/common.js';

const ROOT = join(import.meta.dirname, '..');

if (process.argv[2] === '--trial') {
  // Inside the trial's namespace: one trial, its result as the last stdout line.
  const result = await runTrial(JSON.parse(process.argv[3]!) as TrialSpec);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

const PEERS = (process.env.PEERS ?? '1000,5000').split(',').map(Number);
const MODES = (process.env.MODES ?? 'host-gw,vxlan').split(',') as BenchMode[];
const REPEAT = intEnv('REPEAT', 3);
const SAMPLES = intEnv('SAMPLES', 50);
const IDLE_S = intEnv('IDLE_S', 10);
const K8S_PEERS = process.env.K8S_PEERS === '0' ? 0 : intEnv('K8S_PEERS', 1000);
const THROUGHPUT = process.env.THROUGHPUT === '0' ? 0 : intEnv('THROUGHPUT', 9);
const IPERF_S = intEnv('IPERF_S', 3);
if (PEERS.some((n) => !Number.isInteger(n) || n < 1 || n > 20_000)) throw new Error(`PEERS must be integers 1..20000, got ${process.env.PEERS}`);
if (MODES.some((m) => m !== 'host-gw' && m !== 'vxlan')) throw new Error(`MODES must be host-gw and/or vxlan, got ${process.env.MODES}`);
const LARGEST = Math.max(...PEERS);
const defaults = !['PEERS', 'MODES', 'REPEAT', 'SAMPLES', 'IDLE_S', 'K8S_PEERS', 'THROUGHPUT', 'IPERF_S'].some((k) => process.env[k] !== undefined);

/** Runs one trial in a fresh namespace (this file again, under `ip netns exec`). */
function trial(spec: TrialSpec): TrialResult {
  const ns = tempNetns('nbt-agentb');
  try {
    settle();
    // biome-ignore format: argv
    const res = spawnSync('ip', ['netns', 'exec', ns.name, process.execPath, '--conditions=source', '--import', 'tsx', join(ROOT, 'bench/agent.ts'), '--trial', JSON.stringify(spec)],
      { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 16 << 20 });
    if (res.status !== 0) throw new Error(`trial ${spec.agent} ${spec.mode} ${spec.peers} peers failed (exit ${res.status ?? res.signal})`);
    return JSON.parse(res.stdout.trim().split('\n').at(-1)!) as TrialResult;
  } finally {
    ns.delete();
  }
}

const AGENTS = ['netboot', 'flanneld'] as const;
type AgentName = (typeof AGENTS)[number];
/** Every figure: `${agent} ${mode} ${figure}` → values (one per trial, or the latency samples). */
const figures = new Map<string, number[]>();
const record = (key: string, ...v: number[]) => figures.set(key, [...(figures.get(key) ?? []), ...v]);
const notes: string[] = [];

const started = new Date();
const source = sourceState();
const flannelBuild = spawnSync('bash', [join(ROOT, 'scripts/flannel.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
if (flannelBuild.status !== 0) throw new Error('scripts/flannel.sh failed: flanneld is needed as the peer to compare with');
const flanneld = flannelBuild.stdout.trim().split('\n').at(-1)!;
const flannelVersion = spawnSync(flanneld, ['--version'], { encoding: 'utf8' });
let bundle: AgentBundle | undefined;
let throughput: ThroughputResult[] = [];
const cacheDir = mkdtempSync(join(tmpdir(), 'nbt-agent-cache-'));
try {
  bundle = await bundleAgent();
  const program = (agent: AgentName) => (agent === 'netboot' ? bundle!.file : flanneld);
  for (const mode of MODES) {
    for (const peers of PEERS) {
      for (let rep = 0; rep < REPEAT; rep++) {
        // Alternate which agent goes first, so neither always inherits the other's teardown.
        for (const agent of rep % 2 ? [...AGENTS].reverse() : AGENTS) {
          const steady = peers === LARGEST;
          process.stderr.write(`  ${agent} ${mode}, ${peers} peers, etcd, run ${rep + 1}/${REPEAT}\n`);
          // biome-ignore format: one spec
          const r = trial({ agent, mode, datastore: 'etcd', peers, steady, idleSeconds: IDLE_S, samples: steady && rep === 0 ? SAMPLES : 0, program: program(agent), cacheDir });
          record(`${agent} ${mode} cold ${peers}`, r.coldMs);
          if (r.rssMB !== undefined) record(`${agent} ${mode} rss`, r.rssMB);
          if (r.idleCpuPct !== undefined) record(`${agent} ${mode} cpu`, r.idleCpuPct);
          if (r.latencyMs) record(`${agent} ${mode} latency etcd`, ...r.latencyMs);
          for (const [phase, ms] of Object.entries(r.phases ?? {})) record(`${agent} ${mode} phase ${peers} ${phase}`, ms);
          if (r.timeouts) notes.push(`${agent} ${mode}: ${r.timeouts} of ${SAMPLES} etcd latency samples saw no route within 10 s`);
        }
      }
    }
  }
  const k8sMissing = missingKubernetes();
  if (K8S_PEERS > 0 && k8sMissing !== undefined) notes.push(`Kubernetes datastore not measured: ${k8sMissing}`);
  else if (K8S_PEERS > 0) {
    for (const mode of MODES) {
      process.stderr.write(`  netboot ${mode}, ${K8S_PEERS} Nodes, Kubernetes API\n`);
      // biome-ignore format: one spec
      const r = trial({ agent: 'netboot', mode, datastore: 'kubernetes', peers: K8S_PEERS, steady: false, idleSeconds: IDLE_S, samples: SAMPLES, program: bundle.file, cacheDir });
      record(`netboot ${mode} cold k8s`, r.coldMs);
      if (r.latencyMs) record(`netboot ${mode} latency k8s`, ...r.latencyMs);
      if (r.timeouts) notes.push(`netboot ${mode}: ${r.timeouts} of ${SAMPLES} Kubernetes latency samples saw no route within 10 s`);
    }
  }
  if (THROUGHPUT > 0) throughput = await measureThroughput({ modes: MODES, runs: THROUGHPUT, seconds: IPERF_S });
} finally {
  bundle?.remove();
  rmSync(cacheDir, { recursive: true, force: true });
}

const fmt = (v: number | undefined, digits = 0) =>
  v === undefined || Number.isNaN(v) ? '—' : v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || Number.isNaN(a) || Number.isNaN(b) || b === 0 ? '—' : `${(a / b).toFixed(2)}×`;
const get = (agent: AgentName, mode: BenchMode, what: string, pick: (xs: number[]) => number = median) => {
  const xs = figures.get(`${agent} ${mode} ${what}`);
  return xs === undefined ? undefined : pick(xs);
};

const rows: string[] = [];
for (const mode of MODES) {
  const row = (label: string, what: string, digits: number, target: string, pick: (xs: number[]) => number = median) => {
    const n = get('netboot', mode, what, pick);
    const f = get('flanneld', mode, what, pick);
    if (n === undefined && f === undefined) return;
    rows.push(`| ${mode} | ${label} | ${fmt(n, digits)} | ${fmt(f, digits)} | ${ratio(n, f)} | ${target} |`);
  };
  for (const peers of PEERS) row(`cold start to all routes, ${peers.toLocaleString('en-US')} peers (ms)`, `cold ${peers}`, 0, 'netboot ahead');
  row(`RSS, ${LARGEST.toLocaleString('en-US')} peers (MB)`, 'rss', 1, '< 150 MB');
  row(`idle CPU, ${LARGEST.toLocaleString('en-US')} peers, over ${IDLE_S} s (% of a core)`, 'cpu', 2, '< 1 %');
  row('peer→route p50, etcd (ms)', 'latency etcd', 1, '< 100 ms', (xs) => percentile(xs, 50));
  row('peer→route p99, etcd (ms)', 'latency etcd', 1, 'netboot ahead', (xs) => percentile(xs, 99));
  row(`cold start to all routes, ${K8S_PEERS.toLocaleString('en-US')} Nodes, Kubernetes API (ms)`, 'cold k8s', 0, '');
  row('peer→route p50, Kubernetes API (ms)', 'latency k8s', 1, '< 100 ms', (xs) => percentile(xs, 50));
  row('peer→route p99, Kubernetes API (ms)', 'latency k8s', 1, '', (xs) => percentile(xs, 99));
}
// Where netboot's cold start goes: spawn → each start-up log line, then → every route in the kernel.
const phaseLines: string[] = [];
for (const mode of MODES)
  for (const peers of PEERS) {
    const at = PHASES.map((p) => `${p} ${fmt(get('netboot', mode, `phase ${peers} ${p}`))}`);
    phaseLines.push(
      `netboot ${mode}, ${peers.toLocaleString('en-US')} peers, ms after spawn (medians): ${at.join(', ')}, all routes ${fmt(get('netboot', mode, `cold ${peers}`))}`,
    );
  }
const table = ['| mode | figure | netboot | flanneld | netboot/flanneld | target |', '|---|---|---:|---:|---:|---|', ...rows].join('\n');
const tputTable = throughput.length
  ? [
      '| mode | netboot agents + CNI (Gbit/s) | by hand with `ip` (Gbit/s) | netboot/by hand, median of pairs (range) | MTU netboot / by hand | pairs | target |',
      '|---|---:|---:|---:|---|---:|---|',
      ...throughput.map(
        (t) =>
          `| ${t.mode} | ${fmt(t.netbootGbps, 2)} | ${fmt(t.manualGbps, 2)} | ${t.ratio.toFixed(2)}× (${t.ratioMin.toFixed(2)}–${t.ratioMax.toFixed(2)}) | ${t.netbootMtu} / ${t.manualMtu} | ${t.runs} | ≥ 0.95× |`,
      ),
    ].join('\n')
  : '';
const minutes = ((Date.now() - started.getTime()) / 60_000).toFixed(0);
process.stdout.write(`\n${table}\n\n${phaseLines.join('\n')}\n${tputTable ? `\n${tputTable}\n` : ''}${notes.map((n) => `\nnote: ${n}`).join('')}\n`);

if (defaults) {
  writeResultsSection(
    'agent',
    `## Node agent vs flanneld (\`bench/agent.ts\`)

Command: \`pnpm bench agent\` — ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC, ${minutes} min, ${machineFacts()}, etcd ${etcdVersion()}, flanneld ${flannelVersion.stdout.trim() || flannelVersion.stderr.trim()} (\`scripts/flannel.sh\`).
**A busy machine**: 2 vCPUs shared with 7 other engineers' builds and tests during the run; every figure is the median of ${REPEAT} fresh namespaces (latency: percentiles of ${SAMPLES} samples), and ratios are within one run.
Each trial: a fresh nbt-* namespace, etcd on its loopback holding N synthetic peers (directly connected node IPs on a /16 underlay, a /24 each of 10.0.0.0/8), one agent cold.
netboot: the agent bundled as deployed from ${source}, under plain \`node\` (egress NAT on, its default); flanneld: \`--ip-masq\`, its etcd v3 subnet manager.
Peer→route: write issued → route seen by a netlink monitor, ${SAMPLES} new peers 150 ms apart, with ${LARGEST.toLocaleString('en-US')} peers present (Kubernetes: ${K8S_PEERS.toLocaleString('en-US')} Nodes, a real kube-apiserver + kube-controller-manager, netboot only).

${table}

${phaseLines.map((l) => `- ${l}`).join('\n')}
${tputTable ? `\nPod-to-pod TCP throughput across two nodes (iperf3 -t ${IPERF_S}, ${THROUGHPUT} pairs of neighbouring runs, netboot's and by hand, order alternating; Gbit/s are medians, the ratio is the median of the pairs' ratios; veth + bridge pods on a bridged underlay, both topologies alive at once):\n\n${tputTable}\n` : ''}${notes.length ? `\n${notes.map((n) => `- ${n}`).join('\n')}\n` : ''}`,
  );
}

/** The commit netboot was bundled from, and whether the packages had uncommitted edits (a shared tree: others' work in progress is in the bundle too). */
function sourceState(): string {
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
  const dirty = spawnSync('git', ['status', '--porcelain', '--', 'packages'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean).length;
  return dirty ? `${head} + uncommitted edits in ${dirty} files under packages/` : head;
}

function etcdVersion(): string {
  return /etcd Version: (\S+)/.exec(spawnSync('etcd', ['--version'], { encoding: 'utf8' }).stdout ?? '')?.[1] ?? '?';
}
