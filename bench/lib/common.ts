// Helpers every benchmark shares: knobs from the environment, medians, machine facts, and writing
// one's own section of bench/RESULTS.md. (This folder holds no benchmark: scripts/bench.mjs runs
// only bench/*.ts.)
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join } from 'node:path';

export const RESULTS_FILE = join(import.meta.dirname, '..', 'RESULTS.md');

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
