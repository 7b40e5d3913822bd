// `netboot lab down`'s kubelet half, run after the lab's processes are stopped: whatever containerd
// left running (shims, pods) is killed through the node cgroups, which are removed; the private mount
// namespaces go with their last process (and with them every mount kubelet and containerd made); the
// machine's sysctls and /run/containerd are put back once no other kubelet lab needs them.
import { readdirSync, rmdirSync } from 'node:fs';
import { removeNodeCgroups } from './cgroups.js';
import { RUN_CONTAINERD } from './runtime.js';
import { loadKubeletState, otherKubeletLabs } from './state.js';
import { restoreSysctls } from './sysctls.js';

/** Undoes what `startKubeletNodes` did for the lab in `labDir`; false when it had no kubelets. */
export async function kubeletDown(labDir: string, progress: (line: string) => void): Promise<boolean> {
  const ks = loadKubeletState(labDir);
  if (ks === undefined) return false;
  for (const root of ks.cgroupRoots) {
    const killed = await removeNodeCgroups(root);
    progress(`cgroup ${root}: removed${killed > 0 ? ` (killed ${killed} leftover processes)` : ''}`);
  }
  if (otherKubeletLabs(labDir).length > 0) {
    progress('sysctls and /run/containerd: left for the other kubelet lab');
    return true;
  }
  const changed = restoreSysctls(ks.sysctls);
  progress(changed.length === 0 ? 'sysctls: unchanged' : `sysctls restored: ${changed.join(', ')}`);
  if (ks.madeRunContainerd)
    try {
      if (readdirSync(RUN_CONTAINERD).length === 0) {
        rmdirSync(RUN_CONTAINERD);
        progress(`removed ${RUN_CONTAINERD}`);
      }
    } catch {}
  return true;
}
