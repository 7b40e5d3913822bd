// The Kubernetes datastore of a lab: the control plane of src/testing/control-plane.ts (etcd,
// kube-apiserver, kube-controller-manager with node IPAM, from the binaries scripts/kubernetes.sh
// builds) inside the underlay namespace on the service address, its processes detached and recorded
// for `lab down`. Each agent registers its Node; the controller manager gives it spec.podCIDRs.
import { join } from 'node:path';
import { NetbootError } from '@netboot/core/errors';
import { missingKubernetes, startControlPlane } from '../testing/control-plane.js';
import type { LabPlan } from './plan.js';
import { labProcess } from './processes.js';
import type { LabProcess } from './state.js';

/** No Kubernetes binaries on this machine. */
class KubernetesMissingError extends NetbootError {
  readonly kind = 'unavailable' as const;
}

/** Throws, saying how to build them, when this machine has no Kubernetes binaries: before `up` makes anything. */
export function requireKubernetes(): void {
  const missing = missingKubernetes();
  if (missing !== undefined) throw new KubernetesMissingError(`--datastore kubernetes: ${missing}`);
}

/** Starts the control plane; `record` gets each process as it starts. Returns the admin kubeconfig. */
export async function startLabKubernetes(plan: LabPlan, record: (p: LabProcess) => void): Promise<string> {
  const cp = await startControlPlane({
    netns: plan.underlay.netns,
    address: plan.serviceIp,
    podCIDR: plan.options.podCIDR,
    nodeMaskSize: plan.nodeMaskSize,
    dir: join(plan.dir, 'kubernetes'),
    detached: true,
    onSpawn: (what, pid) => record(labProcess(what, pid)),
  });
  return cp.kubeconfig;
}
