// `netboot lab check`: the lab's connectivity matrix — every pod to every pod, to every node and to the
// outside host, per family — with the source address each receiver saw, so a missing route (timeout),
// a missing masquerade (outside sees the pod: "not NAT'd") and a stray one (a pod or node sees a node:
// "NAT'd as …") each show up as what they are.
import { output } from '../cli/args.js';
import { judge, planProbes, type ProbeResult, renderMatrix, reported, summary } from './matrix.js';
import { runProbes } from './probe.js';
import type { LabState } from './state.js';

/** How long a probe waits for its answer: a healthy path on one machine answers in well under a millisecond. */
const PROBE_TIMEOUT_MS = 1500;

/** Probes `state`'s lab (all probes at once, each waiting at most `timeoutMs`) and judges every probe. */
export async function checkLab(state: LabState, timeoutMs = PROBE_TIMEOUT_MS): Promise<ProbeResult[]> {
  const probes = planProbes(state);
  const outcomes = await runProbes(probes, timeoutMs);
  return probes.map((p, i) => judge(p, outcomes[i]!));
}

/**
 * `netboot lab check [--json]`: prints the matrix (or, with `json`, a list of
 * `{from, to, family, fromIp, toIp, ok, seen, expected, reason}`) and returns the exit code: 0 when every
 * probe passed, 1 when any failed or there was nothing to probe.
 */
export async function labCheck(state: LabState, opts: { json: boolean }): Promise<number> {
  const out = output(opts.json);
  if (!state.complete) out.progress(`lab ${state.name}: its \`lab up\` did not finish; checking what it made`);
  if (state.pods.length === 0) {
    out.result([], `lab ${state.name} has no pods to probe from: run \`netboot lab up --name ${state.name} --pods 2\``);
    return 1;
  }
  out.progress(`lab ${state.name}: probing every pod to every pod, every node and the outside host…`);
  const started = performance.now();
  const results = await checkLab(state);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const list = results.map(reported);
  out.result(list, `${renderMatrix(state, results)}\n\n${summary(results)} (${seconds} s)`);
  return results.length > 0 && results.every((r) => r.ok) ? 0 : 1;
}
