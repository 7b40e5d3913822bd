// A lab node's kubelet: its KubeletConfiguration and flags, in one place. Pure.
//
// What these machines need (../shared/reference/kubernetes-here.md): cgroup v1 hybrid with the cgroupfs
// driver, so `failCgroupV1: false`; a cgroup root of the node's own; no swap check (the lab shares the
// host's memory); eviction thresholds low enough that one machine running several nodes never evicts;
// containerd on the node's own socket. Serving: x509 client certs from the cluster CA (the API server's
// kubelet client cert for exec and logs), no anonymous access; every authenticated caller allowed.
import type { RuntimeLayout } from './layout.js';

export interface KubeletSettings {
  /** Node name (`--hostname-override`), the agent's `--node-name` too. */
  name: string;
  /** The node's underlay address (`--node-ip`; the API server dials it for exec and logs). */
  ip: string;
  cgroupRoot: string;
  /** The cluster CA that signs the API server's kubelet client certificate. */
  clientCA: string;
  /** The cluster DNS address written into pods' resolv.conf (nothing answers it in the lab). */
  clusterDNS: string;
}

/** config.yaml (kubelet.config.k8s.io/v1beta1), JSON being YAML. */
export function kubeletConfig(s: KubeletSettings, l: RuntimeLayout): string {
  const config = {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    failCgroupV1: false,
    cgroupDriver: 'cgroupfs',
    cgroupRoot: s.cgroupRoot,
    cgroupsPerQOS: true,
    enforceNodeAllocatable: ['pods'],
    containerRuntimeEndpoint: `unix://${l.socket}`,
    address: s.ip,
    readOnlyPort: 0,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: false }, x509: { clientCAFile: s.clientCA } },
    authorization: { mode: 'AlwaysAllow' },
    clusterDomain: 'cluster.local',
    clusterDNS: [s.clusterDNS],
    failSwapOn: false,
    evictionHard: { 'memory.available': '1Mi', 'nodefs.available': '1%', 'nodefs.inodesFree': '1%', 'imagefs.available': '1%' },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    serializeImagePulls: false,
    // Status every few seconds so Ready, and a stopped kubelet, show quickly.
    nodeStatusUpdateFrequency: '4s',
    nodeStatusReportFrequency: '10s',
    syncFrequency: '10s',
    fileCheckFrequency: '60s',
    maxPods: 110,
    podPidsLimit: 1024,
    logging: { format: 'text' },
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

/** kubelet's flags besides its config file: name, address, credentials, directories. */
export function kubeletArgs(s: KubeletSettings, l: RuntimeLayout): string[] {
  return [
    `--config=${l.kubeletConfig}`,
    `--kubeconfig=${l.kubeconfig}`,
    `--hostname-override=${s.name}`,
    `--node-ip=${s.ip}`,
    // /var/lib is the node's own folder in its mount namespace: the default root dir is per node.
    '--root-dir=/var/lib/kubelet',
    `--cert-dir=${l.certDir}`,
    '--v=1',
  ];
}
