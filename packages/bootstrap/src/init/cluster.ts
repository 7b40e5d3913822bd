// What a running cluster says its pod network is, for `netboot join`: kubeadm's ClusterConfiguration
// (the kube-system/kubeadm-config ConfigMap that `kubeadm init` uploads, which nodes may read) and the
// agent's config (netboot-system/netboot-config, from init's manifests). Read with kubectl.
import { execFileSync } from 'node:child_process';
import { KubeadmConfigConflictError } from './errors.js';
import type { DatastoreKind, InitMode, PlanOptions } from './types.js';

export interface ClusterSettings {
  /** kubeadm's ClusterConfiguration text, labelled for messages. */
  kubeadmConfig?: { text: string; path: string };
  mode?: InitMode;
  datastore?: DatastoreKind;
  etcdEndpoints?: string[];
}

/** `kubectl get configmap NAME -n NS -o jsonpath={.data.KEY}`, or undefined when it is not there. */
function configMapKey(kubectl: string, kubeconfig: string, namespace: string, name: string, key: string): string | undefined {
  try {
    const out = execFileSync(
      kubectl,
      ['--kubeconfig', kubeconfig, '--request-timeout=10s', '-n', namespace, 'get', 'configmap', name, '-o', `jsonpath={.data.${key.replaceAll('.', '\\.')}}`],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 },
    );
    return out === '' ? undefined : out;
  } catch (err) {
    if (/NotFound|not found/.test(String((err as { stderr?: string }).stderr))) return undefined;
    throw err;
  }
}

/** The cluster's settings through `kubeconfig`; throws when the API server does not answer. */
export function readClusterSettings(kubectl: string, kubeconfig: string): ClusterSettings {
  const out: ClusterSettings = {};
  const text = configMapKey(kubectl, kubeconfig, 'kube-system', 'kubeadm-config', 'ClusterConfiguration');
  if (text !== undefined) out.kubeadmConfig = { text, path: 'the cluster’s kube-system/kubeadm-config' };
  const agent = configMapKey(kubectl, kubeconfig, 'netboot-system', 'netboot-config', 'agent.json');
  if (agent !== undefined) {
    const json = JSON.parse(agent) as { mode?: InitMode; datastore?: { type?: DatastoreKind; endpoints?: string[] } };
    if (json.mode !== undefined) out.mode = json.mode;
    if (json.datastore?.type !== undefined) out.datastore = json.datastore.type;
    if (json.datastore?.endpoints !== undefined) out.etcdEndpoints = json.datastore.endpoints;
  }
  return out;
}

/**
 * join's plan options: the flags, with the cluster's settings where the flags say nothing. A flag that
 * disagrees with the cluster is refused (kubeadm's podSubnet is checked by plan itself).
 */
export function withClusterSettings(flags: PlanOptions, cluster: ClusterSettings): PlanOptions {
  const merged: PlanOptions = { ...flags, role: 'join' };
  if (cluster.kubeadmConfig !== undefined) merged.kubeadmConfig = cluster.kubeadmConfig;
  for (const key of ['mode', 'datastore'] as const) {
    const theirs = cluster[key];
    if (theirs === undefined) continue;
    if (flags[key] !== undefined && flags[key] !== theirs)
      throw new KubeadmConfigConflictError(
        `--${key} ${flags[key]} but the cluster's netboot-config says ${theirs}: drop the flag, or change the cluster first`,
      );
    (merged as Record<string, unknown>)[key] = theirs;
  }
  if (flags.etcdEndpoints === undefined && cluster.etcdEndpoints !== undefined) merged.etcdEndpoints = cluster.etcdEndpoints;
  return merged;
}
