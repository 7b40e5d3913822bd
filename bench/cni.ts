// The CNI plugin against the reference `bridge` + `host-local` (Debian, /usr/lib/cni), one run:
//   start-up floor  `node -e 0`, netboot VERSION (single executable and script), bridge VERSION
//   ADD and DEL     p50/p90 per call, N pods sequential and N with 8 in parallel, ipMasq off and on
//   peak RSS        of one VERSION, ADD and DEL per plugin (GNU time's %M)
// Every call is a fresh process with a clean environment (what a runtime passes), run in a bench
// node namespace with `nsenter --net` (no mount-namespace work, unlike `ip netns exec`); pods are
// nbt-bench-* namespaces; data dirs live in a temp dir. Writes the `cni` section of bench/RESULTS.md.
//
//   pnpm bench cni
//   PODS=20 STARTS=20 pnpm bench cni
//
// Knobs: PODS (50), STARTS (30 start-up runs per command), PARALLEL (8).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { tempNetns, type TempNetns } from '@netboot/core/testing';
import { intEnv, machineFacts, settle, writeResultsSection } from './lib/common.js';

const PODS = intEnv('PODS', 50);
const STARTS = intEnv('STARTS', 30);
const PARALLEL = intEnv('PARALLEL', 8);
const REF = '/usr/lib/cni';
const root = resolve(import.meta.dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'nbt-bench-cni-'));
const CLEAN_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', NETBOOT_NATIVE_DIR: join(work, 'native') };

const lines: string[] = [];
const say = (line: string) => {
  lines.push(line);
  process.stdout.write(`${line}\n`);
};
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length - 1) * p))]!;
const fmt = (x: number) => x.toFixed(1);

function build(): { sea: string; script: string } {
  execFileSync(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', join(root, 'packages/bootstrap/src/cli/main.ts'), 'cni', 'build', '--out', join(work, 'bin')],
    { stdio: 'ignore' },
  );
  return { sea: join(work, 'bin/netboot'), script: join(work, 'bin/netboot.cjs') };
}

interface Tool {
  name: string;
  binary: string;
  conf(masq: boolean, dataDir: string): Record<string, unknown>;
}

const ranges = [[{ subnet: '10.244.0.0/22' }]];
function tools(sea: string): Tool[] {
  return [
    {
      name: 'netboot',
      binary: sea,
      conf: (ipMasq, dataDir) => ({ cniVersion: '1.0.0', name: 'bench', type: 'netboot', ipMasq, ipam: { type: 'netboot', ranges, dataDir } }),
    },
    {
      name: 'bridge + host-local',
      binary: join(REF, 'bridge'),
      conf: (ipMasq, dataDir) => ({
        cniVersion: '1.0.0',
        name: 'bench',
        type: 'bridge',
        bridge: 'cni0',
        isGateway: true,
        isDefaultGateway: true,
        ipMasq,
        ipam: { type: 'host-local', ranges, dataDir },
      }),
    },
  ];
}

