// `netboot lab up --runtime kubelet`: the steps `lab up` (../up.ts) takes for a kubelet lab, in its
// order — a control plane with a scheduler as the datastore (kubelet.json saved with what `down` must
// undo), containerd and kubelet on every node before the agents (kubelets register the Nodes the
// agents wait for; each agent runs beside its node's containerd and serves its CNI socket), and every
// Node Ready at the end.
import { existsSync, mkdirSync } from 'node:fs';
import { NetbootError } from '@netboot/core/errors';
import { missingBusybox } from '../images/busybox.js';
import { requireKubernetes } from '../kubernetes.js';
import type { AgentLaunch } from '../agents.js';
import type { LabPlan, PlannedNode } from '../plan.js';
import type { LabProcess } from '../state.js';
import { startKubeletControlPlane } from './control-plane.js';
import { cgroupRootOf, runtimeLayout } from './layout.js';
import { startKubeletNodes, waitNodesReady } from './nodes.js';
import { missingContainerd, RUN_CONTAINERD, spawnBesideContainerd } from './runtime.js';
import { loadKubeletState, otherKubeletLabs, saveKubeletState } from './state.js';
import { readKubeletSysctls } from './sysctls.js';

/** No containerd or busybox-static on this machine. */
class KubeletRuntimeMissingError extends NetbootError {
  readonly kind = 'unavailable' as const;
}

/** The node's containerd is not among the lab's processes (its agent cannot run beside it). */
class NoContainerdError extends NetbootError {
  readonly kind = 'internal' as const;
}

/** Throws, saying what to install, before `up` makes anything. */
export function requireKubeletRuntime(): void {
  requireKubernetes();
  const missing = missingContainerd() ?? missingBusybox();
  if (missing !== undefined) throw new KubeletRuntimeMissingError(`--runtime kubelet: ${missing}`);
}

/** The control plane and scheduler; saves kubelet.json (sysctls as they are before any kubelet). Returns the admin kubeconfig. */
export async function startKubeletDatastore(plan: LabPlan, record: (p: LabProcess) => void): Promise<string> {
  const cp = await startKubeletControlPlane(plan, record);
  const others = otherKubeletLabs(plan.dir);
  const madeRunContainerd = !existsSync(RUN_CONTAINERD);
  saveKubeletState(plan.dir, {
    // Another lab's kubelets changed them already: what it saved is the machine's own.
    sysctls: others[0]?.sysctls ?? readKubeletSysctls(),
    cgroupRoots: plan.nodes.map((n) => cgroupRootOf(plan.options.name, n.name)),
    madeRunContainerd: madeRunContainerd || others.some((o) => o.madeRunContainerd),
    apiNetns: plan.underlay.netns,
    ...cp,
  });
  if (madeRunContainerd) mkdirSync(RUN_CONTAINERD, { mode: 0o711 });
  return cp.kubeconfig;
}

/** containerd + kubelet on every node, with the CNI plugin at `plugin`. */
export async function startKubelets(plan: LabPlan, plugin: string, record: (p: LabProcess) => void, progress: (line: string) => void): Promise<void> {
  await startKubeletNodes(plan, loadKubeletState(plan.dir)!, plugin, record, progress);
}

/** Waits for every node's Node to be Ready and schedulable. */
export async function kubeletNodesReady(plan: LabPlan, progress: (line: string) => void): Promise<void> {
  const t = Date.now();
  await waitNodesReady(
    loadKubeletState(plan.dir)!,
    plan.nodes.map((n) => n.name),
  );
  progress(`nodes Ready: ${plan.nodes.map((n) => n.name).join(', ')} (${((Date.now() - t) / 1000).toFixed(1)} s)`);
}

/**
 * How a kubelet lab node's agent runs: in the node's network namespace and its containerd's mount
 * namespace (as kubelet does), serving `--cni-socket` at the socket the node's conflist names as
 * `server`. containerd runs the CNI plugin as its own child, so the plugin's shim and the agent then
 * share both namespaces — what the warm server requires — and its ADDs and DELs run in the agent.
 */
export function agentLaunch(node: PlannedNode, processes: readonly LabProcess[]): AgentLaunch {
  const containerd = processes.find((p) => p.what === `containerd ${node.netns}`);
  if (containerd === undefined) throw new NoContainerdError(`${node.name}: no containerd recorded to run its agent beside`);
  return {
    args: ['--cni-socket', runtimeLayout(node.dir).cniSocket],
    spawn: (what, argv, log) => spawnBesideContainerd(what, node.netns, containerd, argv, log),
  };
}
