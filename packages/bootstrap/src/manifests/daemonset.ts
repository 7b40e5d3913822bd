// The agent's DaemonSet: one agent per node, in the node's own network namespace, with the one
// capability it uses. What each setting is for:
//
// - hostNetwork: the agent programs the node's routes, FDB, neighbours, VXLAN device and nftables table,
//   and the kubelet cannot give pods a network before the pod network exists.
// - capabilities: all dropped but NET_ADMIN, which every change it makes needs (rtnetlink writes,
//   `nft -f`). No NET_RAW: it opens no raw or packet socket (netlink only). No SYS_ADMIN: it never
//   enters another namespace (the CNI plugin does, run by the runtime on the host, not in this pod).
//   No SYS_MODULE: the kernel loads vxlan/ipip itself (request_module from the host).
//   /proc/sys stays read-only, as in any unprivileged container: the agent writes ip_forward only when
//   it is off, and a kubeadm node has it on (kubeadm's preflight demands it).
//   test/rbac.priv.test.ts runs the agent with exactly these capabilities and a read-only /proc/sys.
// - tolerations: every NoSchedule and NoExecute taint. The agent is what makes a node Ready (NotReady
//   nodes carry node.kubernetes.io/not-ready), it must run on control-plane nodes
//   (node-role.kubernetes.io/control-plane), and evicting it would leave the node's pods unrouted.
// - priorityClassName system-node-critical: the node's pods depend on it.
// - probes: httpGet on 127.0.0.1 (the agent listens on loopback only; with hostNetwork that is the node's,
//   where the kubelet probes from, as kubeadm's static pods do). /healthz: the process answers;
//   /readyz: subnets leased, record published, peers synced and the first reconcile done.
// - hostPath volumes: /run/netboot (the lease file the CNI plugin reads, read-write); /opt/cni/bin and
//   /etc/cni/net.d only in the install-cni init container. No /var/lib/cni: host-local's
//   allocations there are the CNI plugin's, never the agent's.
// - NODE_NAME from the downward API (spec.nodeName): the Node whose podCIDRs it leases and annotates.
import type { V1Container, V1DaemonSet, V1Volume } from '@kubernetes/client-node';

export const NAME = 'netboot';
/** The DaemonSet's selector: stable across versions (a selector cannot change). */
export const LABELS = { 'app.kubernetes.io/name': 'netboot', 'app.kubernetes.io/component': 'agent' } as const;
/** The ConfigMap key, mounted at /etc/netboot/agent.json. */
export const CONFIG_FILE = 'agent.json';
/** Where the image keeps `netboot cni build`'s output for install-cni. */
const IMAGE_CNI_DIR = '/usr/lib/netboot/cni';

export interface DaemonSetOptions {
  namespace: string;
  labels: Record<string, string>;
  image: string;
  imagePullPolicy: string;
  configMap: string;
  configHash: string;
  healthPort: number;
  /** Mount the ServiceAccount token (the Kubernetes datastore); the etcd datastore's agent gets none. */
  apiToken: boolean;
  installCni: boolean;
  /** The plugin's own ipMasq follows the agent's (`netboot cni install --no-masq`). */
  natOutgoing: boolean;
}

const hostDir = (name: string, path: string): V1Volume => ({ name, hostPath: { path, type: 'DirectoryOrCreate' } });

export function agentDaemonSet(o: DaemonSetOptions): V1DaemonSet {
  const probe = (path: string, periodSeconds: number) => ({
    httpGet: { host: '127.0.0.1', path, port: o.healthPort },
    periodSeconds,
    timeoutSeconds: 2,
    failureThreshold: 3,
  });
  const agent: V1Container = {
    name: 'agent',
    image: o.image,
    imagePullPolicy: o.imagePullPolicy,
    command: ['netboot', 'agent'],
    args: ['--config', `/etc/netboot/${CONFIG_FILE}`, '--node-name', '$(NODE_NAME)'],
    env: [{ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }],
    securityContext: {
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'], add: ['NET_ADMIN'] },
    },
    livenessProbe: probe('/healthz', 10),
    readinessProbe: probe('/readyz', 5),
    resources: { requests: { cpu: '50m', memory: '64Mi' } },
    volumeMounts: [
      { name: 'run-netboot', mountPath: '/run/netboot' },
      { name: 'config', mountPath: '/etc/netboot', readOnly: true },
    ],
  };
  const installCni: V1Container = {
    name: 'install-cni',
    image: o.image,
    imagePullPolicy: o.imagePullPolicy,
    // Owner root writing root's directories: no capability needed.
    command: ['netboot', 'cni', 'install', '--from', IMAGE_CNI_DIR, '--root', '/host', ...(o.natOutgoing ? [] : ['--no-masq'])],
    securityContext: { privileged: false, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
    volumeMounts: [
      { name: 'cni-bin', mountPath: '/host/opt/cni/bin' },
      { name: 'cni-conf', mountPath: '/host/etc/cni/net.d' },
    ],
  };
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: NAME, namespace: o.namespace, labels: o.labels },
    spec: {
      selector: { matchLabels: { ...LABELS } },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
      template: {
        metadata: { labels: o.labels, annotations: { 'netboot.io/config-hash': o.configHash } },
        spec: {
          serviceAccountName: NAME,
          automountServiceAccountToken: o.apiToken,
          hostNetwork: true,
          dnsPolicy: 'ClusterFirstWithHostNet',
          priorityClassName: 'system-node-critical',
          securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
          tolerations: [
            { operator: 'Exists', effect: 'NoSchedule' },
            { operator: 'Exists', effect: 'NoExecute' },
          ],
          ...(o.installCni && { initContainers: [installCni] }),
          containers: [agent],
          volumes: [
            hostDir('run-netboot', '/run/netboot'),
            { name: 'config', configMap: { name: o.configMap } },
            ...(o.installCni ? [hostDir('cni-bin', '/opt/cni/bin'), hostDir('cni-conf', '/etc/cni/net.d')] : []),
          ],
        },
      },
    },
  };
}
