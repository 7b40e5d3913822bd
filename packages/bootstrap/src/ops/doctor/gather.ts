// `netboot doctor`'s eyes: reads what judge.ts judges — the CNI dirs and lease file under `root`, the
// datastore (this node's record and its peers, the pools), kubeadm's podSubnet (a config file or the
// kubeadm-config ConfigMap) and the Node's spec.podCIDRs, the kernel's links, routes, nexthops,
// neighbours, FDB and sysctls (in `netns` when given), the node-local reservations and libcni's cache.
// Each part fails alone: its facts then carry the reason and its checks are skipped or fail in words.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { isNotFound, Rtnl, sysctlGet } from '@netboot/core';
import { discoverNode, type ModeName } from '@netboot/routes';
import { modeOf } from '../../agent/agent.js';
import { readCniCache } from '../cni-cache.js';
import { type DatastoreChoice, describeDatastore, listNodeRecords, openClusterIpam, resolveKubeconfig } from '../datastore.js';
import { readLeaseView } from '../lease.js';
import type { ClusterFacts, CniFacts, ConfFile, KernelFacts, LeakFacts, LeaseFacts } from './facts.js';

const reason = (e: unknown) => (e as Error).message;

/** The plugins and network configs: `binDir` and `confDir`, default `<root>/opt/cni/bin` and `<root>/etc/cni/net.d`. */
export function gatherCni(root: string, o: { from?: string; binDir?: string; confDir?: string } = {}): CniFacts {
  const binDir = o.binDir ?? join(root, 'opt/cni/bin');
  const confDir = o.confDir ?? join(root, 'etc/cni/net.d');
  const from = o.from;
  let names: string[] = [];
  try {
    names = readdirSync(confDir);
  } catch {}
  // libcni reads *.conf, *.conflist and *.json, sorted by name; the runtime takes the first.
  const files = names
    .filter((n) => /\.(conf|conflist|json)$/.test(n))
    .sort()
    .map((file) => readConf(confDir, file));
  const own = files.find((c) => c.types[0] === 'netboot');
  const binaries: Record<string, boolean> = {};
  for (const t of new Set(['netboot', ...(own?.types ?? [])])) binaries[t] = isExecutable(join(binDir, t));
  const facts: CniFacts = { binDir, confDir, files, binaries };
  if (binaries.netboot) facts.installedSha256 = sha256(join(binDir, 'netboot'));
  if (from !== undefined) {
    const path = [join(from, 'netboot'), join(from, 'netboot.cjs')].find((p) => existsSync(p)) ?? join(from, 'netboot');
    if (existsSync(path)) facts.expectedSha256 = { path, sha256: sha256(path) };
  }
  return facts;
}

function readConf(dir: string, file: string): ConfFile {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Record<string, unknown>;
    if (typeof raw !== 'object' || raw === null) throw new Error('not a JSON object');
  } catch (e) {
    return { file, types: [], error: reason(e) };
  }
  const plugins = (Array.isArray(raw.plugins) ? raw.plugins : [raw]) as Record<string, unknown>[];
  const conf: ConfFile = { file, types: plugins.map((p) => String(p?.type ?? '?')) };
  if (typeof raw.name === 'string') conf.name = raw.name;
  if (typeof raw.cniVersion === 'string') conf.cniVersion = raw.cniVersion;
  const net = plugins.find((p) => p?.type === 'netboot');
  if (net !== undefined) {
    const ipam = net.ipam as { ranges?: { subnet?: string }[][]; dataDir?: unknown; leaseFile?: unknown } | undefined;
    if (Array.isArray(ipam?.ranges)) conf.ranges = ipam.ranges.flat().map((r) => String(r?.subnet));
    if (typeof ipam?.dataDir === 'string') conf.dataDir = ipam.dataDir;
    if (typeof ipam?.leaseFile === 'string') conf.leaseFile = ipam.leaseFile;
    if (typeof net.mtu === 'number') conf.mtu = net.mtu;
    if (typeof net.bridge === 'string') conf.bridge = net.bridge;
  }
  return conf;
}

