// The node agent's Kubernetes manifests, rendered from options as typed objects and as one multi-document
// YAML file for `kubectl apply -f`. Pure: no FFI, no files, no API calls (`plan()` and `netboot init
// --dry-run` render them anywhere). Apply order is the order of `objects`.
//
//   Namespace netboot-system (Pod Security "privileged": hostNetwork, hostPath and NET_ADMIN need it)
//   ServiceAccount netboot
//   ClusterRole + ClusterRoleBinding netboot (Kubernetes datastore only; see rbac.ts)
//   Role + RoleBinding netboot-ipam in kube-system (with clusterIpam only: its one ConfigMap)
//   ValidatingAdmissionPolicy + Binding netboot-agent-node (its own Node's netboot.io/* annotations only;
//   see node-policy.ts)
//   ConfigMap netboot-config (agent.json, what `netboot agent --config` reads)
//   DaemonSet netboot (see daemonset.ts)
import { createHash } from 'node:crypto';
import type {
  KubernetesObject,
  V1ClusterRole,
  V1ClusterRoleBinding,
  V1ConfigMap,
  V1DaemonSet,
  V1Namespace,
  V1Role,
  V1RoleBinding,
  V1ServiceAccount,
  V1ValidatingAdmissionPolicy,
  V1ValidatingAdmissionPolicyBinding,
} from '@kubernetes/client-node';
import { InvalidInputError } from '@netboot/core/errors';
import type { ModeName } from '@netboot/routes';
import { stringify } from 'yaml';
import { checkConfig } from '../agent/config.js';
import { agentDaemonSet, CONFIG_FILE, LABELS, NAME } from './daemonset.js';
import { agentNodePolicy } from './node-policy.js';
import { AGENT_RULES, IPAM_CONFIGMAP, IPAM_RULES } from './rbac.js';
import { NETBOOT_VERSION } from './version.js';

/**
 * Where the agent's peers and subnets live; the Kubernetes API by default (no extra service to run).
 * `clusterIpam`: node subnets from netboot's ClusterIpam (pools in ConfigMap kube-system/netboot-ipam,
 * `netboot agent --cluster-ipam`) instead of kube-controller-manager's `spec.podCIDRs`.
 */
type ManifestDatastore = { type: 'kubernetes'; clusterIpam?: boolean } | { type: 'etcd'; endpoints: string[]; prefix?: string };

export interface ManifestOptions {
  /** The cluster's pod CIDRs, one per family (kubeadm's `networking.podSubnet`, `--cluster-cidr`). */
  clusterCIDRs: string[];
  /** Routing mode, already resolved (`netboot init` turns `auto` into one of these); default vxlan. */
  mode?: ModeName;
  /** Default `{ type: 'kubernetes' }`: the Node objects, through the ServiceAccount's token. */
  datastore?: ManifestDatastore;
  /** VXLAN VNI and UDP port (vxlan, cross-subnet); the agent's defaults 1 and 4789. */
  vni?: number;
  vxlanPort?: number;
  /** Masquerade pod traffic leaving the cluster (the agent's table and the plugin's ipMasq); default true. */
  natOutgoing?: boolean;
  /** The agent's /healthz, /readyz, /metrics port on the node's 127.0.0.1; default 9099. */
  healthPort?: number;
  /** Full reconcile period; default 30. */
  resyncSeconds?: number;
  /** Default `ghcr.io/netboot/netboot:<this package's version>`. */
  image?: string;
  /** Default IfNotPresent. */
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  /** Default netboot-system. */
  namespace?: string;
  /**
   * An init container that runs `netboot cni install` into the node's /opt/cni/bin and /etc/cni/net.d
   * (what flannel's install-cni does), so nodes joined with plain `kubeadm join` get the plugin too;
   * default true. It keeps an identical conflist and refuses a different one (never `--force`).
   */
  installCni?: boolean;
  /**
   * With the Kubernetes datastore, a ValidatingAdmissionPolicy that lets the agent patch only its own
   * Node's `netboot.io/*` annotations (RBAC's `patch nodes` is any field of any Node); default true.
   * Needs Kubernetes >= 1.30 (admissionregistration.k8s.io/v1 policies, the token's node-name claim).
   */
  nodePolicy?: boolean;
}

export interface Manifests {
  namespace: V1Namespace;
  serviceAccount: V1ServiceAccount;
  /** Absent for the etcd datastore: that agent makes no Kubernetes API request at all. */
  clusterRole?: V1ClusterRole;
  clusterRoleBinding?: V1ClusterRoleBinding;
  /** With `datastore.clusterIpam`: ClusterIpam's ConfigMap in kube-system, and nothing else there. */
  ipamRole?: V1Role;
  ipamRoleBinding?: V1RoleBinding;
  /** Absent for the etcd datastore or `nodePolicy: false`. */
  nodePolicy?: V1ValidatingAdmissionPolicy;
  nodePolicyBinding?: V1ValidatingAdmissionPolicyBinding;
  configMap: V1ConfigMap;
  daemonSet: V1DaemonSet;
  /** Every object, in apply order. */
  objects: KubernetesObject[];
  /** `objects` as one multi-document YAML file (`kubectl apply -f -`). */
  yaml: string;
}

export const DEFAULT_IMAGE = `ghcr.io/netboot/netboot:${NETBOOT_VERSION}`;

/** Bad manifest options; the message names the option. */
class ManifestOptionsError extends InvalidInputError {}

