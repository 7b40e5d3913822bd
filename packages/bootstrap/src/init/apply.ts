// apply(): performs a plan step by step — kubeadm config, `kubeadm init`, other networks' configs set
// aside (--force), the CNI binary and conflist, the agent's manifests, the install record — each step
// first comparing what is there with what the plan wants, so a second run changes nothing and says so.
// A plan whose preflight failed is refused before anything is touched. Loads no FFI.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { install } from '../cni/install.js';
import { writeFileAtomic } from '../datastore/atomic.js';
import { CommandFailedError, PreflightFailedError } from './errors.js';
import { SET_ASIDE_SUFFIX } from './plan.js';
import { type InstallState, mergeState, readState, stateText, writeState } from './state.js';
import type { ApplyOptions, ApplyReport, Plan, StepReport } from './types.js';

const CHANGES: readonly StepReport['action'][] = ['created', 'updated', 'ran', 'would-change'];

const readText = (path: string): string | undefined => (existsSync(path) ? readFileSync(path, 'utf8') : undefined);
const sameBytes = (a: string, b: string): boolean => existsSync(a) && existsSync(b) && readFileSync(a).equals(readFileSync(b));

/** Runs `argv`, each output line to `onLine`; rejects with the last lines when it exits non-zero. */
function run(argv: string[], onLine: (line: string) => void, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env });
    const tail: string[] = [];
    const lines = (chunk: Buffer) => {
      for (const line of chunk
        .toString('utf8')
        .split('\n')
        .filter((l) => l.trim() !== '')) {
        onLine(line);
        tail.push(line);
        if (tail.length > 20) tail.shift();
      }
    };
    child.stdout.on('data', lines);
    child.stderr.on('data', lines);
    child.on('error', (err) => reject(new CommandFailedError(`${argv[0]}: ${err.message}`, { cause: err })));
    child.on('close', (code) => (code === 0 ? resolvePromise() : reject(new CommandFailedError(`\`${argv.join(' ')}\` exited ${code}:\n${tail.join('\n')}`))));
  });
}

/** Writes `text` to `path` unless it is there already: the step's report. */
function writeFileStep(step: StepReport['step'], path: string, text: string, dryRun: boolean): StepReport {
  const current = readText(path);
  if (current === text) return { step, action: 'unchanged', detail: path };
  if (dryRun) return { step, action: 'would-change', detail: `${current === undefined ? 'create' : 'update'} ${path}` };
  writeFileAtomic(path, text);
  return { step, action: current === undefined ? 'created' : 'updated', detail: path };
}

async function kubeadmInitStep(plan: Plan, dryRun: boolean, progress: (line: string) => void): Promise<StepReport> {
  const k = plan.kubeadm!;
  const command = k.command.join(' ');
  if (!k.run) return { step: 'kubeadm-init', action: 'printed', detail: `run on this node: ${command}` };
  // kubeadm's own record that this node is a control plane already.
  if (existsSync('/etc/kubernetes/admin.conf'))
    return { step: 'kubeadm-init', action: 'unchanged', detail: 'already initialized (/etc/kubernetes/admin.conf exists)' };
  if (dryRun) return { step: 'kubeadm-init', action: 'would-change', detail: command };
  await run(k.command, (line) => progress(`  kubeadm: ${line}`));
  return { step: 'kubeadm-init', action: 'ran', detail: command };
}

function setAsideStep(plan: Plan, dryRun: boolean): StepReport | undefined {
  const present = plan.cni.setAside.filter((f) => existsSync(f));
  if (present.length === 0) return undefined;
  if (!dryRun) for (const f of present) renameSync(f, `${f}${SET_ASIDE_SUFFIX}`);
  return { step: 'cni-set-aside', action: dryRun ? 'would-change' : 'updated', detail: `${present.join(', ')} → *${SET_ASIDE_SUFFIX}` };
}

async function cniStep(plan: Plan, dryRun: boolean, progress: (line: string) => void): Promise<StepReport> {
  const c = plan.cni;
  const detail = `${c.binary}, ${c.conflistPath}`;
  const conflistSame = readText(c.conflistPath) === c.conflistText;
  if (conflistSame && sameBytes(c.source, c.binary)) return { step: 'cni', action: 'unchanged', detail };
  if (dryRun) return { step: 'cni', action: 'would-change', detail: `install ${detail}` };
  if (!existsSync(c.source)) {
    progress(`building the CNI plugin into ${dirname(c.source)} (netboot cni build)…`);
    const { buildCni } = await import('../cni/build/sea.js');
    await buildCni({ out: dirname(c.source) });
  }
  const existed = existsSync(c.binary) || existsSync(c.conflistPath);
  install({ binary: c.source, root: plan.root, force: c.replace });
  return { step: 'cni', action: existed ? 'updated' : 'created', detail };
}

/** kubectl's per-object lines ("configmap/x unchanged", "daemonset.apps/y configured") that are changes. */
const kubectlChanges = (out: string): string[] =>
  out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.endsWith(' unchanged'));

