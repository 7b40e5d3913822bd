// The Kubernetes datastore: this node's pod subnets are its Node's `spec.podCIDRs`, assigned by
// kube-controller-manager's node IPAM (`--allocate-node-cidrs`); its record is published as annotations
// on its Node (`netboot.io/node-ips`, `netboot.io/vtep-mac`, `netboot.io/mode`); peers come from a
// list of Nodes followed by a watch from the list's resourceVersion, the version kept current from
// every event and bookmark. A watch that ends is resumed from that version; `410 Gone` (the version
// was compacted away) means a fresh list — a `sync`; errors back off. Client: @kubernetes/client-node
// with a kubeconfig, or the in-cluster service account. With `clusterIpam` the subnets come from
// netboot's ClusterIpam on a ConfigMap (kube-kv.ts) instead, and are published as an annotation too.
import { ApiException, CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions, type V1Node, Watch } from '@kubernetes/client-node';
import { normalizeIp } from '@netboot/core/ip';
import type { IpPoolSpec } from '@netboot/ipam';
import { Backoff, pause, reasonOf } from './backoff.js';
import { type Channel, produced } from './channel.js';
import { claimLease } from './cluster-lease.js';
import { ConfigMapKv, type ConfigMapKvOptions } from './kube-kv.js';
import { checkRecord, complete, eventFor, leaseFor } from './records.js';
import { abortReason, type Datastore, type NodeLease, type NodeRecord, type PeerEvent } from './types.js';

const ANNOTATIONS = {
  nodeIPs: 'netboot.io/node-ips',
  vtepMac: 'netboot.io/vtep-mac',
  mode: 'netboot.io/mode',
  /** The agent's health summary as compact JSON (`{"ready":true,"reconciledAt":"…","errors":0}`). */
  health: 'netboot.io/health',
  /** Only with ClusterIpam as the source: the node's subnets, which spec.podCIDRs then does not hold. */
  podCIDRs: 'netboot.io/pod-cidrs',
} as const;

export interface KubernetesDatastoreOptions {
  /** This node's name (its Node object's). */
  node: string;
  /** A kubeconfig file; default `$KUBECONFIG`, `~/.kube/config`, or the in-cluster service account. */
  kubeconfig?: string;
  /**
   * Create this node's Node object when it does not exist (for setups without a kubelet, like the
   * lab); default false: the kubelet registers nodes.
   */
  register?: boolean;
  /**
   * Take the node's subnets from netboot's ClusterIpam instead of spec.podCIDRs (for clusters whose
   * controller manager does not allocate node CIDRs, or that want pools: several, disabled, NAT per
   * pool). Its store is a ConfigMap (ConfigMapKv, default `kube-system/netboot-ipam`); `pools` are
   * created there once per cluster. The subnets are published as the annotation `netboot.io/pod-cidrs`.
   */
  clusterIpam?: { pools: IpPoolSpec[] } & ConfigMapKvOptions;
}

export class KubernetesDatastore implements Datastore {
  readonly kind = 'kubernetes' as const;
  readonly #opts: KubernetesDatastoreOptions;
  readonly #config: KubeConfig;
  readonly #api: CoreV1Api;
  readonly #closing = new AbortController();

  constructor(opts: KubernetesDatastoreOptions) {
    this.#opts = opts;
    this.#config = new KubeConfig();
    if (opts.kubeconfig !== undefined) this.#config.loadFromFile(opts.kubeconfig);
    else this.#config.loadFromDefault();
    this.#api = this.#config.makeApiClient(CoreV1Api);
  }

