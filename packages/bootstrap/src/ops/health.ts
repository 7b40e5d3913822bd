// What a node agent says about itself on its health port (127.0.0.1:<port>, see ../agent/health.ts):
// /readyz for readiness (503 with what it waits for) and /metrics for the reconcile counters. Reachable
// only from the node itself, so `netboot status` asks the local agent and says "unknown" for the rest.

import type { NodeHealth } from '../datastore/types.js';

/** The agent's own account of itself, or why there is none. */
export interface AgentHealth {
  /** ready / not-ready: what /readyz said; unreachable: nothing listens; unknown: not asked (another node). */
  state: 'ready' | 'not-ready' | 'unreachable' | 'unknown';
  detail: string;
  peers?: number;
  datastoreUp?: boolean;
  reconcilePasses?: number;
  reconcileErrors?: number;
  lastReconcileSeconds?: number;
  /** From the node's record (its agent's published summary): when it last reconciled (ISO 8601). */
  reconciledAt?: string;
}

export const UNKNOWN_HEALTH: AgentHealth = {
  state: 'unknown',
  detail: 'no health in its record (an agent before health publishing), and its health port answers only on its own node',
};

/** The health summary an agent published in its record, as an AgentHealth. Pure. */
export function recordHealth(h: NodeHealth): AgentHealth {
  const health: AgentHealth = h.ready ? { state: 'ready', detail: 'ready' } : { state: 'not-ready', detail: `waiting for ${h.waitingFor ?? 'something'}` };
  if (h.errors !== undefined) health.reconcileErrors = h.errors;
  if (h.reconciledAt !== undefined) health.reconciledAt = h.reconciledAt;
  return health;
}

/**
 * Prometheus text exposition → value per metric name, summed over label sets (`netboot_operations_total`
 * with kinds route and fdb is their total). Comments and malformed lines are skipped.
 */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m === null) continue;
    const v = Number(m[3]);
    if (Number.isFinite(v)) out.set(m[1]!, (out.get(m[1]!) ?? 0) + v);
  }
  return out;
}

/** /readyz's status and body plus /metrics' text → an AgentHealth. Pure. */
export function judgeHealth(readyz: { status: number; body: string }, metrics: string | undefined): AgentHealth {
  const m = metrics === undefined ? new Map<string, number>() : parseMetrics(metrics);
  const health: AgentHealth =
    readyz.status === 200
      ? { state: 'ready', detail: 'ready' }
      : { state: 'not-ready', detail: readyz.body.trim().replace(/^not ready:\s*/, 'waiting for ') || `readyz answered ${readyz.status}` };
  const num = (name: string) => m.get(name);
  if (num('netboot_peers') !== undefined) health.peers = num('netboot_peers')!;
  if (num('netboot_datastore_up') !== undefined) health.datastoreUp = num('netboot_datastore_up') === 1;
  // A counter with no samples yet is not rendered at all: it is 0.
  if (metrics !== undefined) {
    health.reconcilePasses = num('netboot_reconcile_passes_total') ?? 0;
    health.reconcileErrors = num('netboot_reconcile_errors_total') ?? 0;
  }
  if (num('netboot_reconcile_last_duration_seconds') !== undefined) health.lastReconcileSeconds = num('netboot_reconcile_last_duration_seconds')!;
  if (health.state === 'ready' && health.datastoreUp === false) health.detail = 'ready, but the datastore is unreachable (routes kept as last synced)';
  return health;
}

/** GET /readyz and /metrics of the agent at 127.0.0.1:`port` (`curl -s 127.0.0.1:9099/readyz`). */
export async function probeAgent(port: number, timeoutMs = 2_000): Promise<AgentHealth> {
  const base = `http://127.0.0.1:${port}`;
  try {
    const r = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(timeoutMs) });
    const readyz = { status: r.status, body: await r.text() };
    const metrics = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(timeoutMs) })
      .then((res) => (res.ok ? res.text() : undefined))
      .catch(() => undefined);
    return judgeHealth(readyz, metrics);
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
    return { state: 'unreachable', detail: `no agent answers on ${base} (${cause}): is \`netboot agent\` running with --health-port ${port}?` };
  }
}
