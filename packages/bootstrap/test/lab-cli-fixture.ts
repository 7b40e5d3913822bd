// `netboot lab …` as a user runs it: the real CLI from source in a child process, one lab per test under
// an nbt-<random> name that `lab down` removes after the test whatever it left; and the independent
// checks the lab tests share (ping, `ip -j route`).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ipJson, sh } from '@netboot/core/testing';
import type { Test } from 'uvu';
import * as assert from 'uvu/assert';
import type { LabState } from '../src/lab/state.js';
import { kubernetesBin } from '../src/testing/control-plane.js';

/** The workspace root (the CLI's working directory). */
export const ROOT = new URL('../../..', import.meta.url).pathname;
/** node's arguments that run `netboot` from its TypeScript source. */
export const CLI = ['--conditions=source', '--import', 'tsx', join(ROOT, 'packages/bootstrap/src/cli/main.ts')];

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface LabCli {
  /** `netboot ARGS…`, waited for (killed after the session's timeout). */
  netboot(...args: string[]): CliResult;
  /** `lab up --name <fresh> --json ARGS…`, which must succeed and finish; the state it prints. */
  up(...args: string[]): LabState;
  /** A fresh nbt- name, taken down after the test (for a lab the test starts itself). */
  fresh(): string;
  /** The test took its lab down itself: nothing to do after it. */
  downed(): void;
}

/** One lab per test of `it`: each CLI run may take `timeoutMs`. */
export function labCli(it: Test, timeoutMs = 180_000): LabCli {
  let name: string | undefined;
  const netboot = (...args: string[]): CliResult => {
    const r = spawnSync(process.execPath, [...CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: timeoutMs });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  const fresh = () => {
    name = `nbt-${randomBytes(3).toString('hex')}`;
    return name;
  };
  it.after.each(() => {
    // Whatever a test left, even after a failed assertion.
    if (name !== undefined) netboot('lab', 'down', '--name', name);
    name = undefined;
  });
  return {
    netboot,
    fresh,
    up(...args) {
      const r = netboot('lab', 'up', '--name', fresh(), '--json', ...args);
      assert.is(r.code, 0, `lab up ${args.join(' ')} failed:\n${r.stderr}`);
      const state = JSON.parse(r.stdout) as LabState;
      assert.ok(state.complete);
      return state;
    },
    downed() {
      name = undefined;
    },
  };
}

/** netboot's routes (protocol 78) in a node's namespace, by destination: `ip -j -n NODE route show`. */
export function netbootRoutes(netns: string): Map<string, { gateway?: string; dev: string }> {
  const routes = ipJson(netns, 'route', 'show') as { dst: string; protocol?: string; gateway?: string; dev: string }[];
  return new Map(routes.filter((r) => r.protocol === '78').map((r) => [r.dst, r]));
}

/** One ping from namespace `netns` to `to`: answered within 2 s? */
export function pings(netns: string, to: string): boolean {
  try {
    sh(netns, 'ping', '-c', '1', '-W', '2', to);
    return true;
  } catch {
    return false;
  }
}

/** `kubectl …` as the admin of a Kubernetes-datastore lab, run in its underlay namespace (where the API server is). */
export function labKubectl(state: LabState, ...args: string[]): string {
  return sh(`${state.name}-underlay`, join(kubernetesBin()!, 'kubectl'), '--kubeconfig', join(state.dir, 'kubernetes/kc/admin.conf'), ...args);
}
