// Starting a long-running lab process that outlives `lab up`: detached, its own session, output
// appended to a log. processes.ts's spawnInNetns goes through `ip netns exec`, which remounts /sys for
// the namespace and so hides /sys/fs/cgroup — kubelet and runc need it, hence nsenter and this.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { NetbootError } from '@netboot/core/errors';

class SpawnError extends NetbootError {
  readonly kind = 'unavailable' as const;
}

/** Spawns `argv` detached with stdout/stderr appended to `log`; returns its PID. */
export function spawnDetached(argv: readonly string[], log: string, env: NodeJS.ProcessEnv = process.env): number {
  const fd = openSync(log, 'a', 0o644);
  try {
    const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', fd, fd], env });
    child.unref();
    if (child.pid === undefined) throw new SpawnError(`could not start ${argv[0]} (see ${log})`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}
