// Pod-to-pod TCP throughput across two nodes for bench/agent.ts: `netboot lab up` (real agents in node
// namespaces, pods made by the real CNI plugin's ADD) against the same topology built by hand with `ip`
// (an underlay bridge, two nodes, a bridge and one veth pod each, and a route — or a VXLAN device with
// static FDB and neighbour entries — per peer), iperf3 between a pod on each node, runs alternating.
// A wrong MTU, a stray NAT rule or a slower path would show as a ratio under 1. On a shared machine one
// run swings 2–7 Gbit/s, so the ratio is taken per pair of neighbouring runs, and its median reported.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { sh, type TempNetns, tempNetns } from '@netboot/core/testing';
import type { BenchMode } from './agent-peers.js';
import { median, settle } from './common.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = [process.execPath, '--conditions=source', '--import', 'tsx', join(ROOT, 'packages/bootstrap/src/cli/main.ts')];

export interface ThroughputResult {
  mode: BenchMode;
  netbootGbps: number;
  manualGbps: number;
  /** Median of the per-pair ratios (netboot run / the by-hand run next to it), and their range. */
  ratio: number;
  ratioMin: number;
  ratioMax: number;
  netbootMtu: number;
  manualMtu: number;
  runs: number;
}

/** A client pod and a server pod on different nodes. */
interface PodPair {
  client: string;
  server: string;
  serverIp: string;
  close(): void;
}

export async function measureThroughput(opts: { modes: readonly BenchMode[]; runs: number; seconds: number }): Promise<ThroughputResult[]> {
  const out: ThroughputResult[] = [];
  for (const mode of opts.modes) {
    process.stderr.write(`  throughput ${mode}: netboot lab (2 nodes) and the same by hand\n`);
    const lab = labPods(mode);
    try {
      const hand = manualPods(mode);
      try {
        const n: number[] = [];
        const m: number[] = [];
        for (let r = 0; r < opts.runs; r++) {
          // Alternate which goes first within a pair.
          for (const side of r % 2 ? ['hand', 'lab'] : ['lab', 'hand']) {
            settle();
            if (side === 'lab') n.push(await iperf(lab, opts.seconds));
            else m.push(await iperf(hand, opts.seconds));
          }
          process.stderr.write(`    run ${r + 1}: netboot ${n.at(-1)!.toFixed(2)} Gbit/s, by hand ${m.at(-1)!.toFixed(2)} Gbit/s\n`);
        }
        const ratios = n.map((x, i) => x / m[i]!);
        // biome-ignore format: one result
        out.push({ mode, netbootGbps: median(n), manualGbps: median(m), ratio: median(ratios), ratioMin: Math.min(...ratios), ratioMax: Math.max(...ratios), netbootMtu: mtuOf(lab.client), manualMtu: mtuOf(hand.client), runs: opts.runs });
      } finally {
        hand.close();
      }
    } finally {
      lab.close();
    }
  }
  return out;
}

