// `netboot lab check`'s pure half: which probes a lab needs, what each must see, and the table. No FFI,
// no processes — check.ts runs the probes (probe.ts) and hands the outcomes back here.
//
// What "right" means (the seeds' story): pod to pod and pod to node arrive with the source pod's own
// address (never masqueraded); pod to the outside host arrives as the pod's node (masqueraded to its
// underlay address). Each family a pod has is probed on its own.
import { InvalidInputError } from '@netboot/core/errors';
import { familyOf, normalizeIp } from '@netboot/core/ip';
import type { LabState } from './state.js';

type Family = 'ipv4' | 'ipv6';
type TargetKind = 'pod' | 'node' | 'outside';

/** One TCP connection to make: from a pod's namespace to one address of a target. */
export interface Probe {
  /** Source pod name. */
  from: string;
  fromNetns: string;
  fromIp: string;
  /** Target: a pod or node name, or `outside`. */
  to: string;
  toKind: TargetKind;
  toNetns: string;
  toIp: string;
  family: Family;
  /** The source address the target must see. */
  expected: string;
}

/** What a probe gave: the peer address the responder saw, or why nothing came back (`timeout`, `refused`…). */
export type Outcome = { seen: string } | { error: string };

export interface ProbeResult extends Probe {
  ok: boolean;
  /** The source address the target saw (null when it was not reached). */
  seen: string | null;
  /** Why it failed, short (`timeout`, `NAT'd as 192.168.1.11`, `not NAT'd`); null when ok. */
  reason: string | null;
}

/** The state names a pod's node that it does not list: it is not a state `lab up` wrote. */
export class LabStateError extends InvalidInputError {}

const familyName = (ip: string): Family => (familyOf(ip) === 4 ? 'ipv4' : 'ipv6');

/** The first address of `family` in `ips` (prefix lengths dropped), if any. */
function addressOf(ips: readonly string[], family: Family): string | undefined {
  return ips.map((ip) => ip.split('/')[0]!).find((ip) => familyName(ip) === family);
}

function familiesOf(ips: readonly string[]): Family[] {
  return (['ipv4', 'ipv6'] as const).filter((f) => addressOf(ips, f) !== undefined);
}

/** The pods by node (in the state's node order), then by name: `lab up` records them as their ADDs finish. */
function podsInOrder(state: LabState): LabState['pods'] {
  const nodeIndex = (node: string) => state.nodes.findIndex((n) => n.name === node);
  return [...state.pods].sort((a, b) => nodeIndex(a.node) - nodeIndex(b.node) || a.name.localeCompare(b.name, 'en', { numeric: true }));
}

/**
 * Every probe the lab needs, in table order: for each pod (by node, then name) and each of its families, every other pod,
 * every node's underlay address, and the outside host — those that have an address of that family
 * (an outside probe also needs the pod's node to have one, as that is what the outside must see).
 */
export function planProbes(state: LabState): Probe[] {
  const probes: Probe[] = [];
  const pods = podsInOrder(state);
  for (const pod of pods) {
    const node = state.nodes.find((n) => n.name === pod.node);
    if (node === undefined) throw new LabStateError(`lab ${state.name}: pod ${pod.name} is on node ${pod.node}, which the state does not list`);
    for (const family of familiesOf(pod.ips)) {
      const fromIp = addressOf(pod.ips, family)!;
      const add = (to: string, toKind: TargetKind, toNetns: string, ips: readonly string[], expected: string | undefined): void => {
        const toIp = addressOf(ips, family);
        if (toIp === undefined || expected === undefined) return;
        probes.push({ from: pod.name, fromNetns: pod.netns, fromIp, to, toKind, toNetns, toIp, family, expected });
      };
      for (const other of pods) if (other !== pod) add(other.name, 'pod', other.netns, other.ips, fromIp);
      for (const n of state.nodes) add(n.name, 'node', n.netns, n.ips, fromIp);
      add('outside', 'outside', state.outside.netns, state.outside.ips, addressOf(node.ips, family));
    }
  }
  return probes;
}

function sameIp(a: string, b: string): boolean {
  try {
    return normalizeIp(a) === normalizeIp(b);
  } catch {
    return a === b;
  }
}

/** Judges one probe's outcome against what its target must see. */
export function judge(probe: Probe, outcome: Outcome): ProbeResult {
  if ('error' in outcome) return { ...probe, ok: false, seen: null, reason: outcome.error };
  const { seen } = outcome;
  if (sameIp(seen, probe.expected)) return { ...probe, ok: true, seen, reason: null };
  if (probe.toKind === 'outside' && sameIp(seen, probe.fromIp)) return { ...probe, ok: false, seen, reason: "not NAT'd" };
  return { ...probe, ok: false, seen, reason: `NAT'd as ${seen}` };
}

/** A result as `lab check --json` reports it: the probe's endpoints and verdict, without its namespaces. */
export function reported({ from, to, family, fromIp, toIp, ok, seen, expected, reason }: ProbeResult) {
  return { from, to, family, fromIp, toIp, ok, seen, expected, reason };
}

/** `N of M probes passed`. */
export function summary(results: readonly ProbeResult[]): string {
  return `${results.filter((r) => r.ok).length} of ${results.length} probes passed`;
}

/**
 * The matrix as text: one row per source pod (and family, when the lab has two), one column per target
 * (pods, nodes, outside); a cell is ✓, ✗ with the reason, `·` for the pod itself, `–` when not probed.
 */
export function renderMatrix(state: LabState, results: readonly ProbeResult[]): string {
  const pods = podsInOrder(state);
  const columns = [...pods.map((p) => p.name), ...state.nodes.map((n) => n.name), 'outside'];
  const families = (['ipv4', 'ipv6'] as const).filter((f) => results.some((r) => r.family === f));
  const byKey = new Map(results.map((r) => [`${r.from}\0${r.to}\0${r.family}`, r]));
  const rows: string[][] = [['', ...columns]];
  for (const pod of pods) {
    for (const family of families) {
      if (!results.some((r) => r.from === pod.name && r.family === family)) continue;
      const label = families.length > 1 ? `${pod.name} ${family}` : pod.name;
      const cells = columns.map((to) => {
        if (to === pod.name) return '·';
        const r = byKey.get(`${pod.name}\0${to}\0${family}`);
        if (r === undefined) return '–';
        return r.ok ? '✓' : `✗ ${r.reason}`;
      });
      rows.push([label, ...cells]);
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
