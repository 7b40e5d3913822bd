// Runs the bundled plugin exactly as a container runtime does: a clean environment with the CNI_*
// variables, the config on stdin, executed inside a "node" namespace the test created (so the bridge,
// veths and nft table land there), with the pods in namespaces of their own. Data dirs and the lease
// file live in a temp dir: nothing on the host is touched.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ipJson, type TempNetns, tempNetns } from '@netboot/core/testing';
import { buildPluginScript } from '../src/lab/pods.js';

export const CNI_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;

function outcome(code: number, stdout: string, stderr: string): Outcome {
  const text = stdout.trim();
  let out: any;
  try {
    out = text === '' ? undefined : JSON.parse(text);
  } catch {
    out = text; // a killed plugin may leave half a line
  }
  return { code, out, stderr };
}

/** Builds the plugin bundle once into a temp dir; returns the executable's path. */
async function buildPlugin(dir: string): Promise<string> {
  const file = join(dir, 'netboot');
  await buildPluginScript(file);
  return file;
}

export interface Invocation {
  containerId?: string;
  netns?: string;
  ifname?: string;
  args?: string;
  path?: string;
  /** Run this executable instead of netboot (another plugin of a chain). */
  binary?: string;
  /** Extra or replaced variables; `undefined` removes one. */
  env?: Record<string, string | undefined>;
  /**
   * Enter the node namespace with `nsenter --net` (the caller's mount namespace, as a runtime's plugins
   * share the host's) instead of `ip netns exec`, which makes a mount namespace of its own.
   */
  nsenter?: boolean;
}

export interface Outcome {
  code: number;
  out: any;
  stderr: string;
}

/** A node namespace with a temp dir for the plugin's state, and helpers to run the plugin there. */
export class Node {
  readonly ns: TempNetns;
  readonly dir: string;
  readonly pods: TempNetns[] = [];

  constructor(readonly plugin: string) {
    this.ns = tempNetns('nbt');
    this.dir = mkdtempSync(join(tmpdir(), 'nbt-cni-'));
  }

  /** A pod namespace, deleted with the node. */
  pod(): TempNetns {
    const ns = tempNetns('nbt');
    this.pods.push(ns);
    return ns;
  }

  /** A netboot network config; `ipam` fields are merged over host-local-style defaults in the temp dir. */
  conf(over: Record<string, unknown> = {}, ipam: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      cniVersion: '1.1.0',
      name: 'podnet',
      type: 'netboot',
      bridge: 'cni0',
      ...over,
      ipam: { type: 'netboot', dataDir: join(this.dir, 'data'), ranges: [[{ subnet: '10.244.1.0/24' }]], ...ipam },
    };
  }

  /** The clean environment a runtime would pass, and argv that runs the plugin in the node namespace. */
  private invocation(command: string | undefined, inv: Invocation): { argv: string[]; env: Record<string, string> } {
    const env: Record<string, string | undefined> = {
      PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
      CNI_COMMAND: command,
      CNI_CONTAINERID: inv.containerId,
      CNI_NETNS: inv.netns,
      CNI_IFNAME: inv.ifname ?? (inv.containerId ? 'eth0' : undefined),
      CNI_ARGS: inv.args,
      CNI_PATH: inv.path ?? '/usr/lib/cni',
      ...inv.env,
    };
    const clean = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)) as Record<string, string>;
    // `ip netns exec` execs the plugin in place, so the child's pid is the plugin's.
    const enter = inv.nsenter ? ['nsenter', `--net=${this.ns.path}`] : ['ip', 'netns', 'exec', this.ns.name];
    return { argv: [...enter, inv.binary ?? this.plugin], env: clean };
  }

  run(command: string | undefined, conf: unknown, inv: Invocation = {}): Outcome {
    const { argv, env } = this.invocation(command, inv);
    const res = spawnSync(argv[0]!, argv.slice(1), { input: typeof conf === 'string' ? conf : JSON.stringify(conf), env, encoding: 'utf8' });
    return outcome(res.status ?? -1, res.stdout, res.stderr);
  }

  /** Starts the plugin without waiting (for parallel runs and for killing it midway). */
  start(command: string, conf: unknown, inv: Invocation = {}): { child: ChildProcess; done: Promise<Outcome> } {
    const { argv, env } = this.invocation(command, inv);
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.stdin!.on('error', () => {}); // killed before it read its config
    child.stdin!.end(JSON.stringify(conf));
    const done = new Promise<Outcome>((resolve) => child.on('close', (code) => resolve(outcome(code ?? -1, stdout, stderr))));
    return { child, done };
  }

  /** ADD for a pod namespace; returns the parsed result, failing loudly on an error reply. */
  add(pod: TempNetns, conf: Record<string, unknown>, containerId = pod.name, extra: Invocation = {}): any {
    const r = this.run('ADD', conf, { containerId, netns: pod.path, ...extra });
    if (r.code !== 0) throw new Error(`ADD failed: ${JSON.stringify(r.out)} ${r.stderr}`);
    return r.out;
  }

  /** Links in the node namespace other than lo and the bridge. */
  hostLinks(): string[] {
    return ipJson(this.ns, 'link', 'show')
      .map((l: { ifname: string }) => l.ifname)
      .filter((n: string) => n !== 'lo' && n !== 'cni0');
  }

  /** Reservation files (named by an IP) in the network's data dir. */
  reservations(network = 'podnet', dataDir = join(this.dir, 'data')): string[] {
    try {
      return readdirSync(join(dataDir, network)).filter((n) => /^[0-9a-f.:]+$/.test(n) && (n.includes('.') || n.includes(':')));
    } catch {
      return [];
    }
  }

  delete(): void {
    for (const p of this.pods) p.delete();
    this.ns.delete();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Builds the plugin before a test file's tests and removes it after; returns `onNode`, which runs a
 * test body with a fresh node (namespaces and temp dir) and deletes it afterwards.
 */
export function usePlugin(suite: { before(fn: () => unknown): void; after(fn: () => unknown): void }): (fn: (node: Node) => unknown) => Promise<void> {
  const buildDir = mkdtempSync(join(tmpdir(), 'nbt-cni-build-'));
  let plugin = '';
  suite.before(async () => {
    plugin = await buildPlugin(buildDir);
  });
  suite.after(() => rmSync(buildDir, { recursive: true, force: true }));
  return async (fn) => {
    const node = new Node(plugin);
    try {
      await fn(node);
    } finally {
      node.delete();
    }
  };
}