/** The agent's manifests for these options; throws ManifestOptionsError (or the agent's own config error) on bad input. */
export function renderManifests(options: ManifestOptions): Manifests {
  const namespace = options.namespace ?? 'netboot-system';
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(namespace))
    throw new ManifestOptionsError(`namespace ${JSON.stringify(namespace)} is not a DNS-1123 label (lower case, digits, '-')`);
  const image = options.image ?? DEFAULT_IMAGE;
  if (image.trim() === '' || /\s/.test(image)) throw new ManifestOptionsError(`image ${JSON.stringify(image)} is not an image reference`);
  const healthPort = options.healthPort ?? 9099;
  if (healthPort === 0) throw new ManifestOptionsError('healthPort 0 turns off /healthz and /readyz, which the DaemonSet probes');
  const datastore = options.datastore ?? { type: 'kubernetes' };
  const agentJson = agentConfigOf(options, datastore, healthPort);
  const kubernetes = datastore.type === 'kubernetes';
  const labels = { ...LABELS, 'app.kubernetes.io/version': NETBOOT_VERSION };
  const meta = (name: string) => ({ name, namespace, labels });

  const ns: V1Namespace = {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: namespace,
      // hostNetwork, hostPath volumes and an added NET_ADMIN are all outside Pod Security "baseline".
      labels: { ...labels, 'pod-security.kubernetes.io/enforce': 'privileged' },
    },
  };
  const serviceAccount: V1ServiceAccount = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(NAME) };
  const configText = `${JSON.stringify(agentJson, null, 2)}\n`;
  const configMap: V1ConfigMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: meta(`${NAME}-config`),
    data: { [CONFIG_FILE]: configText },
  };
  const daemonSet = agentDaemonSet({
    namespace,
    labels,
    image,
    imagePullPolicy: options.imagePullPolicy ?? 'IfNotPresent',
    configMap: configMap.metadata!.name!,
    // The agent reads its config once, at start: a changed config must roll the pods.
    configHash: createHash('sha256').update(configText).digest('hex').slice(0, 16),
    healthPort,
    apiToken: kubernetes,
    installCni: options.installCni ?? true,
    natOutgoing: options.natOutgoing ?? true,
  });
  let clusterRole: V1ClusterRole | undefined;
  let clusterRoleBinding: V1ClusterRoleBinding | undefined;
  if (kubernetes) {
    clusterRole = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: NAME, labels },
      rules: AGENT_RULES.map((r) => ({ ...r })),
    };
    clusterRoleBinding = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: NAME, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: NAME },
      subjects: [{ kind: 'ServiceAccount', name: NAME, namespace }],
    };
  }
  let ipamRole: V1Role | undefined;
  let ipamRoleBinding: V1RoleBinding | undefined;
  if (datastore.type === 'kubernetes' && datastore.clusterIpam === true) {
    const ipamMeta = { name: `${NAME}-ipam`, namespace: IPAM_CONFIGMAP.namespace, labels };
    ipamRole = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: ipamMeta, rules: IPAM_RULES.map((r) => ({ ...r })) };
    ipamRoleBinding = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: ipamMeta,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: ipamMeta.name },
      subjects: [{ kind: 'ServiceAccount', name: NAME, namespace }],
    };
  }
  const [nodePolicy, nodePolicyBinding] = kubernetes && (options.nodePolicy ?? true) ? agentNodePolicy(`${NAME}-agent-node`, namespace, NAME, labels) : [];
  const objects: KubernetesObject[] = [
    ns,
    serviceAccount,
    ...(clusterRole ? [clusterRole, clusterRoleBinding!] : []),
    ...(ipamRole ? [ipamRole, ipamRoleBinding!] : []),
    // Before the DaemonSet: no agent patches a Node unchecked.
    ...(nodePolicy ? [nodePolicy, nodePolicyBinding!] : []),
    configMap,
    daemonSet,
  ];
  const header = `# netboot ${NETBOOT_VERSION}: the node agent (kubectl apply -f this file)\n`;
  const yaml = header + objects.map((o) => `---\n${stringify(o, { lineWidth: 0 })}`).join('');
  return {
    namespace: ns,
    serviceAccount,
    ...(clusterRole && { clusterRole, clusterRoleBinding }),
    ...(ipamRole && { ipamRole, ipamRoleBinding }),
    ...(nodePolicy && { nodePolicy, nodePolicyBinding }),
    configMap,
    daemonSet,
    objects,
    yaml,
  };
}

/**
 * The ConfigMap's agent.json: only what the options set (the agent fills its own defaults), checked by
 * the agent's own config checker so the DaemonSet never starts on a config the agent refuses. The node
 * name comes from the downward API as a flag; the in-cluster ServiceAccount is the kubeconfig.
 */
function agentConfigOf(o: ManifestOptions, datastore: ManifestDatastore, healthPort: number): Record<string, unknown> {
  const json: Record<string, unknown> = {
    clusterCIDRs: o.clusterCIDRs,
    mode: o.mode ?? 'vxlan',
    ...(o.vni !== undefined && { vni: o.vni }),
    ...(o.vxlanPort !== undefined && { vxlanPort: o.vxlanPort }),
    ...(o.natOutgoing !== undefined && { natOutgoing: o.natOutgoing }),
    ...(o.resyncSeconds !== undefined && { resyncSeconds: o.resyncSeconds }),
    healthPort,
    datastore: datastore.type === 'kubernetes' ? { type: 'kubernetes', ...(datastore.clusterIpam === true && { clusterIpam: true }) } : { ...datastore },
  };
  const checked = checkConfig({ ...json, nodeName: 'node' });
  // Normalized CIDRs (host bits cleared, IPv6 canonical), as the agent would read them.
  return { ...json, clusterCIDRs: checked.clusterCIDRs };
}
