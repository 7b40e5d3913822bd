// The CNI plugin against the reference `bridge` + `host-local` (Debian, /usr/lib/cni), one run:
//   start-up floor  `node -e 0`, netboot VERSION (single executable and script), bridge VERSION
//   ADD and DEL     p50/p90 per call, N pods sequential and N with 8 in parallel, ipMasq off and on
//   − VERSION       sequential rounds call VERSION beside each ADD and each DEL (same loop, same
//                   namespace, order alternating per pod): ADD − VERSION and DEL − VERSION, the
//                   targets' figures, come from those pairs, not from the start-up table's VERSION
//                   measured minutes apart (two p50s of ~30 ms processes that far apart moved ±3 ms)
//   peak RSS        of one VERSION, ADD and DEL per plugin (GNU time's %M)
//   CPU time        the plugin's user+sys per call (bash's `times` over its children), VERSION/ADD/DEL,
//                   served and in-process in alternating rounds: wall time is noisy on a loaded machine
// netboot runs twice: in-process (no server), and served — forwarding to `netboot cni serve`, which the
// bench starts in the node namespace (same network and mount namespace as the plugin calls).
// Every call is a fresh process with a clean environment (what a runtime passes), run in a bench
// node namespace with `nsenter --net` (no mount-namespace work, unlike `ip netns exec`); pods are
// nbt-bench-* namespaces; data dirs live in a temp dir. Writes the `cni` section of bench/RESULTS.md.
//
//   pnpm bench cni
//   PODS=20 STARTS=20 pnpm bench cni
//
// Knobs: PODS (50), STARTS (30 start-up runs per command), PARALLEL (8), CPU_CALLS (20 per round),
// CPU_ROUNDS (3).
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { tempNetns, type TempNetns } from '@netboot/core/testing';
import { intEnv, machineFacts, median, settle, writeResultsSection } from './lib/common.js';

const PODS = intEnv('PODS', 50);
const STARTS = intEnv('STARTS', 30);
const PARALLEL = intEnv('PARALLEL', 8);
const CPU_CALLS = intEnv('CPU_CALLS', 20);
const CPU_ROUNDS = intEnv('CPU_ROUNDS', 3);
const REF = '/usr/lib/cni';
const root = resolve(import.meta.dirname, '..');
/** node's arguments that run `netboot` from its TypeScript source. */
const CLI = ['--conditions=source', '--import', 'tsx', join(root, 'packages/bootstrap/src/cli/main.ts')];
const work = mkdtempSync(join(tmpdir(), 'nbt-bench-cni-'));
const CLEAN_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', NETBOOT_NATIVE_DIR: join(work, 'native') };

const lines: string[] = [];
const say = (line: string) => {
  lines.push(line);
  process.stdout.write(`${line}\n`);
};
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length - 1) * p))]!;
const fmt = (x: number) => x.toFixed(1);

/** A verb's cost beyond VERSION from the VERSION calls made beside it (ms). */
interface OverVersion {
  /** p50 of those VERSION calls. */
  version: number;
  /** p50 of the calls − p50 of their VERSIONs: what the targets are judged on. */
  p50: number;
  /** Median of the per-pod differences (call − the VERSION beside it). */
  paired: number;
}

function overVersion(calls: number[], versions: number[]): OverVersion {
  return { version: pct(versions, 0.5), p50: pct(calls, 0.5) - pct(versions, 0.5), paired: median(calls.map((c, i) => c - versions[i]!)) };
}

function build(): { sea: string; script: string } {
  execFileSync(process.execPath, [...CLI, 'cni', 'build', '--out', join(work, 'bin')], { stdio: 'ignore' });
  return { sea: join(work, 'bin/netboot'), script: join(work, 'bin/netboot.cjs') };
}

interface Tool {
  name: string;
  binary: string;
  /** Calls are forwarded to `netboot cni serve` on this socket, started per round in the node namespace. */
  served?: boolean;
  conf(masq: boolean, dataDir: string): Record<string, unknown>;
}

