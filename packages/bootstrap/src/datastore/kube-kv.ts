// @netboot/ipam's KvStore on the Kubernetes API, so ClusterIpam can hand out node subnets in a cluster
// whose only datastore is the API server: every entry lives in one ConfigMap (`kube-system/netboot-ipam`)
// as JSON `{"revision": "N", "entries": {"<key>": {"value", "revision"}}}`. A commit is a read, a check of
// every expected revision, and a replace guarded by the ConfigMap's resourceVersion — the API server's
// optimistic concurrency stands in for etcd's transaction, so two writers never both win; a replace that
// loses (409) is re-read and checked again. One object bounds the store at ~1 MiB: enough for the pools,
// blocks and affinities of thousands of nodes (pod IPs are allocated on the node, not here).
import { ApiException, type CoreV1Api, type V1ConfigMap } from '@kubernetes/client-node';
import { type KvEntry, type KvOp, type KvRead, type KvStore, KvConflictError, KvUnavailableError } from '@netboot/ipam';

const DATA_KEY = 'kv';

interface Stored {
  revision: string;
  entries: Record<string, { value: string; revision: string }>;
}

export interface ConfigMapKvOptions {
  /** Default `kube-system`. */
  namespace?: string;
  /** Default `netboot-ipam`. */
  name?: string;
  /** For messages: the API server's URL. */
  server?: string;
}

export class ConfigMapKv implements KvStore {
  readonly #api: CoreV1Api;
  readonly #namespace: string;
  readonly #name: string;
  readonly #where: string;

  constructor(api: CoreV1Api, opts: ConfigMapKvOptions = {}) {
    this.#api = api;
    this.#namespace = opts.namespace ?? 'kube-system';
    this.#name = opts.name ?? 'netboot-ipam';
    this.#where = `ConfigMap ${this.#namespace}/${this.#name} on ${opts.server ?? 'the API server'}`;
  }

  async get(key: string): Promise<KvEntry | undefined> {
    return (await this.readMany([{ key }]))[0]![0];
  }

  async list(prefix: string): Promise<KvEntry[]> {
    return (await this.readMany([{ prefix }]))[0]!;
  }

  async readMany(reads: readonly KvRead[]): Promise<KvEntry[][]> {
    const { stored } = await this.#read();
    return reads.map((r) => answer(stored, r));
  }

  async commit(ops: KvOp[], opts: { onConflict?: readonly KvRead[] } = {}): Promise<bigint> {
    for (;;) {
      const { stored, map } = await this.#read();
      for (const op of ops) {
        if (op.expectRevision === undefined) continue;
        const have = stored.entries[op.key];
        if (op.expectRevision === 0n ? have !== undefined : have?.revision !== String(op.expectRevision)) {
          const err = new KvConflictError(op.key);
          if (opts.onConflict !== undefined) err.reads = opts.onConflict.map((r) => answer(stored, r));
          throw err;
        }
      }
      const revision = String(BigInt(stored.revision) + 1n);
      for (const op of ops) {
        if (op.op === 'put') stored.entries[op.key] = { value: op.value, revision };
        else delete stored.entries[op.key];
      }
      stored.revision = revision;
      const body: V1ConfigMap = { ...map, data: { [DATA_KEY]: JSON.stringify(stored) } };
      try {
        // kubectl replace (with metadata.resourceVersion: refused with 409 if anyone wrote since the read)
        if (map.metadata?.resourceVersion === undefined) await this.#api.createNamespacedConfigMap({ namespace: this.#namespace, body });
        else await this.#api.replaceNamespacedConfigMap({ name: this.#name, namespace: this.#namespace, body });
        return BigInt(revision);
      } catch (e) {
        if (e instanceof ApiException && e.code === 409) continue; // another writer won: check again on its result
        throw this.#unavailable(e);
      }
    }
  }

  async close(): Promise<void> {}

  /** The store as of now (an empty one when the ConfigMap does not exist yet). */
  async #read(): Promise<{ stored: Stored; map: V1ConfigMap }> {
    let map: V1ConfigMap;
    try {
      map = await this.#api.readNamespacedConfigMap({ name: this.#name, namespace: this.#namespace });
    } catch (e) {
      if (!(e instanceof ApiException && e.code === 404)) throw this.#unavailable(e);
      return {
        stored: { revision: '0', entries: {} },
        map: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: this.#name, namespace: this.#namespace } },
      };
    }
    const text = map.data?.[DATA_KEY];
    return { stored: text === undefined ? { revision: '0', entries: {} } : (JSON.parse(text) as Stored), map };
  }

  #unavailable(e: unknown): Error {
    // Refusals (403: the agent's RBAC lacks configmaps) are not retried away as outages are.
    if (e instanceof ApiException && e.code < 500 && e.code !== 429) return e;
    return new KvUnavailableError(this.#where, e);
  }
}

function answer(stored: Stored, read: KvRead): KvEntry[] {
  const entry = (key: string): KvEntry => ({ key, value: stored.entries[key]!.value, revision: BigInt(stored.entries[key]!.revision) });
  if ('key' in read) return stored.entries[read.key] === undefined ? [] : [entry(read.key)];
  return Object.keys(stored.entries)
    .filter((k) => k.startsWith(read.prefix))
    .sort()
    .map(entry);
}
