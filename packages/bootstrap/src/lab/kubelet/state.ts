// What a kubelet lab adds to the lab's state.json, in a file of its own beside it (`kubelet.json`):
// what `lab down` must undo beyond processes and namespaces (node cgroups, the machine's sysctls, a
// /run/containerd mount point it made) and how `lab check` reaches the API server.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { listLabs } from '../state.js';

export interface KubeletLabState {
  /** kubelet's global sysctls as they were before any lab's kubelet started. */
  sysctls: Record<string, string>;
  /** Each node's cgroup root (kubelet's --cgroup-root). */
  cgroupRoots: string[];
  /** `up` made /run/containerd (the nodes' tmpfs mount point); the last kubelet lab's `down` removes it. */
  madeRunContainerd: boolean;
  /** Admin kubeconfig, the Kubernetes binaries, and the namespace the API server is reachable from. */
  kubeconfig: string;
  bin: string;
  apiNetns: string;
  /**
   * What kubelets need of the control plane: its URL, the root kubeadm runs chrooted into (`--rootfs`:
   * init's planned config at /kubeadm.yaml, certificates and kubeconfigs under /etc/kubernetes), the
   * cluster CA.
   */
  server: string;
  kubeadmRoot: string;
  ca: string;
}

const fileOf = (labDir: string) => join(labDir, 'kubelet.json');

export function saveKubeletState(labDir: string, s: KubeletLabState): void {
  const file = fileOf(labDir);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(s, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

/** The kubelet state of the lab in `labDir`, or undefined for a lab without kubelets. */
export function loadKubeletState(labDir: string): KubeletLabState | undefined {
  const file = fileOf(labDir);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as KubeletLabState) : undefined;
}

/** The kubelet state of every other lab that has kubelets (they share the machine's sysctls and /run/containerd). */
export function otherKubeletLabs(labDir: string): KubeletLabState[] {
  return listLabs()
    .filter((l) => l.dir !== labDir)
    .map((l) => loadKubeletState(l.dir))
    .filter((s) => s !== undefined);
}
