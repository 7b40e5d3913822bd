// @netboot/routes against `ip -batch`, in throwaway `nbt-bench-…` namespaces, for host-gw and vxlan at
// several cluster sizes (one node, N peers on its /16 underlay, a /24 pod CIDR each):
//   full apply         Reconciler.full(mode.desired(node, peers)) in a fresh namespace, in the shape
//                      netboot's default ('auto') chooses for that size: plain `via` routes below
//                      NEXTHOP_PEERS (500) peers, routes through nexthop objects from there on (the
//                      shape column). Before it, in the same namespace, a throwaway Reconciler of that
//                      shape applies 50 peers and removes them: warm code, as a long-running agent
//                      has. The row's first namespace still runs colder code than the others (the
//                      process's first apply of that mode or size): its figure and the median of the
//                      others are shown beside the median of all
//                      vs the same entries from a generated file: `ip -batch` (routes; neighbours for
//                      vxlan) + `bridge -batch` (FDB entries for vxlan), timed as whole processes, in
//                      two shapes: plain `route replace … via GW` (what flannel and Calico program),
//                      and the nexthop shape netboot writes (`nexthop replace id N via GW …` +
//                      `route replace … nhid N`), so the ratio to each prints
//   first resync       resync() right after the full apply: one dump per kind, every entry new to
//                      the dump caches (all decoded), the mirror rebuilt, diff, nothing to send
//   steady resync      the resync after that (median of 3): the periodic no-op, entries already cached
//   one peer changed   update() of one peer that moved to another node IP (median of CHANGES)
//   one peer removed   update() of one peer gone (median of CHANGES)
//   idle CPU           a running Network (monitor polling, resync timer) over IDLE_S seconds, largest N
// Targets (issue 7): full apply ≤ 0.5× the iproute2 file; no-op (first and steady) at 5,000 peers < 50 ms; one changed
// peer < 5 ms at 5,000 peers and about the same at 100; idle < 1 % of one core.
//
//   pnpm bench routes                          # defaults below; writes its section of bench/RESULTS.md
//   PEERS=100 REPEAT=1 IDLE_S=2 pnpm bench routes   # a quick check (prints only)
//
// Knobs: PEERS (comma list, 100,1000,5000), MODES (host-gw,vxlan), REPEAT (3 fresh namespaces per
// size and mode), CHANGES (21), IDLE_S (10).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rtnl } from '@netboot/core';
import { tempNetns, type TempNetns } from '@netboot/core/testing';
import { discoverNode, hostGw, Network, NEXTHOP_IDS, NEXTHOP_PEERS, Reconciler, vxlan, type LocalNode, type Mode, type Peer } from '@netboot/routes';
import { intEnv, machineFacts, median, settle, writeResultsSection } from './lib/common.js';

const PEERS = (process.env.PEERS ?? '100,1000,5000').split(',').map(Number);
const MODES = (process.env.MODES ?? 'host-gw,vxlan').split(',');
const REPEAT = intEnv('REPEAT', 3);
const CHANGES = intEnv('CHANGES', 21);
const IDLE_S = intEnv('IDLE_S', 10);
const PROTO = 78;

if (PEERS.some((n) => !Number.isInteger(n) || n < 2 || n > 60_000)) throw new Error(`PEERS must be integers 2..60000, got ${process.env.PEERS}`);
const work = mkdtempSync(join(tmpdir(), 'nbt-bench-'));

const modes: Record<string, () => Mode> = { 'host-gw': hostGw, vxlan };
const nodeIP = (i: number): string => `172.16.${i >> 8}.${i & 255}`;
const podCIDR = (i: number): string => `10.${1 + (i >> 8)}.${i & 255}.0/24`;
const peer = (i: number, ip = nodeIP(i)): Peer => ({ name: `n${i}`, nodeIPs: [ip], podCIDRs: [podCIDR(i)] });
const self: Peer = { name: 'self', nodeIPs: ['172.16.0.1'], podCIDRs: ['10.0.0.0/24'] };

/**
 * ms this thread has waited for a core (/proc/thread-self/schedstat's run_delay: exact, as it grows only
 * while the thread is off-CPU; its CPU column there is updated at ticks and switches only, too coarse here).
 */
function waitedMs(): number {
  return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[1]) / 1e6;
}