function manifestsStep(plan: Plan, dryRun: boolean): StepReport {
  const m = plan.manifests!;
  if (m.objects.length === 0) return { step: 'manifests', action: 'unchanged', detail: 'no manifests in the plan' };
  const target = m.target;
  if (target.kind === 'file') return writeFileStep('manifests', target.path, m.yaml, dryRun);
  const kubectl = (args: string[]) =>
    execFileSync(target.kubectl, ['--kubeconfig', target.kubeconfig, ...args], { input: m.yaml, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  const what = `${m.objects.length} objects with kubectl (${target.kubeconfig})`;
  // On a fresh control plane the kubeconfig is admin.conf, which `kubeadm init` (the step before)
  // writes: a dry run has no cluster to diff against, and a real run without it has nothing to apply to.
  if (!existsSync(target.kubeconfig)) {
    if (dryRun) return { step: 'manifests', action: 'would-change', detail: `apply ${what} after kubeadm init writes ${target.kubeconfig}` };
    throw new CommandFailedError(
      `kubectl could not apply the manifests: ${target.kubeconfig} does not exist — run kubeadm init (or pass a working --kubeconfig), then netboot init again`,
    );
  }
  try {
    if (dryRun) {
      // `kubectl diff` exits 1 when something would change.
      try {
        kubectl(['diff', '-f', '-']);
        return { step: 'manifests', action: 'unchanged', detail: what };
      } catch (err) {
        if ((err as { status?: number }).status === 1) return { step: 'manifests', action: 'would-change', detail: `apply ${what}` };
        throw err;
      }
    }
    const out = kubectl(['apply', '-f', '-']);
    const changes = kubectlChanges(out);
    return changes.length === 0
      ? { step: 'manifests', action: 'unchanged', detail: what }
      : { step: 'manifests', action: 'updated', detail: `applied ${what}: ${changes.join(', ')}` };
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new CommandFailedError(`kubectl could not apply the manifests: ${e.stderr?.trim() || e.message}`, { cause: err });
  }
}

/**
 * Writes the plan's files — kubeadm config, manifests, and a copy of the conflist — into `dir` and
 * nothing else (`netboot init --dry-run --out DIR`: artifacts to review or bake into an image).
 */
export function writeArtifacts(plan: Plan, dir: string): StepReport[] {
  const steps: StepReport[] = [];
  if (plan.kubeadm !== undefined) steps.push(writeFileStep('kubeadm-config', join(dir, basename(plan.kubeadm.path)), plan.kubeadm.yaml, false));
  if (plan.manifests !== undefined) steps.push(writeFileStep('manifests', join(dir, 'netboot.yaml'), plan.manifests.yaml, false));
  steps.push(writeFileStep('cni', join(dir, basename(plan.cni.conflistPath)), plan.cni.conflistText, false));
  return steps;
}

/** What this plan installs, for the record reset reads. */
function stateOf(plan: Plan): InstallState {
  const files = [plan.cni.binary, plan.cni.conflistPath];
  if (plan.kubeadm !== undefined) files.push(plan.kubeadm.path);
  const target = plan.manifests?.target;
  if (target?.kind === 'file' && plan.manifests!.objects.length > 0) files.push(target.path);
  const state: InstallState = { version: 1, files, setAside: plan.cni.setAside };
  if (target?.kind === 'kubectl')
    state.applied = {
      kubeconfig: target.kubeconfig,
      objects: plan.manifests!.objects.map((o) => ({
        kind: o.kind ?? '',
        name: o.metadata?.name ?? '',
        ...(o.metadata?.namespace === undefined ? {} : { namespace: o.metadata.namespace }),
      })),
    };
  return state;
}

/**
 * Performs `plan`: refuses a failed preflight (PreflightFailedError, nothing touched), then each step
 * in order, reporting created / updated / unchanged / ran / printed (or would-change with dryRun).
 */
export async function apply(plan: Plan, options: ApplyOptions = {}): Promise<ApplyReport> {
  const failed = plan.preflight.filter((c) => c.status === 'fail');
  if (failed.length > 0) throw new PreflightFailedError(failed);
  const dryRun = options.dryRun ?? false;
  const progress = options.onProgress ?? (() => {});
  const steps: StepReport[] = [];
  const record = (r: StepReport | undefined) => {
    if (r !== undefined) steps.push(r);
  };
  const before = readState(plan.statePath);
  const state = mergeState(before, stateOf(plan));
  try {
    if (plan.kubeadm !== undefined) {
      progress(`kubeadm config → ${plan.kubeadm.path}`);
      record(writeFileStep('kubeadm-config', plan.kubeadm.path, plan.kubeadm.yaml, dryRun));
      progress(plan.kubeadm.run ? `kubeadm init (${plan.kubeadm.command.join(' ')})…` : 'kubeadm init: not run here, printed below');
      record(await kubeadmInitStep(plan, dryRun, progress));
    }
    record(setAsideStep(plan, dryRun));
    progress(`CNI plugin and conflist → ${plan.cni.binary}, ${plan.cni.conflistPath}`);
    record(await cniStep(plan, dryRun, progress));
    if (plan.manifests !== undefined) {
      progress(`agent manifests → ${plan.manifests.target.kind === 'file' ? plan.manifests.target.path : 'kubectl apply'}`);
      record(manifestsStep(plan, dryRun));
    }
  } finally {
    // Whatever was done so far is on record, so reset can undo a run that failed half way.
    if (!dryRun && readText(plan.statePath) !== stateText(state)) {
      writeState(plan.statePath, state);
      steps.push({ step: 'state', action: before === undefined ? 'created' : 'updated', detail: plan.statePath });
    }
  }
  return { steps, changed: steps.some((s) => CHANGES.includes(s.action)), joinCommand: plan.joinCommand };
}
