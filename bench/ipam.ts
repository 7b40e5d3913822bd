// IPAM cost, in one run:
//   (a) every address of a /16 allocated then released with the in-memory RangeAllocator: µs/op,
//       allocator state size, peak RSS;
//   (b) the same with LocalIpam on a host-local directory (real files, flock; with and without
//       fsync): µs per pod (allocate + release);
//   (c) the reference host-local binary for a sample of ADD+DEL, process start included, against
//       LocalIpam's in-process cost (plus a bare `node -e 0` start, what a Node CNI process adds);
//   (d) /8 vs /24 per-op cost of the in-memory allocator under steady churn (O(1) amortised?).
// Writes its section of bench/RESULTS.md between the `ipam` markers and leaves the rest alone.
//
//   pnpm bench ipam
//   FILE_PODS=5000 HOSTLOCAL_PODS=100 pnpm bench ipam
//
// Knobs: FILE_PODS (all of the /16), HOSTLOCAL_PODS (200), CHURN_OPS (200000).
// The file store runs twice: durable (fsync before link, the default) and without fsync, because fsync
// is most of the cost and varies with whatever else the disk is doing.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { RangeAllocator } from '@netboot/ipam';
import { FileStore, LocalIpam } from '@netboot/ipam/file';
import { intEnv, machineFacts, settle, writeResultsSection } from './lib/common.js';

const SLASH16 = '10.128.0.0/16';
const FILE_PODS = intEnv('FILE_PODS', 65_533);
const HOSTLOCAL_PODS = intEnv('HOSTLOCAL_PODS', 200);
const CHURN_OPS = intEnv('CHURN_OPS', 200_000);
const HOST_LOCAL = '/usr/lib/cni/host-local';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const now = () => performance.now();
const us = (ms: number, n: number) => (ms * 1000) / n;
const fmt = (x: number, digits = 2) => x.toFixed(digits);
const peakRssMiB = () => process.resourceUsage().maxRSS / 1024;
const lines: string[] = [];
const say = (line: string) => {
  console.log(line);
  lines.push(line);
};

