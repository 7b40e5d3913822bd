// `netboot status`: the cluster as the agents see it — every node's record (node IPs, pod subnets,
// routing mode) from the datastore, and the local agent's reconcile health — and what is wrong with
// it: pod subnets claimed twice, node IPs shared, nodes running different modes, an agent not ready.
// Pure: the CLI gathers (../cli/status.ts), this judges and renders.
import { Cidr } from '@netboot/ipam';
import type { NodeRecord } from '../datastore/types.js';
import { type AgentHealth, recordHealth, UNKNOWN_HEALTH } from './health.js';

/** A record with its health as status judges it (the record's own summary, or the local agent's answer). */
interface NodeStatus extends Omit<NodeRecord, 'health'> {
  health: AgentHealth;
}

export interface StatusReport {
  datastore: string;
  nodes: NodeStatus[];
  /** One sentence each; any makes the command exit 1. */
  problems: string[];
}

/**
 * Joins records with their health — an agent asked directly (`health`, the local one) wins over the
 * summary its record carries; neither: unknown — and finds the problems.
 */
export function judgeStatus(datastore: string, records: readonly NodeRecord[], health: ReadonlyMap<string, AgentHealth>): StatusReport {
  const nodes = records.map((r) => ({ ...r, health: health.get(r.name) ?? (r.health === undefined ? UNKNOWN_HEALTH : recordHealth(r.health)) }));
  const problems: string[] = [];
  for (const [name, h] of health) {
    // Asked on a machine that is no node (nothing answers, no record): nothing to say about it.
    if (!records.some((r) => r.name === name)) {
      if (h.state !== 'unreachable') problems.push(`node ${name}'s agent answers but has no record in ${datastore}: is it running against another datastore?`);
    } else if (h.state === 'not-ready' || h.state === 'unreachable') problems.push(`node ${name}: agent ${h.state}: ${h.detail}`);
    else if (h.datastoreUp === false) problems.push(`node ${name}: ${h.detail}`);
  }
  const cidrs = nodes.flatMap((n) => n.podCIDRs.map((c) => ({ node: n.name, cidr: Cidr.parse(c) })));
  for (let i = 0; i < cidrs.length; i++)
    for (let j = i + 1; j < cidrs.length; j++) {
      const [a, b] = [cidrs[i]!, cidrs[j]!];
      if (a.node !== b.node && a.cidr.overlaps(b.cidr))
        problems.push(
          `pod subnets overlap: ${a.node} has ${a.cidr}, ${b.node} has ${b.cidr} — one node's pods are unreachable; fix the datastore's assignment`,
        );
    }
  const byIp = new Map<string, string>();
  for (const n of nodes)
    for (const ip of n.nodeIPs) {
      const other = byIp.get(ip);
      if (other !== undefined && other !== n.name) problems.push(`node IP ${ip} is claimed by ${other} and ${n.name}: give each agent its own --node-ip`);
      byIp.set(ip, n.name);
    }
  const modes = new Set(nodes.map((n) => n.mode).filter((m): m is string => m !== undefined));
  if (modes.size > 1)
    problems.push(`nodes run different routing modes (${nodes.map((n) => `${n.name}: ${n.mode ?? '?'}`).join(', ')}): start every agent with the same --mode`);
  return { datastore, nodes, problems };
}

/** The report as a table and a list of problems, for people; reconcile ages as of `now`. */
export function renderStatus(report: StatusReport, now = Date.now()): string {
  const rows = [
    ['NODE', 'NODE IPS', 'POD SUBNETS', 'MODE', 'AGENT'],
    ...report.nodes.map((n) => [n.name, n.nodeIPs.join(','), n.podCIDRs.join(','), n.mode ?? '-', healthText(n.health, now)]),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const table = rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ')).join('\n');
  const head = `datastore: ${report.datastore}, ${report.nodes.length} node(s)`;
  const tail = report.problems.length === 0 ? '✓ no problems found' : report.problems.map((p) => `✗ ${p}`).join('\n');
  return `${head}\n${report.nodes.length > 0 ? `${table}\n` : ''}${tail}`;
}

function healthText(h: AgentHealth, now: number): string {
  if (h.state === 'unknown') return 'unknown';
  const mark = h.state === 'ready' ? '✓ ' : h.state === 'not-ready' ? '✗ ' : '';
  const extra = [
    h.reconciledAt !== undefined && `reported ${age(now - Date.parse(h.reconciledAt))} ago`,
    h.peers !== undefined && `${h.peers} peers`,
    h.reconcilePasses !== undefined && `${h.reconcilePasses} passes`,
    h.reconcileErrors !== undefined && `${h.reconcileErrors} errors`,
  ].filter(Boolean);
  return `${mark}${h.state === 'ready' ? h.detail : `${h.state}: ${h.detail}`}${extra.length > 0 ? ` (${extra.join(', ')})` : ''}`;
}

/** 42s, 5m, 3h, 2d. */
function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return s < 172_800 ? `${Math.round(s / 3600)}h` : `${Math.round(s / 86_400)}d`;
}
