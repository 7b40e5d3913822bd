// The record of what init/join installed (<root>/var/lib/netboot/installed.json): the files it wrote,
// the configs it set aside and the objects it applied, so `netboot reset` removes exactly those. Runs
// add to it; reset deletes it last.
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../datastore/atomic.js';
import { InitOptionError } from './errors.js';

export interface InstallState {
  version: 1;
  /** Files netboot wrote (binary, conflist, kubeadm config, manifests file, …). */
  files: string[];
  /** Other networks' configs renamed to `<file>.netboot-disabled` (the original paths). */
  setAside: string[];
  /** Objects applied with kubectl, and the kubeconfig used. */
  applied?: { kubeconfig: string; objects: { kind: string; name: string; namespace?: string }[] };
}

export function readState(path: string): InstallState | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const state = JSON.parse(readFileSync(path, 'utf8')) as InstallState;
    if (state.version !== 1 || !Array.isArray(state.files) || !Array.isArray(state.setAside)) throw new Error('unknown shape');
    return state;
  } catch (err) {
    throw new InitOptionError(`${path} is not netboot's install record (${(err as Error).message}): remove it by hand`, { cause: err });
  }
}

/** `before` with `next` added (lists unioned, the latest `applied`). */
export function mergeState(before: InstallState | undefined, next: InstallState): InstallState {
  const union = (a: string[] = [], b: string[]) => [...new Set([...a, ...b])];
  const merged: InstallState = { version: 1, files: union(before?.files, next.files), setAside: union(before?.setAside, next.setAside) };
  const applied = next.applied ?? before?.applied;
  if (applied !== undefined) merged.applied = applied;
  return merged;
}

export const stateText = (state: InstallState): string => `${JSON.stringify(state, null, 2)}\n`;

export function writeState(path: string, state: InstallState): void {
  writeFileAtomic(path, stateText(state));
}
