// The agent's Kubernetes API rights: exactly the requests src/datastore/kubernetes.ts makes, no more.
// test/rbac.priv.test.ts runs the agent with a token of this role against a real API server with RBAC
// on, so a request the agent makes that this list lacks fails there (and a right it never uses shows
// up here as one no code needs).
import type { V1PolicyRule } from '@kubernetes/client-node';

/** Where `--cluster-ipam` keeps ClusterIpam's pools and blocks (datastore/kube-kv.ts's defaults). */
export const IPAM_CONFIGMAP = { namespace: 'kube-system', name: 'netboot-ipam' } as const;

/**
 * `kubectl create clusterrole netboot --verb=get,list,watch,patch --resource=nodes` — for the
 * Kubernetes datastore:
 * - `get nodes`: lease() reads this node's Node for `spec.podCIDRs` (kube-controller-manager assigns them);
 * - `list`, `watch nodes`: the peers (a list, then a watch from its resourceVersion);
 * - `patch nodes`: publish() merge-patches this node's `netboot.io/*` annotations.
 *
 * Not granted: `create nodes` (`--register-node`, for setups without a kubelet such as the lab; in a
 * cluster the kubelet registers its Node), `nodes/status`, events, and everything else.
 * RBAC cannot narrow `patch` to the agent's own Node (resourceNames are fixed names) nor to some
 * fields: node-policy.ts's admission policy does.
 */
export const AGENT_RULES: readonly V1PolicyRule[] = [{ apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch', 'patch'] }];

/**
 * `kubectl -n kube-system create role netboot-ipam --verb=get,update --resource=configmaps
 * --resource-name=netboot-ipam` plus `--verb=create --resource=configmaps` — only with `clusterIpam`, whose
 * store (datastore/kube-kv.ts) reads, replaces and, the first time, creates that one ConfigMap. `create`
 * cannot name its object (RBAC checks resourceNames only on requests that carry one), so it is granted
 * in kube-system alone, by a Role, never cluster-wide.
 */
export const IPAM_RULES: readonly V1PolicyRule[] = [
  { apiGroups: [''], resources: ['configmaps'], resourceNames: [IPAM_CONFIGMAP.name], verbs: ['get', 'update'] },
  { apiGroups: [''], resources: ['configmaps'], verbs: ['create'] },
];
