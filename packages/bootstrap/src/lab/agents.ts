// One real `netboot agent` per lab node, run inside the node's namespace as its init system would, by
// this same CLI (the Node binary, its flags and script that run `lab up`). Readiness is the agent's own
// /readyz, asked from inside the node's namespace (each node has its own 127.0.0.1:9099).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rtnl } from '@netboot/core';
import { NetbootError } from '@netboot/core/errors';
import { getIn } from './netns-http.js';
import type { LabPlan, PlannedNode } from './plan.js';
import { isRunning, spawnInNetns } from './processes.js';
import type { LabNode, LabProcess } from './state.js';

const HEALTH_PORT = 9099;

/** How the agents reach the lab's datastore. */
export type AgentDatastore =
  | { type: 'file'; nodesFile: string }
  | { type: 'etcd'; endpoint: string }
  /** `register: false` when kubelets register the Nodes (`--runtime kubelet`). */
  | { type: 'kubernetes'; kubeconfig: string; register?: boolean };

/** An agent that died or never became ready; the message holds its log's tail. */
class AgentNotReadyError extends NetbootError {
  readonly kind = 'unavailable' as const;
}

export function leaseFileOf(node: { dir: string }): string {
  return join(node.dir, 'subnet.json');
}

/** `netboot agent …` for `node`: its name and address, the lab's mode and cluster CIDR, its datastore. */
function agentArgs(plan: LabPlan, node: PlannedNode, ds: AgentDatastore): string[] {
  // biome-ignore format: flag/value pairs
  const args = ['agent', '--node-name', node.name, '--node-ip', node.ip, '--cluster-cidr', plan.options.podCIDR,
    '--mode', plan.options.mode, '--datastore', ds.type, '--lease-file', leaseFileOf(node), '--health-port', String(HEALTH_PORT)];
  if (plan.options.resyncSeconds !== undefined) args.push('--resync-seconds', String(plan.options.resyncSeconds));
  switch (ds.type) {
    case 'file':
      return [...args, '--nodes-file', ds.nodesFile];
    case 'etcd':
      return [...args, '--etcd-endpoint', ds.endpoint];
    case 'kubernetes':
      // Without kubelets the agent registers its Node; the controller manager gives it a podCIDR.
      return [...args, '--kubeconfig', ds.kubeconfig, ...(ds.register === false ? [] : ['--register-node'])];
  }
}

/** Another way to run a node's agent: extra flags, and a spawner instead of `ip netns exec NODE` (a kubelet lab's, beside containerd). */
export interface AgentLaunch {
  args: string[];
  spawn(what: string, argv: readonly string[], log: string): LabProcess;
}

/** Starts the agent detached in the node's namespace (as `launch` says, when given), logging to `<node dir>/agent.log`. */
export function startAgent(plan: LabPlan, node: PlannedNode, ds: AgentDatastore, launch?: AgentLaunch): LabProcess {
  const argv = [process.execPath, ...process.execArgv, process.argv[1]!, ...agentArgs(plan, node, ds), ...(launch?.args ?? [])];
  const what = `agent ${node.name}`;
  return launch === undefined ? spawnInNetns(what, node.netns, argv, agentLog(node)) : launch.spawn(what, argv, agentLog(node));
}

function agentLog(node: { dir: string }): string {
  return join(node.dir, 'agent.log');
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Waits until the agent answers /readyz with 200 (`ip netns exec NODE curl 127.0.0.1:9099/readyz`),
 * then returns the pod CIDRs of its lease file. Fails at once if the process exits.
 */
export async function waitForAgent(node: LabNode, proc: LabProcess, timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let last = `no lease file ${leaseFileOf(node)} yet`;
  for (;;) {
    if (!isRunning(proc)) throw new AgentNotReadyError(`${node.name}: the agent exited; ${agentLog(node)} ends:\n${tail(agentLog(node))}`);
    // The lease file comes first (a stat, where /readyz costs a Node child in the namespace).
    const r = existsSync(leaseFileOf(node)) ? await getIn(node.netns, `http://127.0.0.1:${HEALTH_PORT}/readyz`) : undefined;
    if (r?.status === 200) break;
    if (r !== undefined) last = r.body.trim();
    else if (existsSync(leaseFileOf(node))) last = 'no answer on /readyz';
    if (Date.now() > deadline)
      throw new AgentNotReadyError(`${node.name}: agent not ready after ${timeoutMs / 1000} s (${last}); ${agentLog(node)} ends:\n${tail(agentLog(node))}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return (JSON.parse(readFileSync(leaseFileOf(node), 'utf8')) as { subnets: string[] }).subnets;
}

/**
 * The peers' pod CIDRs that `node` has no route for yet (`ip -n NODE route show` lacks them): empty once
 * its agent routes every other node.
 */
export function missingRoutes(node: LabNode, nodes: readonly LabNode[]): string[] {
  using rtnl = Rtnl.open({ netns: node.netns });
  const have = new Set(rtnl.route.list({ family: 4 }).map((r) => r.dst));
  return nodes.filter((n) => n.name !== node.name).flatMap((n) => n.podCIDRs.filter((c) => !have.has(c)));
}