/** `netboot lab up` with two nodes and a pod on each, named nbt-bench-… so its namespaces are nbt-* ones. */
function labPods(mode: BenchMode): PodPair {
  const name = `nbt-bench-${randomBytes(3).toString('hex')}`;
  const close = () => void spawnSync(CLI[0]!, [...CLI.slice(1), 'lab', 'down', '--name', name], { cwd: ROOT, stdio: 'ignore' });
  // biome-ignore format: argv
  const up = spawnSync(CLI[0]!, [...CLI.slice(1), 'lab', 'up', '--name', name, '--nodes', '2', '--pods', '1', '--mode', mode, '--datastore', 'file'],
    { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  if (up.status !== 0) {
    close();
    throw new Error(`netboot lab up --mode ${mode} failed (exit ${up.status}):\n${up.stderr}`);
  }
  const state = JSON.parse(readFileSync(`/run/netboot-lab/${name}/state.json`, 'utf8')) as { pods: { node: string; netns: string; ips: string[] }[] };
  const a = state.pods.find((p) => p.node === 'node1');
  const b = state.pods.find((p) => p.node === 'node2');
  if (!a || !b) {
    close();
    throw new Error(`lab ${name} has no pod on node1 and node2`);
  }
  return { client: a.netns, server: b.netns, serverIp: b.ips.find((ip) => !ip.includes(':'))!, close };
}

/**
 * The reference: the lab's addressing built with `ip` alone. Underlay bridge 192.168.1.1/24, node N at
 * 192.168.1.1N with bridge cni0 10.244.N.1/24 and one pod 10.244.N.2; host-gw: a route to the other node's
 * /24 via its node IP; vxlan: vx0 (VNI 1, port 8472, MTU 1450) with the other node's VTEP as a static
 * neighbour + FDB entry and an onlink route, as flannel's vxlan backend programs it; pods' MTU 1450 there.
 */
function manualPods(mode: BenchMode): PodPair {
  const made: TempNetns[] = [];
  const mk = () => {
    const ns = tempNetns('nbt-hand');
    made.push(ns);
    sh(ns, 'ip', 'link', 'set', 'lo', 'up');
    return ns;
  };
  const close = () => {
    for (const ns of made.reverse()) ns.delete();
  };
  try {
    const mtu = mode === 'vxlan' ? '1450' : '1500';
    const underlay = mk();
    sh(underlay, 'ip', 'link', 'add', 'br0', 'up', 'type', 'bridge');
    const pods: TempNetns[] = [];
    const nodes: TempNetns[] = [];
    for (const n of [1, 2]) {
      const node = mk();
      nodes.push(node);
      sh(underlay, 'ip', 'link', 'add', `n${n}`, 'up', 'master', 'br0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', node.name);
      sh(node, 'ip', 'addr', 'add', `192.168.1.1${n}/24`, 'dev', 'eth0');
      sh(node, 'ip', 'link', 'set', 'eth0', 'up');
      sh(node, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
      sh(node, 'ip', 'link', 'add', 'cni0', 'up', 'type', 'bridge');
      sh(node, 'ip', 'addr', 'add', `10.244.${n}.1/24`, 'dev', 'cni0');
      const pod = mk();
      pods.push(pod);
      sh(node, 'ip', 'link', 'add', 'vethpod', 'mtu', mtu, 'master', 'cni0', 'type', 'veth', 'peer', 'name', 'eth0', 'mtu', mtu, 'netns', pod.name);
      sh(node, 'ip', 'link', 'set', 'vethpod', 'up');
      sh(pod, 'ip', 'addr', 'add', `10.244.${n}.2/24`, 'dev', 'eth0');
      sh(pod, 'ip', 'link', 'set', 'eth0', 'up');
      sh(pod, 'ip', 'route', 'add', 'default', 'via', `10.244.${n}.1`);
    }
    for (const [n, m] of [
      [1, 2],
      [2, 1],
    ] as const) {
      const node = nodes[n - 1]!;
      if (mode === 'host-gw') sh(node, 'ip', 'route', 'add', `10.244.${m}.0/24`, 'via', `192.168.1.1${m}`);
      else {
        // biome-ignore format: ip argv
        sh(node, 'ip', 'link', 'add', 'vx0', 'address', `0e:00:00:00:00:0${n}`, 'mtu', '1450', 'type', 'vxlan', 'id', '1',
          'local', `192.168.1.1${n}`, 'dev', 'eth0', 'dstport', '8472', 'nolearning');
        sh(node, 'ip', 'addr', 'add', `10.244.${n}.0/32`, 'dev', 'vx0');
        sh(node, 'ip', 'link', 'set', 'vx0', 'up');
        sh(node, 'ip', 'neigh', 'replace', `10.244.${m}.0`, 'lladdr', `0e:00:00:00:00:0${m}`, 'dev', 'vx0', 'nud', 'permanent');
        sh(node, 'bridge', 'fdb', 'append', `0e:00:00:00:00:0${m}`, 'dev', 'vx0', 'dst', `192.168.1.1${m}`);
        sh(node, 'ip', 'route', 'add', `10.244.${m}.0/24`, 'via', `10.244.${m}.0`, 'dev', 'vx0', 'onlink');
      }
    }
    return { client: pods[0]!.name, server: pods[1]!.name, serverIp: '10.244.2.2', close };
  } catch (e) {
    close();
    throw e;
  }
}

/** One iperf3 run (client pod → server pod, `seconds` long): received Gbit/s. */
async function iperf(pair: PodPair, seconds: number): Promise<number> {
  const server = spawn('ip', ['netns', 'exec', pair.server, 'iperf3', '-s', '-1', '-p', '5201'], { stdio: 'ignore' });
  try {
    for (let i = 0; ; i++) {
      await sleep(100);
      const listening = spawnSync('ip', ['netns', 'exec', pair.server, 'ss', '-Hltn', 'sport', '=', ':5201'], { encoding: 'utf8' }).stdout.trim();
      if (listening !== '') break;
      if (i > 50) throw new Error(`iperf3 -s in ${pair.server} is not listening`);
    }
    // biome-ignore format: argv
    const res = spawnSync('ip', ['netns', 'exec', pair.client, 'iperf3', '-c', pair.serverIp, '-p', '5201', '-t', String(seconds), '-J'], { encoding: 'utf8', maxBuffer: 16 << 20 });
    const report = JSON.parse(res.stdout) as { end?: { sum_received?: { bits_per_second: number } }; error?: string };
    const bps = report.end?.sum_received?.bits_per_second;
    if (res.status !== 0 || bps === undefined) throw new Error(`iperf3 ${pair.client} → ${pair.serverIp}: ${report.error ?? res.stderr}`);
    return bps / 1e9;
  } finally {
    server.kill();
  }
}

function mtuOf(netns: string): number {
  return (JSON.parse(spawnSync('ip', ['-n', netns, '-j', 'link', 'show', 'eth0'], { encoding: 'utf8' }).stdout) as { mtu: number }[])[0]!.mtu;
}