/** One plugin call in the node namespace: wall ms from spawn to exit. */
function call(node: TempNetns, binary: string, command: string, stdin: string, pod?: TempNetns): number {
  const env = { ...CLEAN_ENV, CNI_COMMAND: command, CNI_PATH: REF, ...(pod ? { CNI_CONTAINERID: pod.name, CNI_NETNS: pod.path, CNI_IFNAME: 'eth0' } : {}) };
  const t0 = performance.now();
  const r = spawnSync('nsenter', [`--net=${node.path}`, binary], { env, input: stdin, encoding: 'utf8' });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${binary} ${command} failed: ${r.stdout} ${r.stderr}`);
  return ms;
}

function callAsync(node: TempNetns, binary: string, command: string, stdin: string, pod: TempNetns): Promise<number> {
  const env = { ...CLEAN_ENV, CNI_COMMAND: command, CNI_PATH: REF, CNI_CONTAINERID: pod.name, CNI_NETNS: pod.path, CNI_IFNAME: 'eth0' };
  const t0 = performance.now();
  const child = spawn('nsenter', [`--net=${node.path}`, binary], { env, stdio: ['pipe', 'ignore', 'ignore'] });
  child.stdin.end(stdin);
  return new Promise((ok, fail) =>
    child.on('close', (code) => (code === 0 ? ok(performance.now() - t0) : fail(new Error(`${binary} ${command} exited ${code}`)))),
  );
}

async function inParallel(jobs: (() => Promise<number>)[]): Promise<number[]> {
  const out: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (next < jobs.length) out.push(await jobs[next++]!());
    }),
  );
  return out;
}

function startup(): Map<string, number[]> {
  const node = tempNetns('nbt-bench');
  try {
    const rows = new Map<string, number[]>();
    const cmds: [string, () => number][] = [
      [
        'node -e 0',
        () => {
          const t0 = performance.now();
          spawnSync(process.execPath, ['-e', '0'], { env: CLEAN_ENV });
          return performance.now() - t0;
        },
      ],
      ['netboot VERSION (single executable)', () => call(node, bins.sea, 'VERSION', '')],
      ['netboot VERSION (script fallback)', () => call(node, bins.script, 'VERSION', '')],
      ['bridge VERSION', () => call(node, join(REF, 'bridge'), 'VERSION', '')],
    ];
    for (const [name, fn] of cmds) {
      fn(); // warm the page cache (and write the native module once)
      rows.set(name, Array.from({ length: STARTS }, fn));
    }
    return rows;
  } finally {
    node.delete();
  }
}

interface Round {
  add: number[];
  del: number[];
}

async function round(tool: Tool, masq: boolean, parallel: boolean): Promise<Round> {
  const node = tempNetns('nbt-bench');
  const pods = Array.from({ length: PODS }, () => tempNetns('nbt-bench'));
  const dataDir = mkdtempSync(join(work, 'data-'));
  try {
    const conf = JSON.stringify(tool.conf(masq, dataDir));
    settle();
    const add = parallel
      ? await inParallel(pods.map((p) => () => callAsync(node, tool.binary, 'ADD', conf, p)))
      : pods.map((p) => call(node, tool.binary, 'ADD', conf, p));
    settle();
    const del = parallel
      ? await inParallel(pods.map((p) => () => callAsync(node, tool.binary, 'DEL', conf, p)))
      : pods.map((p) => call(node, tool.binary, 'DEL', conf, p));
    return { add, del };
  } finally {
    for (const p of pods) p.delete();
    node.delete();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Peak RSS in MiB of one call, from GNU time. */
function rss(tool: Tool, command: 'VERSION' | 'ADD' | 'DEL', node: TempNetns, pod: TempNetns, conf: string): number {
  const env = { ...CLEAN_ENV, CNI_COMMAND: command, CNI_PATH: REF, CNI_CONTAINERID: pod.name, CNI_NETNS: pod.path, CNI_IFNAME: 'eth0' };
  const r = spawnSync('/usr/bin/time', ['-f', '%M', 'nsenter', `--net=${node.path}`, tool.binary], { env, input: conf, encoding: 'utf8' });
  return Number(r.stderr.trim().split('\n').pop()) / 1024;
}

function peakRss(tool: Tool): string {
  const node = tempNetns('nbt-bench');
  const pod = tempNetns('nbt-bench');
  const dataDir = mkdtempSync(join(work, 'data-'));
  try {
    const conf = JSON.stringify(tool.conf(false, dataDir));
    return (['VERSION', 'ADD', 'DEL'] as const).map((c) => `${c} ${fmt(rss(tool, c, node, pod, conf))}`).join(', ');
  } finally {
    pod.delete();
    node.delete();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const loadAtStart = loadavg();
const bins = build();
try {
  const starts = startup();
  const floor = starts.get('node -e 0')!;
  const started = new Date().toISOString().slice(0, 16).replace('T', ' ');
  say('## CNI plugin (`bench/cni.ts`)\n');
  say(`Command: \`pnpm bench cni\` — ${started} UTC, ${machineFacts()}. PODS=${PODS}, ${PARALLEL} in parallel, STARTS=${STARTS}.`);
  say('Each call is a new process with a clean environment in a bench node namespace (`nsenter --net`), timed from spawn to exit.');
  say(`Load average when the run started: ${loadAtStart.map((l) => l.toFixed(2)).join(' ')} (the machine is shared; figures above ~1 are noisy).\n`);
  say('| start-up | p50 ms | p90 ms |\n|---|---:|---:|');
  for (const [name, xs] of starts) say(`| ${name} | ${fmt(pct(xs, 0.5))} | ${fmt(pct(xs, 0.9))} |`);
  say('');
  say('| plugin | ipMasq | mode | ADD p50 | ADD p90 | DEL p50 | DEL p90 |\n|---|---|---|---:|---:|---:|---:|');
  const results = new Map<string, Round>();
  for (const masq of [false, true]) {
    for (const parallel of [false, true]) {
      for (const tool of tools(bins.sea)) {
        const r = await round(tool, masq, parallel);
        results.set(`${tool.name}/${masq}/${parallel}`, r);
        say(
          `| ${tool.name} | ${masq ? 'on' : 'off'} | ${parallel ? `${PARALLEL} parallel` : 'sequential'} | ${fmt(pct(r.add, 0.5))} | ${fmt(pct(r.add, 0.9))} | ${fmt(pct(r.del, 0.5))} | ${fmt(pct(r.del, 0.9))} |`,
        );
      }
    }
  }
  say('');
  say(
    `Peak RSS (MiB) per invocation: ${tools(bins.sea)
      .map((t) => `${t.name}: ${peakRss(t)}`)
      .join('; ')}.\n`,
  );
  const v = pct(starts.get('netboot VERSION (single executable)')!, 0.5);
  const refV = pct(starts.get('bridge VERSION')!, 0.5);
  const nb = results.get('netboot/false/false')!;
  const ref = results.get('bridge + host-local/false/false')!;
  const nbM = results.get('netboot/true/false')!;
  const refM = results.get('bridge + host-local/true/false')!;
  const holds = (ok: boolean) => (ok ? 'holds' : 'MISSED');
  say('Targets (sequential p50):');
  say(`- VERSION ≤ 1.1× \`node -e 0\`: ${fmt(v)} vs ${fmt(pct(floor, 0.5))} ms → ${fmt(v / pct(floor, 0.5))}×, ${holds(v <= 1.1 * pct(floor, 0.5))}.`);
  say(`- ADD − VERSION ≤ 3 ms: ${fmt(pct(nb.add, 0.5) - v)} ms (reference: ${fmt(pct(ref.add, 0.5) - refV)} ms), ${holds(pct(nb.add, 0.5) - v <= 3)}.`);
  say(
    `- DEL − VERSION ≤ the reference's DEL − VERSION: ${fmt(pct(nb.del, 0.5) - v)} vs ${fmt(pct(ref.del, 0.5) - refV)} ms, ${holds(pct(nb.del, 0.5) - v <= pct(ref.del, 0.5) - refV)}.`,
  );
  say(
    `- ipMasq on, ADD and DEL below the reference's: ADD ${fmt(pct(nbM.add, 0.5))} vs ${fmt(pct(refM.add, 0.5))} ms, DEL ${fmt(pct(nbM.del, 0.5))} vs ${fmt(pct(refM.del, 0.5))} ms, ${holds(pct(nbM.add, 0.5) < pct(refM.add, 0.5) && pct(nbM.del, 0.5) < pct(refM.del, 0.5))}.`,
  );
  writeResultsSection('cni', lines.join('\n'));
} finally {
  rmSync(work, { recursive: true, force: true });
}
