// A three-member etcd on loopback for tests that lose a member or the leader (Debian's etcd, free
// ports, data under /dev/shm or the temp dir), every member stopped by its PID.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@netboot/core/testing';

export interface EtcdCluster {
  endpoints: string[];
  /** The client URL of the current leader (`etcdctl endpoint status` on the live members). */
  leader(): string;
  /** SIGKILLs the member serving `endpoint`. */
  kill(endpoint: string): Promise<void>;
  stop(): Promise<void>;
}

const etcdctl = (endpoints: string[], ...args: string[]) =>
  execFileSync('etcdctl', ['--endpoints', endpoints.join(','), '--dial-timeout', '1s', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

export async function startEtcdCluster(): Promise<EtcdCluster> {
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'nbt-etcd3-'));
  const ports: [number, number][] = [];
  for (let i = 0; i < 3; i++) ports.push([await freePort(), await freePort()]);
  const initial = ports.map(([, peer], i) => `m${i}=http://127.0.0.1:${peer}`).join(',');
  const endpoints = ports.map(([client]) => `http://127.0.0.1:${client}`);
  const members: ChildProcess[] = ports.map(([client, peer], i) => {
    const log = openSync(join(dir, `m${i}.log`), 'w');
    // biome-ignore format: flag/value pairs
    const child = spawn('etcd', ['--name', `m${i}`, '--data-dir', join(dir, `m${i}`),
      '--listen-client-urls', `http://127.0.0.1:${client}`, '--advertise-client-urls', `http://127.0.0.1:${client}`,
      '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
      '--initial-cluster', initial, '--initial-cluster-state', 'new', '--initial-cluster-token', `nbt-${process.pid}-${ports[0]![0]}`],
      { stdio: ['ignore', log, log] });
    closeSync(log);
    return child;
  });
  const killAll = () => {
    for (const m of members) if (m.exitCode === null && m.signalCode === null) m.kill('SIGKILL');
  };
  process.on('exit', killAll);
  const stop = async () => {
    process.off('exit', killAll);
    await Promise.all(
      members.map(async (m) => {
        if (m.exitCode !== null || m.signalCode !== null) return;
        const gone = new Promise((r) => m.once('exit', r));
        m.kill('SIGKILL');
        await gone;
      }),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  const live = () => endpoints.filter((_, i) => members[i]!.exitCode === null && members[i]!.signalCode === null);
  const leader = () => {
    const status = JSON.parse(etcdctl(live(), 'endpoint', 'status', '-w', 'json')) as {
      Endpoint: string;
      Status: { header: { member_id: number }; leader: number };
    }[];
    const hit = status.find((s) => s.Status.header.member_id === s.Status.leader);
    if (hit === undefined) throw new Error('no etcd leader');
    return hit.Endpoint;
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      etcdctl(endpoints, 'endpoint', 'health');
      leader();
      break;
    } catch (e) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`three-member etcd not healthy after 30 s: ${(e as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return {
    endpoints,
    leader,
    stop,
    kill: async (endpoint) => {
      const m = members[endpoints.indexOf(endpoint)]!;
      if (m.exitCode !== null || m.signalCode !== null) return;
      const gone = new Promise((r) => m.once('exit', r));
      m.kill('SIGKILL');
      await gone;
    },
  };
}