function isExecutable(path: string): boolean {
  try {
    const st = statSync(path);
    return st.isFile() && (st.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

export function gatherLease(path: string): LeaseFacts {
  try {
    return { path, ...readLeaseView(path) };
  } catch (e) {
    return { path, error: reason(e).replace(`node lease ${path}`, 'the lease file') };
  }
}

export interface ClusterSources {
  choice: DatastoreChoice;
  node: string;
  kubeadmConfig?: string;
  /** A kubeconfig to read the kubeadm-config ConfigMap and the Node with (the kubernetes datastore's, or --kubeconfig). */
  kubeconfig?: string | 'default';
}

export async function gatherCluster(s: ClusterSources): Promise<ClusterFacts> {
  const facts: ClusterFacts = { datastore: describeDatastore(s.choice), node: s.node, peers: [] };
  try {
    const records = await listNodeRecords(s.choice, 5_000);
    facts.peers = records.filter((r) => r.name !== s.node);
    const own = records.find((r) => r.name === s.node);
    if (own !== undefined) facts.record = own;
  } catch (e) {
    facts.error = reason(e);
  }
  if (s.choice.type === 'etcd' && facts.error === undefined) {
    const { ipam, close } = await openClusterIpam(s.choice);
    try {
      facts.pools = (await ipam.listPools()).map((p) => ({ name: p.name, cidr: p.cidr, disabled: p.disabled }));
    } catch (e) {
      facts.error = reason(e);
    } finally {
      await close();
    }
  }
  if (s.kubeadmConfig !== undefined) {
    try {
      const { loadAllYaml } = await import('@kubernetes/client-node');
      const docs = loadAllYaml(readFileSync(s.kubeadmConfig, 'utf8')) as { kind?: string; networking?: { podSubnet?: string } }[];
      const cc = docs.find((d) => d?.kind === 'ClusterConfiguration');
      if (cc?.networking?.podSubnet === undefined) facts.podSubnetError = `${s.kubeadmConfig} has no ClusterConfiguration with networking.podSubnet`;
      else facts.podSubnet = { cidrs: splitCidrs(cc.networking.podSubnet), source: s.kubeadmConfig };
    } catch (e) {
      facts.podSubnetError = `cannot read ${s.kubeadmConfig}: ${reason(e)}`;
    }
  }
  if (s.kubeconfig !== undefined) await readKubernetes(s, facts);
  return facts;
}

/** kube-system/kubeadm-config's networking.podSubnet (unless a file gave it) and the Node's spec.podCIDRs. */
async function readKubernetes(s: ClusterSources, facts: ClusterFacts): Promise<void> {
  const { CoreV1Api, KubeConfig, loadYaml } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  try {
    const { file } = resolveKubeconfig(s.kubeconfig === 'default' ? undefined : s.kubeconfig);
    if (file === undefined) kc.loadFromDefault();
    else kc.loadFromFile(file);
  } catch (e) {
    // Said once: the node list above failed on the same kubeconfig.
    if (!facts.error?.includes(reason(e))) facts.podSubnetError ??= `no usable kubeconfig: ${reason(e)}`;
    return;
  }
  const api = kc.makeApiClient(CoreV1Api);
  if (facts.podSubnet === undefined) {
    try {
      const cm = await api.readNamespacedConfigMap({ name: 'kubeadm-config', namespace: 'kube-system' });
      const cc = loadYaml<{ networking?: { podSubnet?: string } }>(cm.data?.ClusterConfiguration ?? '');
      if (cc?.networking?.podSubnet !== undefined) facts.podSubnet = { cidrs: splitCidrs(cc.networking.podSubnet), source: 'kube-system/kubeadm-config' };
    } catch (e) {
      // A cluster not made by kubeadm has no such ConfigMap: nothing to compare, not a problem.
      if ((e as { code?: number }).code !== 404) facts.podSubnetError ??= `cannot read kube-system/kubeadm-config: ${reason(e).split('\n')[0]}`;
    }
  }
  try {
    const node = await api.readNode({ name: s.node });
    facts.nodePodCIDRs = node.spec?.podCIDRs ?? (node.spec?.podCIDR ? [node.spec.podCIDR] : []);
  } catch (e) {
    facts.podSubnetError ??= `cannot read Node ${s.node}: ${reason(e).split('\n')[0]}`;
  }
}

function splitCidrs(list: string): string[] {
  return list
    .split(',')
    .map((c) => c.trim())
    .filter(Boolean);
}

export interface KernelSources {
  netns?: string;
  cluster: ClusterFacts;
  mode?: ModeName;
  vni?: number;
  vxlanPort?: number;
}

/** The kernel's side, read once (`ip -j link`, `ip -j route`, `ip -j nexthop`, `ip -j neigh`, `bridge -j fdb`, sysctl -n). */
export function gatherKernel(s: KernelSources): KernelFacts {
  const rtnl = Rtnl.open(s.netns === undefined ? {} : { netns: s.netns });
  try {
    const facts: KernelFacts = {
      ...(s.netns !== undefined && { netns: s.netns }),
      links: rtnl.link.list(),
      routes: rtnl.route.list({ table: 254 }),
      neighbours: rtnl.neigh.list().filter((n) => n.family !== 'bridge'),
      fdb: rtnl.neigh.list({ family: 'bridge' }),
      nexthops: [],
      sysctls: {},
    };
    try {
      facts.nexthops = rtnl.nexthop.list();
    } catch {} // a kernel without nexthop objects: routes are plain
    for (const key of ['net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding']) {
      try {
        facts.sysctls[key] = sysctlGet(key, s.netns === undefined ? {} : { netns: s.netns });
      } catch {
        facts.sysctls[key] = undefined;
      }
    }
    const record = s.cluster.record;
    if (record === undefined) {
      facts.nodeError = s.cluster.error ?? `node ${s.cluster.node} has no record in ${s.cluster.datastore}`;
      return facts;
    }
    const modeName = s.mode ?? (record.mode as ModeName | undefined) ?? 'vxlan';
    try {
      const mode = modeOf({ mode: modeName, ...(s.vni !== undefined && { vni: s.vni }), ...(s.vxlanPort !== undefined && { vxlanPort: s.vxlanPort }) });
      const node = discoverNode(rtnl, record);
      facts.node = node;
      facts.mode = mode.name;
      facts.desired = mode.desired(node, s.cluster.peers);
      facts.podMtu = mode.mtu(node);
    } catch (e) {
      facts.nodeError = reason(e);
    }
    return facts;
  } finally {
    rtnl.close();
  }
}

/** The node-local reservations of `dataDir` (host-local's layout) and libcni's cache for its network. */
export async function gatherLeaks(dataDir: string, cacheDir: string): Promise<LeakFacts> {
  const facts: LeakFacts = { dataDir };
  if (!existsSync(dataDir)) {
    facts.reservations = [];
    return facts;
  }
  try {
    const { FileStore } = await import('@netboot/ipam/file');
    const store = new FileStore(dirname(dataDir), basename(dataDir));
    const { entries } = await store.withLock(() => store.list());
    facts.reservations = entries.map((e) => ({ ip: e.ip, containerId: e.containerId, ifname: e.ifname ?? '' }));
    const cache = readCniCache(cacheDir, basename(dataDir));
    if (cache !== undefined) facts.cache = cache;
  } catch (e) {
    facts.error = isNotFound(e) ? `no store at ${dataDir}` : `cannot read ${dataDir}: ${reason(e)}`;
  }
  return facts;
}
