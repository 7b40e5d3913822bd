// Helpers every benchmark shares: knobs from the environment, medians, machine facts, and writing
// one's own section of bench/RESULTS.md. (This folder holds no benchmark: scripts/bench.mjs runs
// only bench/*.ts.)
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join } from 'node:path';

const RESULTS_FILE = join(import.meta.dirname, '..', 'RESULTS.md');

/** A positive integer knob from the environment, or `fallback`; a bad value stops the run. */
export function intEnv(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(v)}`);
  return n;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** "2× AMD EPYC, Linux 6.18…, Node v20…, iproute2-6.1.0" */
export function machineFacts(): string {
  const ip = spawnSync('ip', ['-V'], { encoding: 'utf8' }).stdout?.match(/iproute2-[\w.]+/)?.[0] ?? 'iproute2 ?';
  return `${cpus().length}× ${cpus()[0]?.model.trim() ?? 'cpu'}, Linux ${release()}, Node ${process.version}, ${ip}`;
}

/**
 * Replaces the text between `<!-- name:start -->` and `<!-- name:end -->` in bench/RESULTS.md (or
 * appends the section), leaving every other benchmark's section alone.
 */
export function writeResultsSection(name: string, body: string): void {
  const section = `<!-- ${name}:start -->\n${body.trim()}\n<!-- ${name}:end -->`;
  const old = existsSync(RESULTS_FILE) ? readFileSync(RESULTS_FILE, 'utf8') : '# Benchmark results\n';
  const marked = new RegExp(`<!-- ${name}:start -->[\\s\\S]*?<!-- ${name}:end -->`);
  writeFileSync(RESULTS_FILE, marked.test(old) ? old.replace(marked, () => section) : `${old.trimEnd()}\n\n${section}\n`);
}

/**
 * Waits (up to `maxMs`) until the CPUs have been ≥ 90% idle (not waiting on I/O) for 200 ms. A deleted namespace or veth
 * keeps the kernel busy for a while afterwards (netns cleanup and RCU run in workqueues), and whoever
 * is timed next would pay for it: measured here, the side that went first after a teardown was
 * 1.2–2× slower whichever tool it was.
 */
export function settle(maxMs = 5000): void {
  const busyIdle = (): [number, number] => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3]!; // iowait (f[4]) counts as busy: a writeback in flight is not a settled disk
    return [f.reduce((a, b) => a + b, 0) - idle, idle];
  };
  const sleep = new Int32Array(new SharedArrayBuffer(4));
  const until = Date.now() + maxMs;
  while (Date.now() < until) {
    const [b0, i0] = busyIdle();
    Atomics.wait(sleep, 0, 0, 200);
    const [b1, i1] = busyIdle();
    if ((i1 - i0) / Math.max(1, b1 - b0 + i1 - i0) >= 0.9) return;
  }
}
