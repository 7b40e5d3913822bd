// The agent's Kubernetes API rights: exactly the requests src/datastore/kubernetes.ts makes, no more.
// test/rbac.priv.test.ts runs the agent with a token of this role against a real API server with RBAC
// on, so a request the agent makes that this list lacks fails there (and a right it never uses shows
// up here as one no code needs).
import type { V1PolicyRule } from '@kubernetes/client-node';

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
