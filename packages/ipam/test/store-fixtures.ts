// Shared by the store tests: reading a data directory, the real host-local binary, and child
// processes running a TypeScript worker from source (the way the test runner runs tests).
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const HOST_LOCAL = '/usr/lib/cni/host-local';
export const WORKERS = join(import.meta.dirname, 'workers');

/** Names in a directory that are reservation files (what host-local would treat as an IP), sorted. */
export function reservationFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => n !== 'lock' && !n.startsWith('last_reserved_ip.') && !n.startsWith('.'))
    .sort();
}

/** `{ ip → contents }` for every reservation file. */
export function readReservations(dir: string): Map<string, string> {
  return new Map(reservationFiles(dir).map((n) => [n, readFileSync(join(dir, n), 'utf8')]));
}

export interface HostLocalCall {
  command: 'ADD' | 'DEL' | 'CHECK';
  dataDir: string;
  network: string;
  ranges: unknown[][];
  containerId: string;
  ifname?: string;
  ips?: string[];
}

/** Runs the reference host-local IPAM plugin; returns its exit status and parsed stdout. */
export function hostLocal(call: HostLocalCall): { ok: boolean; result: any; stderr: string } {
  const conf = {
    cniVersion: '1.0.0',
    name: call.network,
    type: 'bridge',
    ...(call.ips ? { args: { cni: { ips: call.ips } } } : {}),
    ipam: { type: 'host-local', dataDir: call.dataDir, ranges: call.ranges },
  };
  const res = spawnSync(HOST_LOCAL, [], {
    input: JSON.stringify(conf),
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      CNI_COMMAND: call.command,
      CNI_CONTAINERID: call.containerId,
      CNI_NETNS: '/dev/null',
      CNI_IFNAME: call.ifname ?? 'eth0',
      CNI_PATH: '/usr/lib/cni',
    },
  });
  const out = res.stdout.trim();
  return { ok: res.status === 0, result: out ? JSON.parse(out) : undefined, stderr: res.stderr };
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Worker {
  /** Resolves when the child has exited, with everything it printed. */
  done: Promise<ChildResult>;
  /** Writes one line to the child's stdin (the workers wait for `go` before they start). */
  send(line: string): void;
  kill(): void;
}

/** Starts `node --conditions=source --import tsx workers/<worker> ...args`; `onLine` sees each stdout line as it comes. */
export function startWorker(worker: string, args: string[], onLine?: (line: string) => void): Worker {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', join(WORKERS, worker), ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.on('error', () => undefined); // a killed child closes its stdin under us
  let stdout = '';
  let stderr = '';
  let pending = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      onLine?.(line);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const done = new Promise<ChildResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { done, send: (line) => child.stdin.write(`${line}\n`), kill: () => child.kill('SIGKILL') };
}

/** Starts `n` workers, waits until each printed `ready`, then tells them all `go` at once; returns their results. */
export async function runTogether(worker: string, argsFor: (i: number) => string[], n: number): Promise<ChildResult[]> {
  let readyCount = 0;
  let allReady!: () => void;
  const ready = new Promise<void>((r) => (allReady = r));
  const workers = Array.from({ length: n }, (_, i) =>
    startWorker(worker, argsFor(i), (line) => {
      if (line === 'ready' && ++readyCount === n) allReady();
    }),
  );
  const early = Promise.all(workers.map((w) => w.done)).then((results) => {
    throw new Error(`workers exited before all were ready:\n${results.map((r) => r.stderr).join('\n')}`);
  });
  await Promise.race([ready, early]);
  early.catch(() => undefined);
  for (const w of workers) w.send('go');
  const results = await Promise.all(workers.map((w) => w.done));
  const failed = results.find((r) => r.code !== 0);
  if (failed) throw new Error(`a ${worker} worker failed (exit ${failed.code ?? failed.signal}):\n${failed.stderr}`);
  return results;
}

/** The JSON a worker printed on its last stdout line. */
export function lastJson<T>(r: ChildResult): T {
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as T;
}
