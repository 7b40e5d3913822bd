// The lab's pods, made as a container runtime makes them: the real plugin (bundled once into the lab
// dir) executed with CNI_COMMAND=ADD inside the node's namespace, a clean environment, and the network
// config of the node's conflist on stdin. Each node's conflist points the plugin at that node's lease
// file (written by its agent) and an IPAM data dir of its own; ipMasq is off because the agent
// masquerades egress for the whole node.
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { NetbootError } from '@netboot/core/errors';
import { bundlePlugin, koffiNativePath } from '../cni/build/bundle.js';
import { leaseFileOf } from './agents.js';

const NETWORK = 'lab';

/** A CNI ADD or DEL that failed; the message holds the plugin's error reply. */
class CniRunError extends NetbootError {
  readonly kind = 'internal' as const;
}

/**
 * Bundles the plugin into `file`: an executable script run by this Node, loading koffi's native module
 * from where it is installed (a development build: quick, and nothing embedded).
 */
export async function buildPluginScript(file: string): Promise<void> {
  mkdirSync(dirname(file), { recursive: true });
  await bundlePlugin({ outfile: file, koffi: { kind: 'path', path: koffiNativePath() }, shebang: `#!${process.execPath}` });
  chmodSync(file, 0o755);
}

/** Bundles the plugin into `<lab dir>/bin/netboot`; returns its path. */
export async function buildLabPlugin(labDir: string): Promise<string> {
  const file = labPlugin(labDir);
  await buildPluginScript(file);
  return file;
}

/** The plugin `lab up` built, for `lab down`'s DEL. */
export function labPlugin(labDir: string): string {
  return join(labDir, 'bin', 'netboot');
}

function conflistOf(node: { dir: string }): string {
  return join(node.dir, 'net.d', '10-netboot.conflist');
}

/** Writes the node's conflist (what `netboot cni install` would put in /etc/cni/net.d). */
export function writeConflist(node: { dir: string }): void {
  const conflist = {
    cniVersion: '1.1.0',
    name: NETWORK,
    plugins: [
      {
        type: 'netboot',
        bridge: 'cni0',
        isGateway: true,
        ipMasq: false,
        ipam: { type: 'netboot', dataDir: join(node.dir, 'ipam'), leaseFile: leaseFileOf(node) },
      },
    ],
  };
  mkdirSync(join(node.dir, 'net.d'), { recursive: true });
  writeFileSync(conflistOf(node), `${JSON.stringify(conflist, null, 2)}\n`);
}

export interface CniPod {
  netns: string;
  containerId: string;
  ifname: string;
}

/**
 * Runs the plugin for `command` in namespace `nodeNetns` as libcni does: the conflist's plugin entry
 * with its `cniVersion` and `name` on stdin, CNI_* in an otherwise clean environment.
 */
function runPlugin(plugin: string, command: 'ADD' | 'DEL', node: { netns: string; dir: string }, pod: CniPod): Promise<unknown> {
  const list = JSON.parse(readFileSync(conflistOf(node), 'utf8')) as { cniVersion: string; name: string; plugins: Record<string, unknown>[] };
  const conf = { cniVersion: list.cniVersion, name: list.name, ...list.plugins[0] };
  const env = {
    PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: command,
    CNI_CONTAINERID: pod.containerId,
    CNI_NETNS: `/run/netns/${pod.netns}`,
    CNI_IFNAME: pod.ifname,
    CNI_PATH: join(plugin, '..'),
  };
  return new Promise((resolve, reject) => {
    const child = execFile('ip', ['netns', 'exec', node.netns, plugin], { env, encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
      if (err === null) return resolve(stdout.trim() === '' ? undefined : JSON.parse(stdout));
      let reply = stdout.trim();
      try {
        const e = JSON.parse(reply) as { code: number; msg: string; details?: string };
        reply = `error ${e.code}: ${e.msg}${e.details ? ` (${e.details})` : ''}`;
      } catch {}
      reject(new CniRunError(`CNI ${command} of ${pod.netns} in ${node.netns} failed: ${reply || err.message}${stderr ? `\n${stderr.trim()}` : ''}`));
    });
    child.stdin!.end(JSON.stringify(conf));
  });
}

/** `CNI_COMMAND=ADD`: wires the pod; returns its addresses (without prefix length). */
export async function cniAdd(plugin: string, node: { netns: string; dir: string }, pod: CniPod): Promise<string[]> {
  const result = (await runPlugin(plugin, 'ADD', node, pod)) as { ips?: { address: string }[] };
  return (result.ips ?? []).map((ip) => ip.address.split('/')[0]!);
}

/** `CNI_COMMAND=DEL`: unwires the pod and releases its addresses. */
export async function cniDel(plugin: string, node: { netns: string; dir: string }, pod: CniPod): Promise<void> {
  await runPlugin(plugin, 'DEL', node, pod);
}
