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
export function datastoreFix(c: DatastoreChoice): string {
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

/** ClusterIpam on the agents' etcd (the same key layout the etcd datastore uses), and its closer. */
export async function openClusterIpam(c: Extract<DatastoreChoice, { type: 'etcd' }>): Promise<{ ipam: ClusterIpam; close(): Promise<void> }> {
  const [{ ClusterIpam }, { EtcdKv }] = await Promise.all([import('@netboot/ipam'), import('@netboot/ipam/etcd')]);
  const kv = await EtcdKv.open({ endpoints: c.endpoints, prefix: c.prefix ?? '', callTimeoutMs: 5_000 });
  return { ipam: new ClusterIpam(kv), close: () => kv.close() };
}
