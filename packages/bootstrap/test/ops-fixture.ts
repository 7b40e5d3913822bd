// The operator commands as a person runs them: the real `netboot` CLI in a child process, its exit
// code, stdout and stderr.
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = new URL('../../..', import.meta.url).pathname;
const CLI = join(ROOT, 'packages/bootstrap/src/cli/main.ts');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed (for --json runs). */
  json(): any;
}

/** `netboot ARGS…`, resolved when it exits (async: the test's own etcd fixture and servers keep running). */
export function netboot(...args: string[]): Promise<CliRun> {
  return run(process.env, args);
}

/** `netboot ARGS…` with `env` over this process's environment (an empty value unsets a variable). */
netboot.env =
  (env: Record<string, string>) =>
  (...args: string[]): Promise<CliRun> => {
    const merged = { ...process.env, ...env };
    for (const [k, v] of Object.entries(env)) if (v === '') delete merged[k];
    return run(merged, args);
  };

function run(env: NodeJS.ProcessEnv, args: string[]): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', CLI, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, json: () => JSON.parse(stdout) }));
  });
}
