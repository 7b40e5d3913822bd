// The cgroups of a kubelet lab node: one root (kubelet's --cgroup-root) in every hierarchy this
// machine mounts (cgroup v1 hybrid here: cpu, cpuset, memory, …, name=systemd, and the empty v2
// `unified`), with a `runtime` child holding containerd, kubelet and the shims they start. kubelet puts
// the pods under `<root>/kubepods`. Removing a node kills every process in its root and removes the
// cgroups leaves first — what is left after containerd exits (shims, pods) is found there, not by PID.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NetbootError } from '@netboot/core/errors';

const CGROUP_FS = '/sys/fs/cgroup';

/** A node's cgroup that kept a process after SIGKILL and a wait. */
class CgroupBusyError extends NetbootError {
  readonly kind = 'conflict' as const;
}

/** Every mounted hierarchy's directory (`/sys/fs/cgroup/cpu`, …), or `/sys/fs/cgroup` alone on pure v2. */
function hierarchies(): string[] {
  if (existsSync(join(CGROUP_FS, 'cgroup.controllers'))) return [CGROUP_FS];
  return readdirSync(CGROUP_FS)
    .map((d) => join(CGROUP_FS, d))
    .filter((d) => {
      try {
        return statSync(d).isDirectory() && existsSync(join(d, 'cgroup.procs'));
      } catch {
        return false;
      }
    });
}

/** Where `root`'s processes are listed: its directory in the pids hierarchy (cgroup v1) or the unified one (v2). */
export function processesDir(root: string): string {
  return join(existsSync(join(CGROUP_FS, 'cgroup.controllers')) ? CGROUP_FS : join(CGROUP_FS, 'pids'), root);
}

/** cpuset needs cpus and mems set before a task may join: copied from the parent, as kubelet expects. */
function inheritCpuset(dir: string, parent: string): void {
  for (const f of ['cpuset.cpus', 'cpuset.mems']) {
    if (!existsSync(join(dir, f))) continue;
    if (readFileSync(join(dir, f), 'utf8').trim() === '') writeFileSync(join(dir, f), readFileSync(join(parent, f), 'utf8'));
  }
}

/**
 * `mkdir -p /sys/fs/cgroup/<h>/ROOT/runtime` in every hierarchy (cpuset's cpus/mems filled in); returns
 * the runtime child's `cgroup.procs` files, which the node's daemons write their PID to.
 */
export function makeNodeCgroups(root: string): string[] {
  return hierarchies().map((h) => {
    const dir = join(h, root);
    mkdirSync(join(dir, 'runtime'), { recursive: true });
    inheritCpuset(dir, h);
    inheritCpuset(join(dir, 'runtime'), dir);
    return join(dir, 'runtime', 'cgroup.procs');
  });
}

/** Every cgroup directory under `dir`, deepest first, then `dir` itself. */
function leavesFirst(dir: string): string[] {
  const below = readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .flatMap((e) => leavesFirst(join(dir, e.name)));
  return [...below, dir];
}

function pidsIn(dirs: readonly string[]): number[] {
  const pids = new Set<number>();
  for (const d of dirs) {
    try {
      for (const line of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n')) if (line !== '') pids.add(Number(line));
    } catch {}
  }
  return [...pids];
}

/**
 * Kills (SIGKILL) every process left in the node's cgroups and removes them, leaves first; resolves
 * with how many processes it killed. Nothing there is not an error.
 */
export async function removeNodeCgroups(root: string, timeoutMs = 10_000): Promise<number> {
  const dirs = hierarchies()
    .map((h) => join(h, root))
    .filter((d) => existsSync(d))
    .flatMap(leavesFirst);
  const killed = new Set<number>();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pids = pidsIn(dirs);
    if (pids.length === 0) break;
    if (Date.now() > deadline) throw new CgroupBusyError(`processes ${pids.join(', ')} survive SIGKILL in cgroup ${root}`);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
        killed.add(pid);
      } catch {}
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  for (const d of dirs) {
    // An emptied cgroup may stay busy for a moment while its last task is reaped.
    for (;;) {
      try {
        rmdirSync(d);
        break;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') break;
        if (code !== 'EBUSY' || Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }
  return killed.size;
}