/** Heap + ArrayBuffer bytes in use, after a forced GC. */
function liveBytes(): number {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

// (a) in-memory, a whole /16
function memorySlash16(): void {
  const base = liveBytes();
  const allocator = new RangeAllocator({ subnet: SLASH16 });
  const size = Number(allocator.size());
  let t0 = now();
  for (let i = 0; i < size; i++) allocator.allocate();
  const allocMs = now() - t0;
  // Everything the full allocator holds (bitmap pages and cursor; no owners were given) over the
  // heap as it was before it existed.
  const stateKiB = (liveBytes() - base) / 1024;
  const ips = [...allocator.entries()].map((e) => e.ip);
  t0 = now();
  for (const ip of ips) allocator.release(ip);
  const releaseMs = now() - t0;
  say(
    `| in-memory RangeAllocator, ${SLASH16} | ${size} | ${fmt(us(allocMs, size))} | ${fmt(us(releaseMs, size))} | ${fmt(us(allocMs + releaseMs, size))} | state ${fmt(stateKiB, 1)} KiB when full (target < 1024 KiB) |`,
  );
}

// (b) LocalIpam on real files
async function fileSlash16(durable: boolean): Promise<number> {
  const data = mkdtempSync(join(tmpdir(), 'nbt-bench-ipam-'));
  try {
    const ipam = new LocalIpam(new FileStore(data, 'bench', { durable }), [[{ subnet: SLASH16 }]], { node: 'bench' });
    let t0 = now();
    for (let i = 0; i < FILE_PODS; i++) await ipam.allocate({ containerId: `pod-${i}`, ifname: 'eth0' });
    const allocMs = now() - t0;
    t0 = now();
    for (let i = 0; i < FILE_PODS; i++) await ipam.release({ containerId: `pod-${i}`, ifname: 'eth0' });
    const releaseMs = now() - t0;
    const perPod = us(allocMs + releaseMs, FILE_PODS);
    say(
      `| LocalIpam + FileStore (${durable ? 'fsync' : 'no fsync'}), ${SLASH16} | ${FILE_PODS} | ${fmt(us(allocMs, FILE_PODS))} | ${fmt(us(releaseMs, FILE_PODS))} | ${fmt(perPod)} | target ≤ 1000 µs/pod: ${perPod <= 1000 ? 'met' : 'MISSED'} |`,
    );
    return perPod;
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
}

// (c) host-local, a process per call, as a runtime runs it
function hostLocalSample(): number | undefined {
  if (!existsSync(HOST_LOCAL)) {
    say(`| host-local | skipped: ${HOST_LOCAL} not installed | | | | |`);
    return undefined;
  }
  const data = mkdtempSync(join(tmpdir(), 'nbt-bench-hl-'));
  const conf = JSON.stringify({
    cniVersion: '1.0.0',
    name: 'bench',
    type: 'bridge',
    ipam: { type: 'host-local', dataDir: data, ranges: [[{ subnet: SLASH16 }]] },
  });
  // A clean environment, as a container runtime passes it (no NODE_EXTRA_CA_CERTS or the like).
  const call = (command: string, id: string) => {
    const r = spawnSync(HOST_LOCAL, [], {
      input: conf,
      env: { CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: '/dev/null', CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' },
    });
    if (r.status !== 0) throw new Error(`host-local ${command} ${id}: ${r.stdout.toString()}`);
  };
  try {
    let t0 = now();
    for (let i = 0; i < HOSTLOCAL_PODS; i++) call('ADD', `pod-${i}`);
    const addMs = now() - t0;
    t0 = now();
    for (let i = 0; i < HOSTLOCAL_PODS; i++) call('DEL', `pod-${i}`);
    const delMs = now() - t0;
    const perPod = us(addMs + delMs, HOSTLOCAL_PODS);
    say(
      `| host-local binary (process per call), ${SLASH16} | ${HOSTLOCAL_PODS} | ${fmt(us(addMs, HOSTLOCAL_PODS))} | ${fmt(us(delMs, HOSTLOCAL_PODS))} | ${fmt(perPod)} | process start included |`,
    );
    return perPod;
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
}

function nodeStartUs(): number {
  const runs = 20;
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  const t0 = now();
  for (let i = 0; i < runs; i++) spawnSync(process.execPath, ['-e', '0'], { env });
  return us(now() - t0, runs);
}

// (d) per-op cost under churn: 128 live addresses, allocate one + release the oldest, round-robin
function churn(cidr: string): number {
  const allocator = new RangeAllocator({ subnet: cidr });
  const live: string[] = [];
  for (let i = 0; i < 128; i++) live.push(allocator.allocate().ip);
  const t0 = now();
  for (let i = 0; i < CHURN_OPS; i++) {
    live.push(allocator.allocate().ip);
    allocator.release(live.shift()!);
  }
  return us(now() - t0, CHURN_OPS);
}

function writeResults(): void {
  writeResultsSection(
    'ipam',
    [
      '## IPAM (`bench/ipam.ts`)',
      '',
      `Command: \`pnpm bench ipam\` — ${new Date().toISOString().slice(0, 10)}, ${machineFacts()}, data dir on ${tmpdir()}.`,
      '',
      ...lines,
    ].join('\n'),
  );
  console.log('\nwrote the ipam section of bench/RESULTS.md');
}

say('| what | pods | allocate µs/op | release µs/op | µs per pod | note |');
say('|---|---|---|---|---|---|');
// Each phase waits for idle CPUs first: removing the previous phase's 65k files keeps the disk and
// the kernel busy for seconds, and the next phase would pay for it.
memorySlash16();
settle();
const filePerPod = await fileSlash16(true);
settle();
await fileSlash16(false);
settle();
const hostLocalPerPod = hostLocalSample();
const nodeStart = nodeStartUs();
say('');
if (hostLocalPerPod !== undefined) {
  say(
    `- host-local / LocalIpam per pod: **${fmt(hostLocalPerPod / filePerPod, 1)}×** (LocalIpam in-process; a Node CNI process also pays its start, \`node -e 0\` = ${fmt(nodeStart / 1000, 1)} ms here: ${fmt(hostLocalPerPod / (filePerPod + nodeStart), 2)}× with it).`,
  );
}
const c24 = churn('10.0.0.0/24');
const c8 = churn('10.0.0.0/8');
say(
  `- In-memory churn (128 live, allocate + release, ${CHURN_OPS} ops): /24 ${fmt(c24, 3)} µs/op, /8 ${fmt(c8, 3)} µs/op, ratio /8 ÷ /24 = ${fmt(c8 / c24, 2)} (O(1) amortised if ≈ 1).`,
);
say(`- Peak RSS of the whole run: ${fmt(peakRssMiB(), 1)} MiB.`);
writeResults();
