// Where the operator commands read the cluster: the agents' datastore (file, etcd, Kubernetes) for
// node records, and, on etcd, @netboot/ipam's ClusterIpam for pools, blocks and pod IPs. Options are
// the agent's own names (`--datastore`, `--nodes-file`, `--etcd-endpoint`, `--etcd-prefix`,
// `--kubeconfig`), so a command line that works for the agent works here.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { NetbootError } from '@netboot/core/errors';
import type { ClusterIpam } from '@netboot/ipam';
import { type Options, UsageError } from '../cli/args.js';
import type { NodeRecord } from '../datastore/types.js';

export type DatastoreChoice =
  | { type: 'file'; path: string }
  | { type: 'etcd'; endpoints: string[]; prefix?: string }
  | { type: 'kubernetes'; kubeconfig?: string };

/** The datastore options every operator command accepts (for Options.parse's `allowed`). */
export const DATASTORE_OPTIONS = ['datastore', 'nodes-file', 'etcd-endpoint', 'etcd-prefix', 'kubeconfig'] as const;

export const DATASTORE_USAGE = `datastore (as the agent's): --datastore file|etcd|kubernetes   default: etcd when --etcd-endpoint is
  given, file when --nodes-file is, else kubernetes
  --nodes-file FILE  --etcd-endpoint URL (repeatable)  --etcd-prefix P  --kubeconfig FILE`;

/** What a command line says about the datastore; a UsageError (exit 2) when it does not add up. */
export function chooseDatastore(opts: Options): DatastoreChoice {
  const bad = (why: string) => new UsageError(why);
  const endpoints = opts.all('etcd-endpoint');
  const path = opts.get('nodes-file');
  const type = opts.get('datastore') ?? (endpoints.length > 0 ? 'etcd' : path !== undefined ? 'file' : 'kubernetes');
  switch (type) {
    case 'file':
      if (path === undefined) throw bad('--datastore file needs --nodes-file FILE (the agents’ nodes file)');
      return { type, path };
    case 'etcd': {
      if (endpoints.length === 0) throw bad('--datastore etcd needs --etcd-endpoint URL (e.g. http://127.0.0.1:2379)');
      const badUrl = endpoints.find((e) => !/^https?:\/\/./.test(e));
      if (badUrl !== undefined) throw bad(`--etcd-endpoint ${badUrl} is not an etcd client URL (http://HOST:2379)`);
      const prefix = opts.get('etcd-prefix');
      return { type, endpoints, ...(prefix !== undefined && { prefix }) };
    }
    case 'kubernetes': {
      const kubeconfig = opts.get('kubeconfig');
      return { type, ...(kubeconfig !== undefined && { kubeconfig }) };
    }
    default:
      throw bad(`--datastore ${type}: expected file | etcd | kubernetes`);
  }
}

/** The datastore did not answer in time (exit 1, with what to check). */
class DatastoreUnreachableError extends NetbootError {
  readonly kind = 'unavailable' as const;
}

/** What to do when a datastore cannot be read: check it, or point the command at another. */
function datastoreFix(c: DatastoreChoice): string {
  switch (c.type) {
    case 'file':
      return `check that ${c.path} is the agents' nodes file, or give --nodes-file FILE`;
    case 'etcd':
      return `check that etcd answers (etcdctl --endpoints ${c.endpoints.join(',')} endpoint health), or give the right --etcd-endpoint URL`;
    case 'kubernetes':
      return `check that the API server answers (kubectl${c.kubeconfig ? ` --kubeconfig ${c.kubeconfig}` : ''} get nodes), or give --kubeconfig FILE (e.g. /etc/kubernetes/admin.conf), set $KUBECONFIG, or use --datastore etcd --etcd-endpoint URL`;
  }
}

