// A real, throwaway etcd for tests: Debian's `etcd` on 127.0.0.1 with free client and peer ports and a
// temporary data dir, gone again after stop() — or when the test process exits without calling it.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetbootError } from '../base/errors.js';

export interface EtcdFixture {
  /** Client URL, e.g. `http://127.0.0.1:40123`. */
  endpoint: string;
  dataDir: string;
  /** Kills etcd and removes its data dir; safe to call twice. */
  stop(): Promise<void>;
}

export interface StartEtcdOptions {
  /** `etcd` binary (default: the one on PATH). */
  bin?: string;
  /** How long to wait for /health to say true (default 15 s). */
  timeoutMs?: number;
  /** Where the temp data dir goes (default /dev/shm if present: etcd fsyncs every commit, tests need no disk). */
  parentDir?: string;
}

/** A TCP port free on 127.0.0.1 right now (another process may still take it before you bind). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function healthy(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(500) });
    return res.ok && ((await res.json()) as { health?: string }).health === 'true';
  } catch {
    return false;
  }
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

// One attempt; a port taken between freePort() and etcd's bind() makes etcd exit, and the caller retries.
async function launch(bin: string, timeoutMs: number, parentDir: string): Promise<EtcdFixture | 'port-race'> {
  const dataDir = mkdtempSync(join(parentDir, 'nbt-etcd-'));
  const clientPort = await freePort();
  let peerPort = await freePort();
  while (peerPort === clientPort) peerPort = await freePort();
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const log = openSync(join(dataDir, 'etcd.log'), 'w');
  const child = spawn(
    bin,
    // biome-ignore format: one flag and its value per pair reads better than one word per line
    [
      '--name', 'nbt', '--data-dir', join(dataDir, 'data'),
      '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
      '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `nbt=${peer}`, '--initial-cluster-state', 'new',
      '--initial-cluster-token', `nbt-${process.pid}-${clientPort}`,
      '--logger', 'zap', '--log-outputs', 'stderr',
    ],
    { stdio: ['ignore', log, log] },
  );
  closeSync(log);
  const killNow = () => {
    if (!exited(child)) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  };
  // A test that crashes or calls process.exit() must not leave an etcd behind.
  process.on('exit', killNow);

  const stop = async (): Promise<void> => {
    process.off('exit', killNow);
    if (!exited(child)) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await gone;
      clearTimeout(timer);
    }
    rmSync(dataDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await healthy(endpoint)) return { endpoint, dataDir, stop };
    if (exited(child)) {
      const text = readFileSync(join(dataDir, 'etcd.log'), 'utf8');
      await stop();
      if (/address already in use/.test(text)) return 'port-race';
      throw new EtcdStartError(`etcd exited during start (code ${child.exitCode}); log tail:\n${text.split('\n').slice(-15).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const text = readFileSync(join(dataDir, 'etcd.log'), 'utf8');
  await stop();
  throw new EtcdStartError(`etcd at ${endpoint} not healthy after ${timeoutMs} ms; log tail:\n${text.split('\n').slice(-15).join('\n')}`);
}

/** The test etcd did not come up (exited, never healthy, no free port): the store is unavailable. */
export class EtcdStartError extends NetbootError {
  readonly kind = 'unavailable' as const;
}

/** Starts a single-member etcd on loopback and resolves once it reports healthy. */
export async function startEtcd(opts: StartEtcdOptions = {}): Promise<EtcdFixture> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const started = await launch(opts.bin ?? 'etcd', opts.timeoutMs ?? 15_000, opts.parentDir ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir()));
    if (started !== 'port-race') return started;
  }
  throw new EtcdStartError('etcd could not bind a free port after 3 attempts');
}