const ranges = [[{ subnet: '10.244.0.0/22' }]];
const SOCKET = join(work, 'run', 'cni.sock');
const netbootConf = (server: string | false) => (ipMasq: boolean, dataDir: string) => ({
  cniVersion: '1.0.0',
  name: 'bench',
  type: 'netboot',
  ipMasq,
  server,
  ipam: { type: 'netboot', ranges, dataDir },
});
function tools(sea: string): Tool[] {
  return [
    { name: 'netboot', binary: sea, conf: netbootConf(false) },
    { name: 'netboot served', binary: sea, served: true, conf: netbootConf(SOCKET) },
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
  /** Sequential rounds: the VERSION call made beside each ADD (addVersion[i] with add[i]) and each DEL. */
  addVersion?: number[];
  delVersion?: number[];
}

/**
 * Each pod's `command` with a VERSION call beside it (same stdin and environment, same namespace),
 * VERSION first for even pods and second for odd ones, so neither always finds the other's caches.
 */
function interleaved(node: TempNetns, binary: string, command: 'ADD' | 'DEL', conf: string, pods: TempNetns[]): { calls: number[]; versions: number[] } {
  const calls: number[] = [];
  const versions: number[] = [];
  pods.forEach((p, i) => {
    if (i % 2 === 0) versions.push(call(node, binary, 'VERSION', conf, p));
    calls.push(call(node, binary, command, conf, p));
    if (i % 2 === 1) versions.push(call(node, binary, 'VERSION', conf, p));
  });
  return { calls, versions };
}

interface Server {
  stop(): Promise<void>;
  /** Peak RSS (VmHWM) in MiB. */
  peakRss(): number;
}

/** `netboot cni serve` (the CLI from source) in the node namespace; returns once it listens. */
async function startServer(node: TempNetns): Promise<Server> {
  const log = join(work, 'serve.log');
  const fd = openSync(log, 'w');
  const child: ChildProcess = spawn('nsenter', [`--net=${node.path}`, process.execPath, ...CLI, 'cni', 'serve', '--socket', SOCKET], {
    cwd: root,
    stdio: ['ignore', 'ignore', fd],
    // serveCni sizes libuv's pool for DELs' kernel tails itself, but from source tsx's loader has
    // started the pool before it can: given here, as a deployment would.
    env: { ...CLEAN_ENV, UV_THREADPOOL_SIZE: '16' },
  });
  closeSync(fd);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 60_000;
  while (!readFileSync(log, 'utf8').includes('listening on')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`netboot cni serve did not start: ${readFileSync(log, 'utf8')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
    peakRss: () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024,
  };
}

/**
 * One ADD and DEL through a fresh server before it is measured: a server's first call compiles the
 * verbs (~200 ms), once per boot, not per pod.
 */
async function warmServer(node: TempNetns, conf: string): Promise<Server> {
  const server = await startServer(node);
  const pod = tempNetns('nbt-bench');
  try {
    call(node, bins.sea, 'ADD', conf, pod);
    call(node, bins.sea, 'DEL', conf, pod);
  } catch (err) {
    // The caller's cleanup never sees a server that failed its warm-up: stop it here.
    await server.stop();
    throw err;
  } finally {
    pod.delete();
  }
  return server;
}

/** Peak RSS of the servers, MiB, for the table's note. */
const serverRss: number[] = [];

async function round(tool: Tool, masq: boolean, parallel: boolean): Promise<Round> {
  const node = tempNetns('nbt-bench');
  const pods = Array.from({ length: PODS }, () => tempNetns('nbt-bench'));
  const dataDir = mkdtempSync(join(work, 'data-'));
  const conf = JSON.stringify(tool.conf(masq, dataDir));
  let server: Server | undefined;
  try {
    server = tool.served ? await warmServer(node, conf) : undefined;
    settle();
    if (parallel) {
      const add = await inParallel(pods.map((p) => () => callAsync(node, tool.binary, 'ADD', conf, p)));
      settle();
      const del = await inParallel(pods.map((p) => () => callAsync(node, tool.binary, 'DEL', conf, p)));
      return { add, del };
    }
    const add = interleaved(node, tool.binary, 'ADD', conf, pods);
    settle();
    const del = interleaved(node, tool.binary, 'DEL', conf, pods);
    return { add: add.calls, del: del.calls, addVersion: add.versions, delVersion: del.versions };
  } finally {
    if (server) {
      serverRss.push(server.peakRss());
      await server.stop();
    }
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

async function peakRss(tool: Tool): Promise<string> {
  const node = tempNetns('nbt-bench');
  const pod = tempNetns('nbt-bench');
  const dataDir = mkdtempSync(join(work, 'data-'));
  const conf = JSON.stringify(tool.conf(false, dataDir));
  let server: Server | undefined;
  try {
    server = tool.served ? await warmServer(node, conf) : undefined;
    return (['VERSION', 'ADD', 'DEL'] as const).map((c) => `${c} ${fmt(rss(tool, c, node, pod, conf))}`).join(', ');
  } finally {
    await server?.stop();
    pod.delete();
    node.delete();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

interface Cpu {
  version: number;
  add: number;
  del: number;
}

/**
 * CPU ms per call (user+sys of nsenter and the plugin, with its children) of VERSION, then ADD and DEL
 * of CPU_CALLS pods: bash's `times` (children, ms resolution) around each loop, in the node namespace.
 */
async function cpuRound(masq: boolean, served: boolean): Promise<Cpu> {
  const node = tempNetns('nbt-bench');
  const pods = Array.from({ length: CPU_CALLS }, () => tempNetns('nbt-bench'));
  const dataDir = mkdtempSync(join(work, 'data-'));
  const confText = JSON.stringify(netbootConf(served ? SOCKET : false)(masq, dataDir));
  let server: Server | undefined;
  try {
    server = served ? await warmServer(node, confText) : undefined;
    const conf = join(dataDir, 'conf.json');
    writeFileSync(conf, confText);
    const script = `call() { env -i PATH="$P" CNI_PATH=${REF} NETBOOT_NATIVE_DIR="$NATIVE" CNI_COMMAND=$1 CNI_CONTAINERID=$2 CNI_NETNS=/run/netns/$2 CNI_IFNAME=eth0 nsenter --net="$NODE" "$BIN" < "$CONF" > /dev/null || echo "$1 $2 failed" >&2; }
times; for p in $PODS; do call VERSION $p; done; times; for p in $PODS; do call ADD $p; done; times; for p in $PODS; do call DEL $p; done; times`;
    const env = {
      P: CLEAN_ENV.PATH,
      PATH: CLEAN_ENV.PATH,
      NATIVE: CLEAN_ENV.NETBOOT_NATIVE_DIR,
      NODE: node.path,
      BIN: bins.sea,
      CONF: conf,
      PODS: pods.map((p) => p.name).join(' '),
    };
    const r = spawnSync('bash', ['-c', script], { env, encoding: 'utf8' });
    if (r.status !== 0 || r.stderr.includes('failed')) throw new Error(`CPU round failed: ${r.stderr}`);
    // `times` prints the shell's line, then its children's: "0m0.024s 0m0.008s".
    const seconds = (t: string) => Number(t.split('m')[0]) * 60 + Number(t.split('m')[1]!.replace('s', ''));
    const children = r.stdout
      .trim()
      .split('\n')
      .filter((_, i) => i % 2 === 1)
      .map(
        (l) =>
          l
            .trim()
            .split(/\s+/)
            .map(seconds)
            .reduce((a, b) => a + b) * 1000,
      );
    const per = (i: number) => (children[i + 1]! - children[i]!) / CPU_CALLS;
    return { version: per(0), add: per(1), del: per(2) };
  } finally {
    await server?.stop();
    for (const p of pods) p.delete();
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
  say(
    'Each call is a new process with a clean environment in a bench node namespace (`nsenter --net`), timed from spawn to exit. `netboot served`: the same executable forwarding to `netboot cni serve` (from source, started in the node namespace per round and warmed by one ADD/DEL: its first call compiles the verbs).',
  );
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
  const rssNotes: string[] = [];
  for (const t of tools(bins.sea)) rssNotes.push(`${t.name}: ${await peakRss(t)}`);
  say(
    `Peak RSS (MiB) per invocation: ${rssNotes.join('; ')}. The server itself (\`netboot cni serve\` from source): ${fmt(Math.max(...serverRss))} MiB at most.\n`,
  );
  const sequential = (name: string, masq: boolean) => results.get(`${name}/${masq}/false`)!;
  const overAdd = (name: string, masq = false) => overVersion(sequential(name, masq).add, sequential(name, masq).addVersion!);
  const overDel = (name: string, masq = false) => overVersion(sequential(name, masq).del, sequential(name, masq).delVersion!);
  say(
    'Beyond VERSION, sequential rounds: each ADD and each DEL with a VERSION call beside it (same loop, namespace, stdin and environment; VERSION first for every other pod). p50 of the calls − p50 of those VERSIONs, and the median of the per-pod differences, ms:\n',
  );
  say(
    '| plugin | ipMasq | VERSION p50 (beside ADD) | ADD − VERSION | paired median | VERSION p50 (beside DEL) | DEL − VERSION | paired median |\n|---|---|---:|---:|---:|---:|---:|---:|',
  );
  for (const masq of [false, true]) {
    for (const t of tools(bins.sea)) {
      const a = overAdd(t.name, masq);
      const d = overDel(t.name, masq);
      say(
        `| ${t.name} | ${masq ? 'on' : 'off'} | ${fmt(a.version)} | ${fmt(a.p50)} | ${fmt(a.paired)} | ${fmt(d.version)} | ${fmt(d.p50)} | ${fmt(d.paired)} |`,
      );
    }
  }
  const v = pct(starts.get('netboot VERSION (single executable)')!, 0.5);
  const refM = sequential('bridge + host-local', true);
  const holds = (ok: boolean) => (ok ? 'holds' : 'MISSED');
  const over = (o: OverVersion) => `${fmt(o.p50)} ms, paired median ${fmt(o.paired)}`;
  say(
    `\nTargets (sequential p50). VERSION ≤ 1.1× \`node -e 0\` (start-up table): ${fmt(v)} vs ${fmt(pct(floor, 0.5))} ms → ${fmt(v / pct(floor, 0.5))}×, ${holds(v <= 1.1 * pct(floor, 0.5))}. ADD − VERSION and DEL − VERSION are judged on the VERSION calls made beside them (table above), not on the start-up table's VERSION, measured minutes apart; the start-up-table difference is given for comparison with earlier runs.`,
  );
  const refAdd = overAdd('bridge + host-local');
  const refDel = overDel('bridge + host-local');
  for (const name of ['netboot', 'netboot served']) {
    const nb = sequential(name, false);
    const nbM = sequential(name, true);
    const add = overAdd(name);
    const del = overDel(name);
    say(`\n${name}:`);
    say(
      `- ADD − VERSION ≤ 3 ms: ${over(add)} (reference: ${over(refAdd)}; from the start-up table's VERSION: ${fmt(pct(nb.add, 0.5) - v)}), ${holds(add.p50 <= 3)}.`,
    );
    say(
      `- DEL − VERSION ≤ the reference's DEL − VERSION: ${over(del)}; reference ${over(refDel)} (from the start-up table's VERSION: ${fmt(pct(nb.del, 0.5) - v)}), ${holds(del.p50 <= refDel.p50)}.`,
    );
    say(
      `- ipMasq on, ADD and DEL below the reference's: ADD ${fmt(pct(nbM.add, 0.5))} vs ${fmt(pct(refM.add, 0.5))} ms, DEL ${fmt(pct(nbM.del, 0.5))} vs ${fmt(pct(refM.del, 0.5))} ms, ${holds(pct(nbM.add, 0.5) < pct(refM.add, 0.5) && pct(nbM.del, 0.5) < pct(refM.del, 0.5))}.`,
    );
  }
  say(
    `\nCPU time per call, ms (user+sys of nsenter and the single executable, bash \`times\` over ${CPU_CALLS} calls per round, rounds alternating served and in-process; load ${loadavg()[0]!.toFixed(2)} before):\n`,
  );
  say('| netboot | ipMasq | VERSION | ADD | DEL | ADD − VERSION | DEL − VERSION |\n|---|---|---|---|---|---|---|');
  for (const masq of [false, true]) {
    const rounds: Record<string, Cpu[]> = { served: [], 'in-process': [] };
    for (let i = 0; i < CPU_ROUNDS; i++) for (const mode of ['served', 'in-process']) rounds[mode]!.push(await cpuRound(masq, mode === 'served'));
    for (const [mode, rs] of Object.entries(rounds)) {
      const col = (f: (c: Cpu) => number) => rs.map((c) => fmt(f(c))).join(', ');
      say(
        `| ${mode} | ${masq ? 'on' : 'off'} | ${col((c) => c.version)} | ${col((c) => c.add)} | ${col((c) => c.del)} | ${col((c) => c.add - c.version)} | ${col((c) => c.del - c.version)} |`,
      );
    }
  }
  writeResultsSection('cni', lines.join('\n'));
} finally {
  rmSync(work, { recursive: true, force: true });
}