function ms(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function run(cmd: string, args: string[]): string {
  const res = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (res.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${res.stderr || res.error}`);
  return res.stdout;
}

/** The node's uplink in a fresh namespace: veth0 with 172.16.0.1/16. */
function uplink(rtnl: Rtnl): LocalNode {
  rtnl.link.set('lo', { up: true });
  rtnl.link.add({ kind: 'veth', name: 'veth0', up: true, peer: { name: 'veth1', up: true } });
  rtnl.addr.add('veth0', '172.16.0.1/16');
  return discoverNode(rtnl, self);
}

/** A namespace with the node's uplink and an Rtnl in it; both are gone afterwards. */
function withNode<T>(fn: (ns: TempNetns, rtnl: Rtnl, node: LocalNode) => T): T {
  const ns = tempNetns('nbt-bench');
  try {
    using rtnl = Rtnl.open({ netns: ns });
    return fn(ns, rtnl, uplink(rtnl));
  } finally {
    ns.delete();
  }
}

function count(ns: TempNetns): number {
  const routes = JSON.parse(run('ip', ['-n', ns.name, '-j', 'route', 'show', 'proto', String(PROTO)]) || '[]').length;
  return routes;
}

/** `route replace … via GW` lines (plain), or one nexthop per gateway and routes naming it (nexthop). */
function routeLines(routes: ReturnType<Mode['desired']>['routes'], shape: 'plain' | 'nexthop'): string[] {
  if (shape === 'plain') return routes.map((r) => `route replace ${r.dst} via ${r.gateway} dev ${r.dev}${r.onlink ? ' onlink' : ''} proto ${PROTO}`);
  const ids = new Map<string, number>();
  const nexthops: string[] = [];
  const lines = routes.map((r) => {
    const via = `via ${r.gateway} dev ${r.dev}${r.onlink ? ' onlink' : ''}`;
    let id = ids.get(via);
    if (id === undefined) {
      ids.set(via, (id = NEXTHOP_IDS.first + ids.size));
      nexthops.push(`nexthop replace id ${id} ${via} proto ${PROTO}`);
    }
    return `route replace ${r.dst} nhid ${id} proto ${PROTO}`;
  });
  return [...nexthops, ...lines];
}

/** The iproute2 file for the same full apply: ms for `bridge -batch` (FDB) + `ip -batch` (neighbours, [nexthops,] routes). */
function iproute2(ns: TempNetns, rtnl: Rtnl, node: LocalNode, mode: Mode, peers: Peer[], shape: 'plain' | 'nexthop'): number {
  const d = mode.desired(node, peers);
  if (d.device?.kind === 'vxlan') {
    const v = d.device;
    run('ip', [
      '-n',
      ns.name,
      'link',
      'add',
      v.name,
      'mtu',
      String(v.mtu),
      'address',
      v.address,
      'type',
      'vxlan',
      'id',
      String(v.vni),
      'dstport',
      String(v.port),
      'local',
      v.local,
      'dev',
      String(v.dev),
      'nolearning',
    ]);
    rtnl.link.set(v.name, { up: true });
  }
  const ipLines = [...d.neighbours.map((n) => `neigh replace ${n.dst} lladdr ${n.lladdr} dev ${n.dev} nud permanent`), ...routeLines(d.routes, shape)];
  const fdbLines = d.fdb.map((f) => `fdb replace ${f.lladdr} dev ${f.dev} dst ${f.dst} self permanent`);
  writeFileSync(join(work, 'ip'), `${ipLines.join('\n')}\n`);
  writeFileSync(join(work, 'bridge'), `${fdbLines.join('\n')}\n`);
  return ms(() => {
    if (fdbLines.length > 0) run('bridge', ['-n', ns.name, '-batch', join(work, 'bridge')]);
    run('ip', ['-n', ns.name, '-batch', join(work, 'ip')]);
  });
}

interface Row {
  mode: string;
  n: number;
  /** Whether netboot's full apply went through nexthop objects. */
  nexthops: boolean;
  full: number[];
  /** How long the full apply's main thread waited for a core (V8's compiler and GC threads take the other), ms. */
  fullWait: number[];
  ref: number[];
  refNh: number[];
  first: number[];
  steady: number[];
  change: number[];
  remove: number[];
}
const rows: Row[] = [];
let idle: { mode: string; n: number; pct: number; seconds: number } | undefined;

function bench(modeName: string, n: number): void {
  const row: Row = {
    mode: modeName,
    n,
    nexthops: false,
    full: [],
    fullWait: [],
    ref: [],
    refNh: [],
    first: [],
    steady: [],
    change: [],
    remove: [],
  };
  const peers = Array.from({ length: n }, (_, i) => peer(i + 2));
  for (let r = 0; r < REPEAT; r++) {
    const ours = (): void =>
      withNode((ns, rtnl, node) => {
        const mode = modes[modeName]!();
        // A warm JIT, as a long-running agent has: the code of the shape the measured apply takes.
        const warm = new Reconciler(rtnl, { nexthops: n >= NEXTHOP_PEERS ? 'always' : 'never' });
        warm.full(mode.desired(node, peers.slice(0, 50)));
        warm.full(mode.desired(node, []));
        const rec = new Reconciler(rtnl);
        let report!: ReturnType<Reconciler['full']>;
        const waited = waitedMs();
        row.full.push(ms(() => (report = rec.full(mode.desired(node, peers)))));
        row.fullWait.push(waitedMs() - waited);
        row.nexthops = rec.usesNexthops();
        if (report.failures.length > 0 || count(ns) !== n) throw new Error(`full apply: ${report.failures[0]?.error.message ?? `${count(ns)} routes`}`);
        row.first.push(ms(() => (report = rec.resync())));
        if (report.operations !== 0) throw new Error(`first resync did ${report.operations} operations`);
        const steady: number[] = [];
        for (let s = 0; s < 3; s++) steady.push(ms(() => (report = rec.resync())));
        if (report.operations !== 0) throw new Error(`steady resync did ${report.operations} operations`);
        row.steady.push(median(steady));
        const moving = peers[n >> 1]!;
        for (let c = 0; c < CHANGES; c++) {
          const moved = c % 2 === 0 ? peer(n + 100 + c, nodeIP(n + 100 + c)) : moving;
          const state = mode.forPeer(node, { ...moved, name: moving.name, podCIDRs: moving.podCIDRs });
          row.change.push(ms(() => (report = rec.update(new Map([[moving.name, state]])))));
          if (report.operations === 0 || report.failures.length > 0) throw new Error('one changed peer: nothing done');
        }
        for (let c = 0; c < CHANGES; c++) {
          const gone = peers[c]!;
          row.remove.push(ms(() => (report = rec.update(new Map([[gone.name, undefined]])))));
          if (report.operations === 0) throw new Error('one removed peer: nothing done');
        }
      });
    const theirs = (shape: 'plain' | 'nexthop', into: number[]) => (): void =>
      withNode((ns, rtnl, node) => {
        into.push(iproute2(ns, rtnl, node, modes[modeName]!(), peers, shape));
        if (count(ns) !== n) throw new Error(`ip -batch (${shape}): ${count(ns)} routes`);
      });
    const sides = [ours, theirs('plain', row.ref), theirs('nexthop', row.refNh)];
    for (const side of r % 2 === 0 ? sides : sides.reverse()) {
      settle();
      side();
    }
  }
  rows.push(row);
  process.stderr.write(`  … ${modeName} ${n} peers done\n`);
}

/** CPU of this process while a Network with `n` peers sits idle for IDLE_S seconds, in % of one core. */
async function benchIdle(modeName: string, n: number): Promise<void> {
  const ns = tempNetns('nbt-bench');
  try {
    using rtnl = Rtnl.open({ netns: ns });
    const node = uplink(rtnl);
    let passes = 0;
    const net = new Network({
      rtnl,
      netns: ns,
      mode: modes[modeName]!(),
      node,
      peers: Array.from({ length: n }, (_, i) => peer(i + 2)),
      onReport: () => void passes++,
    });
    const abort = new AbortController();
    const done = net.run(abort.signal);
    while (passes === 0) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 1000)); // the echoes of the first pass
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, IDLE_S * 1000));
    const c1 = process.cpuUsage(c0);
    const wall = performance.now() - t0;
    abort.abort();
    await done;
    idle = { mode: modeName, n, pct: ((c1.user + c1.system) / 1000 / wall) * 100, seconds: IDLE_S };
  } finally {
    ns.delete();
  }
}

/** The `###` subsections after the table in the routes section of bench/RESULTS.md (the record of changes), kept across runs. */
function history(): string {
  const results = readFileSync(join(import.meta.dirname, 'RESULTS.md'), 'utf8');
  const section = results.match(/<!-- routes:start -->([\s\S]*?)<!-- routes:end -->/)?.[1] ?? '';
  const at = section.indexOf('\n### ');
  return at < 0 ? '' : `\n${section.slice(at).trim()}\n`;
}

const fmt = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

function table(): string {
  const lines = [
    '| mode | peers | shape | full apply ms | first ns · rest ms | of it waiting for a core ms | `ip -batch` plain ms | ratio (≤ 0.5×) | `ip -batch` nexthops ms | ratio | first resync ms | steady resync ms | one changed ms | one removed ms |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    const ratio = median(r.full) / median(r.ref);
    const ratioNh = median(r.full) / median(r.refNh);
    lines.push(
      `| ${r.mode} | ${r.n} | ${r.nexthops ? 'nexthops' : 'plain'} | ${fmt(median(r.full))} | ${fmt(r.full[0]!)} · ${fmt(median(r.full.slice(1)))} | ${fmt(median(r.fullWait))} | ${fmt(median(r.ref))} | ${ratio.toFixed(2)}×${ratio <= 0.5 ? '' : ' **NO**'} | ${fmt(median(r.refNh))} | ${ratioNh.toFixed(2)}× | ${fmt(median(r.first))} | ${fmt(median(r.steady))} | ${fmt(median(r.change))} | ${fmt(median(r.remove))} |`,
    );
  }
  if (idle) lines.push('', `Idle \`Network\` (${idle.mode}, ${idle.n} peers, ${idle.seconds} s): ${idle.pct.toFixed(2)} % of one core.`);
  return lines.join('\n');
}

try {
  process.stdout.write(`routes bench: PEERS=${PEERS.join(',')} MODES=${MODES.join(',')} REPEAT=${REPEAT} CHANGES=${CHANGES} IDLE_S=${IDLE_S}\n`);
  for (const m of MODES) {
    if (!(m in modes)) throw new Error(`MODES: unknown mode ${m} (host-gw, vxlan)`);
    for (const n of PEERS) bench(m, n);
  }
  await benchIdle(MODES.includes('vxlan') ? 'vxlan' : MODES[0]!, Math.max(...PEERS));
  const facts = `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${machineFacts()}`;
  process.stdout.write(`\n${facts}\nMedians of ${REPEAT} runs (changes: of ${REPEAT}×${CHANGES})\n\n${table()}\n`);
  if (['PEERS', 'MODES', 'REPEAT', 'CHANGES', 'IDLE_S'].some((k) => process.env[k])) {
    process.stdout.write('\n(not written to bench/RESULTS.md: only a run with the default knobs is)\n');
  } else {
    writeResultsSection(
      'routes',
      `
## routes (\`bench/routes.ts\`)

Command: \`pnpm bench routes\` — ${facts}. Medians of ${REPEAT} fresh namespaces per row (full apply:
also the row's first namespace, colder code, and the median of the rest; and how long of it the main
thread waited for a core, from /proc/thread-self/schedstat: V8 compiles and collects on other threads,
which take the second core from it while code is still cold); one
changed / removed peer: medians of ${REPEAT}×${CHANGES} updates after a full apply. No-op reconcile
(target < 50 ms at 5,000 peers), two columns: the first resync right after the full apply (every
entry new to the dump caches: decoded, the mirror rebuilt) and a steady one (median of the 3 after
it: what the 30 s resync timer costs). The iproute2 side is
\`bridge -batch\` (FDB, vxlan) + \`ip -batch\` (neighbours, routes) as whole processes, same entries:
plain \`via\` routes (what flannel and Calico program; the target's reference), and the nexthop-object
shape (\`nexthop replace id N via …\` + \`route replace … nhid N\`). netboot writes plain routes below
${NEXTHOP_PEERS} peers and the nexthop shape from there on (the shape column; see packages/routes/src/nexthops.ts).

${table()}
${history()}`,
    );
    process.stdout.write('\nwrote the routes section of bench/RESULTS.md\n');
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
