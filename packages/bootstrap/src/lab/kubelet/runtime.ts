// A lab node's container runtime and kubelet, as processes: containerd starts in a private mount
// namespace of its own (entered into the node's network namespace), where the node's folders are
// bind-mounted over /var/lib and /var/log and a tmpfs covers /run/containerd — the paths kubelet and the
// shims hard-code — so nodes never share them and nothing they write lands on the host's. kubelet then
// joins that same mount namespace (it must see what containerd mounts, and the reverse). Both go into
// the node's `runtime` cgroup first, so the shims and pods they start stay findable after they exit.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { NETNS_RUN_DIR } from '@netboot/core';
import { NetbootError } from '@netboot/core/errors';
import { isRunning, labProcess } from '../processes.js';
import type { LabProcess } from '../state.js';
import { containerdConfig } from './containerd.js';
import type { RuntimeLayout } from './layout.js';
import { spawnDetached } from './spawn.js';

/** Kept per node by a tmpfs; must exist as a mount point (a missing one is made, and noted for `down`). */
export const RUN_CONTAINERD = '/run/containerd';

/** containerd or kubelet died or never answered. */
class RuntimeNotReadyError extends NetbootError {
  readonly kind = 'unavailable' as const;
}

/** Why containerd cannot run here, or undefined. */
export function missingContainerd(): string | undefined {
  for (const p of ['containerd', 'ctr', 'runc', 'containerd-shim-runc-v2', 'nsenter', 'unshare'])
    try {
      execFileSync('sh', ['-c', `command -v ${p}`], { stdio: 'ignore' });
    } catch {
      return `no ${p} on PATH: \`apt-get install containerd\``;
    }
  return undefined;
}

const shq = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

/** `echo $$ >` each of `procs` (the node's runtime cgroup in every hierarchy). */
const joinCgroups = (procs: readonly string[]) => procs.map((p) => `echo $$ > ${shq(p)}`).join('; ');

/**
 * Writes the node's containerd config and starts containerd (`nsenter --net=/run/netns/NODE unshare
 * --mount --propagation private sh -c 'mounts…; exec containerd --config …'`, one PID all along),
 * detached, logging to its log file. Returns it at once; `waitForContainerd` waits.
 */
export function startContainerd(netns: string, l: RuntimeLayout, sandboxImage: string, cgroupProcs: readonly string[]): LabProcess {
  for (const d of [l.containerdRoot, l.containerdState, l.runcRoot, l.cniBin, l.cniConf, `${l.varLib}/kubelet`, l.varLog, l.certDir])
    mkdirSync(d, { recursive: true });
  writeFileSync(l.containerdConfig, containerdConfig(l, { sandboxImage }));
  const script = [
    'set -e',
    joinCgroups(cgroupProcs),
    `mount --bind ${shq(l.varLib)} /var/lib`,
    `mount --bind ${shq(l.varLog)} /var/log`,
    `mount -t tmpfs -o mode=0711 netboot-lab ${RUN_CONTAINERD}`,
    `exec containerd --config ${shq(l.containerdConfig)}`,
  ].join('\n');
  // biome-ignore format: one command line
  const argv = ['nsenter', `--net=${NETNS_RUN_DIR}/${netns}`, 'unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', script];
  return labProcess(`containerd ${netns}`, spawnDetached(argv, l.containerdLog));
}

/** `ctr -a SOCK -n k8s.io ARGS…`; its stdout. */
export function ctr(l: RuntimeLayout, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ctr', ['-a', l.socket, '-n', 'k8s.io', ...args], { encoding: 'utf8', timeout: 60_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      err === null ? resolve(stdout) : reject(new RuntimeNotReadyError(`ctr ${args.join(' ')}: ${stderr.trim() || err.message}`)),
    );
  });
}

/** Waits until containerd answers on its socket (`ctr version`); fails at once if it exits. */
export async function waitForContainerd(proc: LabProcess, l: RuntimeLayout, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!isRunning(proc)) throw new RuntimeNotReadyError(`${proc.what} exited; see ${l.containerdLog}`);
    if (existsSync(l.socket))
      try {
        await ctr(l, ['version']);
        return;
      } catch {}
    if (Date.now() > deadline) throw new RuntimeNotReadyError(`${proc.what}: no answer on ${l.socket} after ${timeoutMs / 1000} s; see ${l.containerdLog}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `ctr -n k8s.io images import ARCHIVE` for each archive (unpacked for overlayfs); returns the names stored. */
export async function importImages(l: RuntimeLayout, archives: readonly string[]): Promise<string[]> {
  for (const a of archives) await ctr(l, ['images', 'import', a]);
  return (await ctr(l, ['images', 'ls', '-q'])).split('\n').filter((n) => n !== '');
}

/**
 * Starts `argv` in the node's network namespace and containerd's mount namespace (`nsenter
 * --net=/run/netns/NODE --mount=/proc/CONTAINERD/ns/mnt --wd=CWD sh -c '…; exec ARGV'`), detached, after joining
 * the cgroups whose `cgroup.procs` are given (none: it stays where `up` runs).
 */
export function spawnBesideContainerd(
  what: string,
  netns: string,
  containerd: LabProcess,
  argv: readonly string[],
  log: string,
  cgroupProcs: readonly string[] = [],
): LabProcess {
  const script = ['set -e', joinCgroups(cgroupProcs), `exec ${argv.map(shq).join(' ')}`].filter((l) => l !== '').join('\n');
  // Entering a mount namespace moves to its root: --wd keeps this working directory (a relative
  // `--import tsx` in the agent's argv resolves from it).
  // biome-ignore format: one command line
  const nsenter = ['nsenter', `--net=${NETNS_RUN_DIR}/${netns}`, `--mount=/proc/${containerd.pid}/ns/mnt`, `--wd=${process.cwd()}`, '--', 'sh', '-c', script];
  return labProcess(what, spawnDetached(nsenter, log));
}

/** Starts kubelet beside containerd (it must see what containerd mounts, and the reverse), in the node's runtime cgroup. */
export function startKubelet(
  netns: string,
  containerd: LabProcess,
  kubelet: string,
  args: readonly string[],
  l: RuntimeLayout,
  cgroupProcs: readonly string[],
): LabProcess {
  return spawnBesideContainerd(`kubelet ${netns}`, netns, containerd, [kubelet, ...args], l.kubeletLog, cgroupProcs);
}
