// `netboot lab up --runtime kubelet`: the steps `lab up` (../up.ts) takes for a kubelet lab, in its
// order — a control plane with a scheduler as the datastore (kubelet.json saved with what `down` must
// undo), containerd and kubelet on every node before the agents (kubelets register the Nodes the
// agents wait for), and every Node Ready at the end.
import { existsSync, mkdirSync } from 'node:fs';
import { NetbootError } from '@netboot/core/errors';
import { missingBusybox } from '../images/busybox.js';
import { requireKubernetes } from '../kubernetes.js';
import type { LabPlan } from '../plan.js';
import type { LabProcess } from '../state.js';
import { startKubeletControlPlane } from './control-plane.js';
import { cgroupRootOf } from './layout.js';
import { startKubeletNodes, waitNodesReady } from './nodes.js';
import { missingContainerd, RUN_CONTAINERD } from './runtime.js';
import { loadKubeletState, otherKubeletLabs, saveKubeletState } from './state.js';
import { readKubeletSysctls } from './sysctls.js';

/** No containerd or busybox-static on this machine. */
class KubeletRuntimeMissingError extends NetbootError {
  readonly kind = 'unavailable' as const;
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