const IN_CLUSTER_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * The kubeconfig a command will use, checked before any client is made: --kubeconfig FILE, else
 * \$KUBECONFIG, ~/.kube/config or the in-cluster service account (client-node's own order). Without
 * this, client-node falls back to http://localhost:8080 and fails with a TLS complaint that names none
 * of what was tried. `file` is undefined when client-node's default loading finds it.
 */
export function resolveKubeconfig(explicit?: string): { file?: string; source: string } {
  const fix = 'give --kubeconfig FILE (e.g. /etc/kubernetes/admin.conf), set $KUBECONFIG, or use --datastore etcd --etcd-endpoint URL';
  if (explicit !== undefined) {
    if (!existsSync(explicit)) throw new DatastoreUnreachableError(`kubeconfig ${explicit} does not exist: ${fix}`);
    return { file: explicit, source: explicit };
  }
  const env = (process.env.KUBECONFIG ?? '').split(delimiter).filter((f) => f !== '');
  if (env.length > 0) {
    if (env.some((f) => existsSync(f))) return { source: `$KUBECONFIG (${env.join(delimiter)})` };
    throw new DatastoreUnreachableError(`$KUBECONFIG names ${env.join(delimiter)}, and none of it exists: ${fix}`);
  }
  const home = join(homedir(), '.kube', 'config');
  if (existsSync(home)) return { source: home };
  if (process.env.KUBERNETES_SERVICE_HOST !== undefined && existsSync(IN_CLUSTER_TOKEN)) return { source: 'the in-cluster service account' };
  throw new DatastoreUnreachableError(
    `no kubeconfig to reach the Kubernetes API: tried --kubeconfig (not given), $KUBECONFIG (unset), ${home} (missing), the in-cluster service account (not in a pod).\n` +
      `Next: ${fix}`,
  );
}

/** Where a choice points, for messages: `etcd http://…`, `file /path`, `kubernetes`. */
export function describeDatastore(c: DatastoreChoice): string {
  return c.type === 'file' ? `file ${c.path}` : c.type === 'etcd' ? `etcd ${c.endpoints.join(',')}` : `kubernetes${c.kubeconfig ? ` (${c.kubeconfig})` : ''}`;
}

/**
 * Every complete node record (node IPs and pod CIDRs known), sorted by name: the first `sync` of the
 * datastore's own watch — exactly the peer set an agent would route. Fails after `timeoutMs` when the
 * datastore keeps saying it is unreachable.
 */
export async function listNodeRecords(choice: DatastoreChoice, timeoutMs = 10_000): Promise<NodeRecord[]> {
  const ds = await openDatastore(choice);
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), timeoutMs);
  let last = 'no answer';
  try {
    for await (const e of ds.watch(stop.signal)) {
      if (e.type === 'sync') return [...e.peers].sort((a, b) => a.name.localeCompare(b.name));
      if (e.type === 'waiting') last = e.reason;
    }
    throw new DatastoreUnreachableError(`${describeDatastore(choice)}: no node list within ${timeoutMs / 1000} s (${last}).\nNext: ${datastoreFix(choice)}`);
  } finally {
    clearTimeout(timer);
    stop.abort();
    await ds.close();
  }
}

async function openDatastore(c: DatastoreChoice) {
  // The node name only names what this process would publish, and it publishes nothing.
  const node = 'netboot-cli';
  switch (c.type) {
    case 'file': {
      const { FileDatastore } = await import('../datastore/file.js');
      return new FileDatastore({ node, path: c.path });
    }
    case 'etcd': {
      const { EtcdDatastore } = await import('../datastore/etcd.js');
      return new EtcdDatastore({ node, endpoints: c.endpoints, ...(c.prefix !== undefined && { prefix: c.prefix }) });
    }
    case 'kubernetes': {
      const { file, source } = resolveKubeconfig(c.kubeconfig);
      const { KubernetesDatastore } = await import('../datastore/kubernetes.js');
      try {
        return new KubernetesDatastore({ node, ...(file !== undefined && { kubeconfig: file }) });
      } catch (e) {
        throw new DatastoreUnreachableError(`kubeconfig ${source} is not usable (${(e as Error).message}).\nNext: ${datastoreFix(c)}`);
      }
    }
  }
}

/** A datastore that can hold netboot's ClusterIpam: etcd, or the Kubernetes API (a ConfigMap). */
export type ClusterStoreChoice = Extract<DatastoreChoice, { type: 'etcd' | 'kubernetes' }>;

