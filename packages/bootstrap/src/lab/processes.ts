// The lab's long-running processes (agents, etcd, the Kubernetes control plane) outlive `lab up`: each
// is started detached inside its namespace with its output in a log file, and known afterwards only by
// PID and /proc start time, so `lab down` (another process, maybe after a crash) stops exactly those and
// never a recycled PID.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { NetbootError } from '@netboot/core/errors';
import type { LabProcess } from './state.js';

/** A lab process that could not be started. */
class LabProcessError extends NetbootError {
  readonly kind = 'unavailable' as const;
}

/**
 * Field 22 of /proc/PID/stat (start time in clock ticks since boot) and the state letter, or undefined
 * when there is no such process. The command name (field 2) may hold spaces and parentheses: fields are
 * counted after its last ')'.
 */
function procStat(pid: number): { startTime: string; state: string } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // After the name: state is field 3, starttime field 22.
  return { state: fields[0]!, startTime: fields[19]! };
}

/** True while the process `p` recorded is running (same PID and start time, not a zombie). */
export function isRunning(p: LabProcess): boolean {
  const stat = procStat(p.pid);
  return stat !== undefined && stat.startTime === p.startTime && stat.state !== 'Z' && stat.state !== 'X';
}

/** The record of process `pid`, started just now by someone else (the control plane's launcher). */
export function labProcess(what: string, pid: number): LabProcess {
  const stat = procStat(pid);
  if (stat === undefined) throw new LabProcessError(`${what} (pid ${pid}) exited as it started`);
  return { pid, what, startTime: stat.startTime };
}

/**
 * Starts `argv` inside namespace `netns` (`ip netns exec NETNS argv…`, which execs in place, so the PID
 * is the program's), detached from this process, stdout and stderr appended to `log`. Returns its PID
 * and start time at once: the caller records them before waiting on anything.
 */
export function spawnInNetns(what: string, netns: string, argv: readonly string[], log: string, env?: NodeJS.ProcessEnv): LabProcess {
  const fd = openSync(log, 'a', 0o644);
  try {
    const child = spawn('ip', ['netns', 'exec', netns, ...argv], { detached: true, stdio: ['ignore', fd, fd], env: env ?? process.env });
    child.unref();
    if (child.pid === undefined) throw new LabProcessError(`${what}: could not start ${argv[0]} in ${netns} (see ${log})`);
    return labProcess(what, child.pid);
  } finally {
    closeSync(fd);
  }
}

/**
 * Stops `p` if it is still the process recorded: SIGTERM, then SIGKILL after `graceMs`. Resolves with
 * what happened; a PID now held by another program is left alone.
 */
export async function stopProcess(p: LabProcess, graceMs = 5_000): Promise<'stopped' | 'killed' | 'gone'> {
  if (!isRunning(p)) return 'gone';
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(p.pid, s);
    } catch {}
  };
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isRunning(p)) return 'stopped';
    await new Promise((r) => setTimeout(r, 50));
  }
  if (isRunning(p)) signal('SIGKILL');
  while (isRunning(p)) await new Promise((r) => setTimeout(r, 20));
  return 'killed';
}
