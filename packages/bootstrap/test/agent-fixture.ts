// Real `netboot agent` processes in throwaway nbt-* namespaces: an underlay namespace with a bridge
// (192.168.1.1/24 on it, the nodes' default gateway), an outside host (192.168.1.100), one namespace per node (eth0 192.168.1.1N/24,
// a `cni0` bridge holding 10.244.N.1/24 as the pods' gateway would), and the agent run inside with
// `ip netns exec`, as a node's init system would run it. Logs are parsed as the JSON lines they are.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deleteNetns, NetnsNotFoundError } from '@netboot/core';
import { ipJson, sh, type TempNetns } from '@netboot/core/testing';
import { startLabEtcd } from '../src/lab/etcd.js';
import { isRunning, stopProcess } from '../src/lab/processes.js';
import type { LabProcess } from '../src/lab/state.js';
import { planLab } from '../src/lab/plan.js';
import { buildNode, buildOutside, buildUnderlay } from '../src/lab/topology.js';

const ROOT = new URL('../../..', import.meta.url).pathname;
const CLI = join(ROOT, 'packages/bootstrap/src/cli/main.ts');

interface LabNode {
  n: number;
  name: string;
  ns: TempNetns;
  ip: string;
  podGateway: string;
}

export interface Lab {
  underlay: TempNetns;
  /** A host outside the cluster (192.168.1.100, no route to any pod CIDR): reachable from pods only through NAT. */
  outside: TempNetns;
  nodes: LabNode[];
  dir: string;
  close(): void;
}

/**
 * `count` nodes on one underlay subnet, wired as `netboot lab up` wires them (src/lab/topology.ts) under
 * an nbt-<random> name, each node with a `cni0` bridge holding 10.244.N.1/24.
 */
export function makeLab(count: number): Lab {
  const made: TempNetns[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'nbt-agent-'));
  const close = () => {
    for (const ns of made.reverse()) ns.delete();
    rmSync(dir, { recursive: true, force: true });
  };
  const plan = planLab({ name: `nbt-${randomBytes(4).toString('hex')}`, nodes: count, pods: 0, mode: 'host-gw', podCIDR: '10.244.0.0/16', datastore: 'file' });
  const record = (name: string) => made.push(ownedNetns(name));
  try {
    buildUnderlay(plan, record);
    buildOutside(plan, record);
    const nodes = plan.nodes.map((node, i): LabNode => {
      buildNode(plan, node, record);
      const ns = made.at(-1)!;
      const n = i + 1;
      sh(ns, 'ip', 'link', 'add', 'cni0', 'up', 'type', 'bridge');
      sh(ns, 'ip', 'addr', 'add', `10.244.${n}.1/24`, 'dev', 'cni0');
      return { n, name: node.name, ns, ip: node.ip, podGateway: `10.244.${n}.1` };
    });
    return { underlay: made[0]!, outside: made[1]!, nodes, dir, close };
  } catch (e) {
    close();
    throw e;
  }
}

/** A namespace the lab code made, deleted with the fixture (`ip netns del`). */
function ownedNetns(name: string): TempNetns {
  const remove = (): void => {
    try {
      deleteNetns(name);
    } catch (err) {
      if (!(err instanceof NetnsNotFoundError)) throw err;
    }
  };
  return { name, path: `/run/netns/${name}`, delete: remove, [Symbol.dispose]: remove };
}

export interface AgentProcess {
  child: ChildProcess;
  /** Every JSON log line so far. */
  logs: Record<string, unknown>[];
  stderr(): string;
  /** Resolves with the first log line (after `from`) whose msg is `msg`; fails after `ms` with the log. */
  waitFor(msg: string, ms?: number, from?: number): Promise<Record<string, unknown>>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
  exited: Promise<number | null>;
}

/** Starts `netboot agent ARGS…` inside `ns`, through `wrap` (a command that execs its arguments, e.g. setpriv) when given. */
export function startAgent(ns: TempNetns, args: string[], wrap: string[] = []): AgentProcess {
  const child = spawn('ip', ['netns', 'exec', ns.name, ...wrap, process.execPath, '--import', 'tsx', CLI, 'agent', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let text = '';
  let partial = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    text += d;
    partial += d;
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line));
      } catch {}
    }
  });
  child.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const waitFor = async (msg: string, ms = 30_000, from = 0) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = logs.slice(from).find((l) => l.msg === msg);
      if (hit) return hit;
      if (child.exitCode !== null || Date.now() > deadline)
        throw new Error(`agent in ${ns.name}: no "${msg}" log (exit ${child.exitCode}); stderr:\n${text.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return {
    child,
    logs,
    stderr: () => text,
    waitFor,
    exited,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** netboot's routes in a node's namespace: `ip -j -n NODE route show proto 78`. */
export const routes = (node: LabNode) => ipJson(node.ns, 'route', 'show', 'proto', '78') as { dst: string; gateway?: string; dev: string }[];

/** One ping from the node's pod gateway address (as a pod's packet would leave it) to `to`: answered? */
export function ping(from: LabNode, to: string): boolean {
  try {
    sh(from.ns, 'ping', '-c', '1', '-W', '1', '-I', from.podGateway, to);
    return true;
  } catch {
    return false;
  }
}

/** Polls `check` until it holds; fails after `ms` naming `what`. */
export async function eventually(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface NetnsEtcd {
  endpoint: string;
  /** SIGKILL (a crash: no goodbye to clients). */
  kill(): Promise<void>;
  /** Starts it again on the same data and address. */
  start(): Promise<void>;
}

/**
 * The lab's etcd (src/lab/etcd.ts: Debian's etcd inside `ns`, listening on `ip` so node namespaces reach
 * it over the underlay, data in `dir`), killed by PID, also when this test process exits.
 */
export async function etcdInNetns(ns: TempNetns, ip: string, dir: string): Promise<NetnsEtcd> {
  let proc: LabProcess | undefined;
  const start = async () => {
    await startLabEtcd(ns.name, ip, dir, (p) => {
      proc = p;
    });
  };
  // No grace: a crash.
  const kill = async () => {
    if (proc !== undefined) await stopProcess(proc, 0);
  };
  process.on('exit', () => {
    if (proc !== undefined && isRunning(proc)) process.kill(proc.pid, 'SIGKILL');
  });
  await start();
  return { endpoint: `http://${ip}:2379`, kill, start };
}
