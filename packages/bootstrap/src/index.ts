// `import { plan, apply } from 'netboot'`: `netboot init`/`join`/`reset` as a library, for installers
// that embed them. plan() is pure and loads no FFI (so is this whole entry at import time); the host is
// read by gatherFacts(), which loads the netlink FFI only when called.
//
//   const p = plan({ podCIDRs: ['10.244.0.0/16'], facts: await gatherFacts() });
//   if (!p.ok) console.error(formatChecks(p.preflight));
//   else await apply(p, { onProgress: console.error });
import type { GatherOptions } from './init/facts.js';
import type { HostFacts } from './init/types.js';

export { plan } from './init/plan.js';
export { apply } from './init/apply.js';
export { reset, type ResetOptions, type ResetReport } from './init/reset.js';
export { formatChecks } from './init/preflight.js';
export { type ManifestOptions, type Manifests, renderManifests } from './manifests/index.js';
export { CommandFailedError, InitOptionError, KubeadmConfigConflictError, PreflightFailedError } from './init/errors.js';
export type {
  ApplyOptions,
  ApplyReport,
  Check,
  DatastoreKind,
  HostFacts,
  InitMode,
  KernelFeature,
  KubeadmApi,
  NetworkSettings,
  Plan,
  PlanOptions,
  StepReport,
} from './init/types.js';
export type { GatherOptions } from './init/facts.js';

/**
 * Reads this host for plan()'s preflight: addresses, routes and the uplink (`ip -j addr`, `ip -j route`),
 * sysctls, the CNI conf dir under `root`, nft/kubeadm/kubectl, a working kubeconfig, and kernel support
 * for bridge, veth and VXLAN (created and deleted in a throwaway namespace). Loads the FFI; needs root.
 */
export async function gatherFacts(options: GatherOptions = {}): Promise<HostFacts> {
  const { gatherFacts: gather } = await import('./init/facts.js');
  return gather(options);
}