  leases(signal: AbortSignal): AsyncIterable<NodeLease> {
    if (this.#opts.clusterIpam !== undefined) return produced(signal, (out, s) => this.#clusterLeases(this.#opts.clusterIpam!, out, s));
    return produced(signal, async (out, s) => {
      const backoff = new Backoff({ maxMs: 2_000 });
      const name = this.#opts.node;
      let last: string | undefined;
      while (!s.aborted) {
        let version: string | undefined;
        try {
          const node = await this.#readOrRegister(name);
          version = node.metadata?.resourceVersion;
          const cidrs = podCIDRsOf(node);
          // None yet: the controller manager assigns them within seconds of the Node's creation.
          if (cidrs.length > 0 && JSON.stringify(cidrs) !== last) {
            out.push(leaseFor(cidrs));
            last = JSON.stringify(cidrs);
          }
        } catch (e) {
          // A missing Node is one the kubelet has not registered yet (or one deleted to be re-created):
          // wait for it like for its CIDRs. The lease last given stays until a Node says otherwise.
          if (!isTransient(e) && !(e instanceof ApiException && e.code === 404)) throw e;
        }
        // spec.podCIDRs is set once per Node object; it changes only with a re-created Node. Wait for
        // an event on this Node, or back off while it is missing or the API server is away.
        if (version === undefined || !(await this.#changed(`/api/v1/nodes`, name, version, s))) await pause(backoff.next(), s);
        else backoff.reset();
      }
    });
  }

  async publish(record: NodeRecord, signal?: AbortSignal): Promise<void> {
    const annotations: Record<string, string | null> = {
      [ANNOTATIONS.nodeIPs]: record.nodeIPs.join(','),
      [ANNOTATIONS.vtepMac]: record.vtepMac ?? null,
      [ANNOTATIONS.mode]: record.mode ?? null,
      [ANNOTATIONS.health]: record.health === undefined ? null : JSON.stringify(record.health),
      ...(this.#opts.clusterIpam !== undefined && { [ANNOTATIONS.podCIDRs]: record.podCIDRs.join(',') }),
    };
    const backoff = new Backoff();
    for (;;) {
      try {
        // kubectl annotate node NAME netboot.io/node-ips=… netboot.io/vtep-mac=… --overwrite
        await this.#api.patchNode({ name: record.name, body: { metadata: { annotations } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
        return;
      } catch (e) {
        if (!isTransient(e)) throw e;
        const stop = signal === undefined ? this.#closing.signal : AbortSignal.any([signal, this.#closing.signal]);
        if (!(await pause(backoff.next(), stop))) throw abortReason(stop, `publishing Node ${record.name}`);
      }
    }
  }

  watch(signal: AbortSignal): AsyncIterable<PeerEvent> {
    return produced(signal, (out, s) => this.#watchLoop(out, s));
  }

  async close(): Promise<void> {
    this.#closing.abort();
  }

  async #readOrRegister(name: string): Promise<V1Node> {
    try {
      return await this.#api.readNode({ name });
    } catch (e) {
      if (!(e instanceof ApiException && e.code === 404 && this.#opts.register)) throw e;
      return await this.#api.createNode({ body: { apiVersion: 'v1', kind: 'Node', metadata: { name } } });
    }
  }

  /**
   * Leases from ClusterIpam on the ConfigMap store: a claim (retried while the API server is away), then
   * a wait for the ConfigMap to change (a pool added, disabled or deleted, a block claimed) from the
   * version read before the claim, so nothing since is missed.
   */
  async #clusterLeases(opts: NonNullable<KubernetesDatastoreOptions['clusterIpam']>, out: Channel<NodeLease>, signal: AbortSignal): Promise<void> {
    const kv = new ConfigMapKv(this.#api, { ...opts, server: this.#config.getCurrentCluster()?.server });
    const namespace = opts.namespace ?? 'kube-system';
    const name = opts.name ?? 'netboot-ipam';
    const backoff = new Backoff({ maxMs: 5_000 });
    let last: string | undefined;
    let registered = this.#opts.register !== true;
    while (!signal.aborted) {
      let version: string | undefined;
      try {
        // The record is published on the Node: without a kubelet it is made here, as for spec.podCIDRs.
        if (!registered) registered = (await this.#readOrRegister(this.#opts.node)) !== undefined;
        version = await this.#api.readNamespacedConfigMap({ name, namespace }).then(
          (m) => m.metadata?.resourceVersion,
          (e: unknown) => {
            if (e instanceof ApiException && e.code === 404) return undefined; // the first claim creates it
            throw e;
          },
        );
        const lease = await claimLease(kv, this.#opts.node, opts.pools);
        if (JSON.stringify(lease) !== last) out.push(lease);
        last = JSON.stringify(lease);
      } catch (e) {
        // ClusterIpam's own errors say by their kind (exhausted, invalid: for good); the API's by status.
        const kind = (e as { kind?: string }).kind;
        if (kind !== undefined ? kind !== 'unavailable' && kind !== 'conflict' : !isTransient(e)) throw e;
        version = undefined;
      }
      if (version === undefined || !(await this.#changed(`/api/v1/namespaces/${namespace}/configmaps`, name, version, signal)))
        await pause(backoff.next(), signal);
      else backoff.reset();
    }
  }

  /**
   * Waits for the next event on object `name` at `path` (a list URL: Nodes, a namespace's ConfigMaps)
   * after `version` (`kubectl get … NAME --watch`), a minute at most; false when the watch failed at
   * once (retry after a backoff), true otherwise.
   */
  async #changed(path: string, name: string, version: string, signal: AbortSignal): Promise<boolean> {
    let settle: (ok: boolean) => void = () => undefined;
    const done = new Promise<boolean>((resolve) => {
      settle = resolve;
    });
    const timer = setTimeout(() => settle(true), 60_000);
    const onAbort = () => settle(true);
    signal.addEventListener('abort', onAbort, { once: true });
    let controller: AbortController | undefined;
    try {
      controller = await new Watch(this.#config).watch(
        path,
        { fieldSelector: `metadata.name=${name}`, resourceVersion: version },
        (type: string, obj: { code?: number }) => settle(!(type === 'ERROR' && obj.code !== 410)),
        (err: unknown) => settle(err === null || err === undefined),
      );
      return await done;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      controller?.abort();
    }
  }

  async #watchLoop(out: Channel<PeerEvent>, signal: AbortSignal): Promise<void> {
    const backoff = new Backoff();
    let version: string | undefined; // undefined: list first
    while (!signal.aborted) {
      let reason: string | undefined;
      try {
        if (version === undefined) {
          const list = await this.#api.listNode();
          out.push({ type: 'sync', peers: list.items.map(recordOf).filter(complete) });
          version = list.metadata?.resourceVersion ?? '0';
        }
        const end = await this.#watchFrom(version, out, signal, (v) => {
          version = v;
        });
        if (end === 'gone')
          version = undefined; // compacted: list again, at once
        else if (end !== 'ended') reason = end;
        if (end === 'ended') backoff.reset(); // the server closes watches now and then: resume
      } catch (e) {
        reason = `cannot list Nodes from ${this.#config.getCurrentCluster()?.server ?? 'the API server'}: ${reasonOf(e)}`;
      }
      if (reason === undefined || signal.aborted) continue;
      const retryMs = backoff.next();
      out.push({ type: 'waiting', reason, retryMs });
      await pause(retryMs, signal);
    }
  }

  /** One watch from `version`: 'ended' (closed cleanly), 'gone' (410), or why it failed. */
  async #watchFrom(version: string, out: Channel<PeerEvent>, signal: AbortSignal, seen: (version: string) => void): Promise<string> {
    let settle: (end: string) => void = () => undefined;
    const ended = new Promise<string>((resolve) => {
      settle = resolve;
    });
    const onEvent = (type: string, obj: V1Node & { code?: number; message?: string }) => {
      if (type === 'ERROR') return settle(obj.code === 410 ? 'gone' : `the watch failed: ${obj.message ?? JSON.stringify(obj)}`);
      const v = obj.metadata?.resourceVersion;
      if (v !== undefined) seen(v);
      if (type === 'ADDED' || type === 'MODIFIED') out.push(eventFor(recordOf(obj)));
      else if (type === 'DELETED' && obj.metadata?.name !== undefined) out.push({ type: 'remove', name: obj.metadata.name });
    };
    const onDone = (err: unknown) => {
      if (err === null || err === undefined) return settle('ended');
      settle((err as { statusCode?: number }).statusCode === 410 ? 'gone' : `the watch failed: ${reasonOf(err)}`);
    };
    const controller = await new Watch(this.#config).watch('/api/v1/nodes', { resourceVersion: version, allowWatchBookmarks: true }, onEvent, onDone);
    const onAbort = () => settle('ended');
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) settle('ended'); // aborted while the watch was being opened
    try {
      return await ended;
    } finally {
      signal.removeEventListener('abort', onAbort);
      controller.abort();
    }
  }
}

function podCIDRsOf(node: V1Node): string[] {
  return node.spec?.podCIDRs ?? (node.spec?.podCIDR !== undefined ? [node.spec.podCIDR] : []);
}

/** A Node as a record: its annotations, else its InternalIP addresses; incomplete (never thrown) when unusable. */
function recordOf(node: V1Node): NodeRecord {
  const name = node.metadata?.name ?? '';
  const a = node.metadata?.annotations ?? {};
  const annotated = a[ANNOTATIONS.nodeIPs]?.split(',').filter((s) => s !== '');
  const internal = (node.status?.addresses ?? []).filter((x) => x.type === 'InternalIP').map((x) => x.address);
  try {
    return checkRecord(
      {
        name,
        nodeIPs: annotated ?? internal.map((ip) => normalizeIp(ip)),
        podCIDRs: a[ANNOTATIONS.podCIDRs]?.split(',').filter((s) => s !== '') ?? podCIDRsOf(node),
        vtepMac: a[ANNOTATIONS.vtepMac],
        mode: a[ANNOTATIONS.mode],
        health: parseJson(a[ANNOTATIONS.health]),
      },
      `Node ${name}`,
    );
  } catch {
    return { name, nodeIPs: [], podCIDRs: [] };
  }
}

/** An annotation's JSON, or undefined when absent or not JSON (checkRecord drops a bad health summary). */
function parseJson(text: string | undefined): unknown {
  try {
    return text === undefined ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The API server unreachable, overloaded or restarting: retry. Refusals (403, 422 …) are not. */
function isTransient(e: unknown): boolean {
  if (e instanceof ApiException) return e.code === 429 || e.code >= 500;
  return true; // connection refused, reset, TLS handshake against a restarting server …
}