/** Where the agents keep ClusterIpam on Kubernetes (`netboot agent --cluster-ipam`): ConfigMapKv's defaults. */
const IPAM_CONFIGMAP = 'kube-system/netboot-ipam';

export interface OpenedClusterIpam {
  ipam: ClusterIpam;
  /** For messages: `etcd http://…` or `ConfigMap kube-system/netboot-ipam on https://…`. */
  store: string;
  /**
   * On Kubernetes when the pools ConfigMap does not exist: a sentence saying where the cluster's pod
   * subnets come from instead (kube-controller-manager's node IPAM), for a `pool list` that is empty.
   */
  noPoolsBecause(): Promise<string | undefined>;
  close(): Promise<void>;
}

/**
 * ClusterIpam on the agents' etcd (the same key layout the etcd datastore uses), or on Kubernetes in the
 * ConfigMap the agents keep it in with --cluster-ipam (`kubectl -n kube-system get configmap netboot-ipam`).
 */
export async function openClusterIpam(c: ClusterStoreChoice): Promise<OpenedClusterIpam> {
  const { ClusterIpam } = await import('@netboot/ipam');
  if (c.type === 'etcd') {
    const { EtcdKv } = await import('@netboot/ipam/etcd');
    const kv = await EtcdKv.open({ endpoints: c.endpoints, prefix: c.prefix ?? '', callTimeoutMs: 5_000 });
    return { ipam: new ClusterIpam(kv), store: describeDatastore(c), noPoolsBecause: async () => undefined, close: () => kv.close() };
  }
  const { file, source } = resolveKubeconfig(c.kubeconfig);
  const [{ CoreV1Api, KubeConfig }, { ConfigMapKv }] = await Promise.all([import('@kubernetes/client-node'), import('../datastore/kube-kv.js')]);
  const kc = new KubeConfig();
  try {
    if (file === undefined) kc.loadFromDefault();
    else kc.loadFromFile(file);
  } catch (e) {
    throw new DatastoreUnreachableError(`kubeconfig ${source} is not usable (${(e as Error).message}).\nNext: ${datastoreFix(c)}`);
  }
  const api = kc.makeApiClient(CoreV1Api);
  const server = kc.getCurrentCluster()?.server;
  const [namespace, name] = IPAM_CONFIGMAP.split('/') as [string, string];
  return {
    ipam: new ClusterIpam(new ConfigMapKv(api, { namespace, name, ...(server !== undefined && { server }) })),
    store: `ConfigMap ${IPAM_CONFIGMAP} on ${server ?? 'the API server'}`,
    async noPoolsBecause() {
      try {
        await api.readNamespacedConfigMap({ namespace, name });
        return undefined;
      } catch (e) {
        if ((e as { code?: number }).code !== 404)
          throw new DatastoreUnreachableError(`cannot read ConfigMap ${IPAM_CONFIGMAP}: ${(e as Error).message.split('\n')[0]}.\nNext: ${datastoreFix(c)}`);
      }
      const nodes = (await api.listNode()).items;
      const assigned = nodes.filter((n) => (n.spec?.podCIDRs?.length ?? 0) > 0 || n.spec?.podCIDR !== undefined);
      return (
        `no netboot pools: ConfigMap ${IPAM_CONFIGMAP} does not exist, so the agents do not run with --cluster-ipam. ` +
        (assigned.length > 0
          ? `This cluster's pod subnets come from kube-controller-manager's node IPAM (--allocate-node-cidrs, --cluster-cidr): ${assigned.length} of ${nodes.length} Node(s) have spec.podCIDRs (kubectl get nodes -o custom-columns=NAME:.metadata.name,CIDRS:.spec.podCIDRs). `
          : `No Node has spec.podCIDRs either (${nodes.length} Node(s)). `) +
        `To manage pools here, run the agents with --cluster-ipam, or add one: netboot pool add CIDR --datastore kubernetes`
      );
    },
    close: async () => {},
  };
}
