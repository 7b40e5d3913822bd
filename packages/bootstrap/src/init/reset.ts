// `netboot reset`: undoes what init/join installed, as their record (<root>/var/lib/netboot/installed.json)
// lists it — deletes the files, puts set-aside CNI configs back, deletes the applied objects with kubectl
// when their kubeconfig still works — then the record itself. What kubeadm did is kubeadm's to undo
// (`kubeadm reset`). Loads no FFI.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, renameSync, rmdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { SET_ASIDE_SUFFIX, STATE_FILE } from './plan.js';
import { readState } from './state.js';

export interface ResetOptions {
  root?: string;
  dryRun?: boolean;
  /** kubectl to delete applied objects with; default `kubectl` on PATH. */
  kubectl?: string;
}

export interface ResetReport {
  /** One line per thing removed or restored (or that would be, with dryRun). */
  done: string[];
  /** What reset could not do, with what to run instead. */
  left: string[];
}

/** Removes what the record at `<root>/var/lib/netboot/installed.json` lists; a missing record is "nothing to remove". */
export function reset(options: ResetOptions = {}): ResetReport {
  const root = resolve(options.root ?? '/');
  const statePath = join(root, STATE_FILE);
  const state = readState(statePath);
  const report: ResetReport = { done: [], left: [] };
  if (state === undefined) return report;
  const dry = options.dryRun ?? false;
  const verb = (present: string, past: string) => (dry ? `would ${present}` : past);

  if (state.applied !== undefined && state.applied.objects.length > 0) {
    const refs = state.applied.objects.map((o) => `${o.kind}/${o.name}${o.namespace ? ` -n ${o.namespace}` : ''}`);
    const kubectl = options.kubectl ?? 'kubectl';
    if (dry) report.done.push(`would delete ${refs.join(', ')} with kubectl`);
    else {
      const failed: string[] = [];
      // The DaemonSet before what it uses, the Namespace last: the reverse of the apply order.
      for (const o of [...state.applied.objects].reverse()) {
        const args = ['--kubeconfig', state.applied.kubeconfig, 'delete', '--ignore-not-found', '--wait=false', `${o.kind}/${o.name}`];
        if (o.namespace !== undefined) args.push('-n', o.namespace);
        try {
          execFileSync(kubectl, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
        } catch {
          failed.push(`${o.kind}/${o.name}`);
        }
      }
      if (failed.length === 0) report.done.push(`deleted ${refs.join(', ')}`);
      else report.left.push(`could not delete ${failed.join(', ')} (kubeconfig ${state.applied.kubeconfig}): kubectl delete them once the API server answers`);
    }
  }
  for (const file of state.files) {
    if (!existsSync(file)) continue;
    if (!dry) rmSync(file, { force: true });
    report.done.push(`${verb('remove', 'removed')} ${file}`);
  }
  for (const original of state.setAside) {
    const aside = `${original}${SET_ASIDE_SUFFIX}`;
    if (!existsSync(aside)) continue;
    if (existsSync(original)) {
      report.left.push(`${aside} not restored: ${original} exists again`);
      continue;
    }
    if (!dry) renameSync(aside, original);
    report.done.push(`${verb('restore', 'restored')} ${original}`);
  }
  if (!dry) {
    rmSync(statePath, { force: true });
    // The directories netboot made for itself go when empty; shared ones (/opt/cni/bin, /etc/cni/net.d) stay.
    for (const dir of [dirname(statePath), join(root, 'etc/netboot')]) if (existsSync(dir) && readdirSync(dir).length === 0) rmdirSync(dir);
  }
  report.done.push(`${verb('remove', 'removed')} ${statePath}`);
  return report;
}
