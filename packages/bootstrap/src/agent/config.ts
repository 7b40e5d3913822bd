// The agent's configuration: a JSON file (`--config FILE`) and/or flags, flags winning. Everything is
// checked here, before anything touches the kernel or a datastore, so bad config exits non-zero with a
// message naming the field. Example file:
//
//   { "nodeName": "node1", "clusterCIDRs": ["10.244.0.0/16"], "mode": "vxlan",
//     "datastore": { "type": "etcd", "endpoints": ["http://10.0.0.1:2379"] } }
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { InvalidInputError } from '@netboot/core/errors';
import { networkOf, normalizeIp } from '@netboot/core/ip';
import { Cidr } from '@netboot/ipam';
import type { ModeName } from '@netboot/routes';

type DatastoreConfig =
  | { type: 'file'; path?: string; podCIDRs?: string[]; pollMs?: number }
  | { type: 'etcd'; endpoints: string[]; prefix?: string; ttlSeconds?: number }
  /** `clusterIpam`: the node's subnets from netboot's ClusterIpam (pools in a ConfigMap), not spec.podCIDRs. */
  | { type: 'kubernetes'; kubeconfig?: string; register?: boolean; clusterIpam?: boolean };

export interface AgentConfig {
  /** Default the host name. */
  nodeName: string;
  /** Default: the addresses of the device the default route leaves through. */
  nodeIPs?: string[];
  /** The cluster's pod CIDRs: where egress is never masqueraded to, and the pools when `pools` is not given. */
  clusterCIDRs: string[];
  /**
   * The IP pools with their egress NAT (`--pool CIDR[:no-nat]`); default one per cluster CIDR with
   * `natOutgoing`. Created in etcd once per cluster; a datastore that keeps pools (etcd, a nodes file
   * with `pools`) is followed instead. Traffic from a pool with natOutgoing to a destination outside
   * every pool, cluster CIDR and node is masqueraded; from the others never.
   */
  pools?: { cidr: string; natOutgoing: boolean }[];
  mode: ModeName;
  /** VXLAN VNI and UDP port (vxlan and cross-subnet). */
  vni?: number;
  vxlanPort?: number;
  datastore: DatastoreConfig;
  /** Full reconcile period; default 30 s. */
  resyncSeconds: number;
  /** /healthz, /readyz, /metrics on 127.0.0.1; default 9099, 0 turns the server off. */
  healthPort: number;
  /** The node lease file for the CNI plugin; default /run/netboot/subnet.json. */
  leaseFile: string;
  /** Masquerade pod traffic leaving the cluster: the default for pools that do not say; default true. */
  natOutgoing: boolean;
  /** On shutdown remove netboot's nftables table and the lease file (`--cleanup`); default false. */
  cleanup: boolean;
  /** Also serve the CNI plugin's calls on this unix socket (`--cni-socket`, see `netboot cni serve`); default off. */
  cniSocket?: string;
}

/** Bad configuration: the agent exits 2 with this message before doing anything. */
export class AgentConfigError extends InvalidInputError {}

const MODES: readonly ModeName[] = ['host-gw', 'vxlan', 'cross-subnet', 'ipip'];

const USAGE = `usage: netboot agent [--config FILE] [--node-name NAME] [--node-ip IP]... [--cluster-cidr CIDR]...
                     [--pool CIDR[:no-nat]]... [--mode host-gw|vxlan|cross-subnet|ipip] [--vni N] [--vxlan-port N]
                     [--datastore file|etcd|kubernetes] [--nodes-file FILE] [--pod-cidr CIDR]...
                     [--etcd-endpoint URL]... [--etcd-prefix P] [--kubeconfig FILE] [--register-node] [--cluster-ipam]
                     [--resync-seconds N] [--health-port N] [--lease-file FILE] [--no-nat-outgoing] [--cleanup]
                     [--cni-socket PATH]`;

/** `netboot agent --help`: the usage and how it is run (errors carry only the usage). */
export const HELP = `${USAGE}

examples:
  # a kubeadm node: subnets from Node.spec.podCIDRs, peers from the other Nodes
  netboot agent --node-name node1 --kubeconfig /etc/kubernetes/kubelet.conf --mode vxlan
  # netboot's own pools on etcd, no controller-manager node IPAM
  netboot agent --node-name node1 --node-ip 192.168.1.11 --datastore etcd --etcd-endpoint http://10.0.0.1:2379 --pool 10.244.0.0/16
  # Kubernetes without the controller manager's node IPAM: pools kept in ConfigMap kube-system/netboot-ipam
  netboot agent --node-name node1 --kubeconfig /etc/kubernetes/kubelet.conf --cluster-ipam --pool 10.244.0.0/16
  # also answer the CNI plugin's calls from this warm process (the conflist's default "server")
  netboot agent --node-name node1 --kubeconfig /etc/kubernetes/kubelet.conf --cni-socket /run/netboot/cni.sock`;

const FLAGS = ['register-node', 'cluster-ipam', 'no-nat-outgoing', 'cleanup'];
const REPEATED = ['node-ip', 'cluster-cidr', 'pool', 'pod-cidr', 'etcd-endpoint'];

/** Parses `argv` (after `netboot agent`) and the `--config` file it names into a checked AgentConfig. */
export function parseAgentArgs(argv: readonly string[]): AgentConfig {
  const flags = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new AgentConfigError(`unexpected argument ${JSON.stringify(arg)}\n${USAGE}`);
    const key = arg.slice(2);
    if (FLAGS.includes(key)) {
      flags.set(key, ['true']);
      continue;
    }
    const value = argv[++i];
    if (value === undefined) throw new AgentConfigError(`${arg} needs a value\n${USAGE}`);
    flags.set(key, [...(flags.get(key) ?? []), value]);
  }
  const file = flags.get('config')?.[0];
  const raw: Record<string, unknown> = file === undefined ? {} : readConfigFile(file);
  const one = (k: string) => flags.get(k)?.at(-1);
  const many = (k: string) => flags.get(k);
  const known = new Set([
    'config',
    ...FLAGS,
    ...REPEATED,
    'node-name',
    'mode',
    'vni',
    'vxlan-port',
    'datastore',
    'nodes-file',
    'etcd-prefix',
    'kubeconfig',
    'resync-seconds',
    'health-port',
    'lease-file',
    'cni-socket',
  ]);
  for (const k of flags.keys()) if (!known.has(k)) throw new AgentConfigError(`unknown option --${k}\n${USAGE}`);
  for (const k of flags.keys()) if (!REPEATED.includes(k) && k !== 'config' && flags.get(k)!.length > 1) throw new AgentConfigError(`--${k} given twice`);

  const ds = (raw.datastore ?? {}) as Record<string, unknown>;
  const type = one('datastore') ?? (ds.type as string | undefined) ?? 'kubernetes';
  const datastore: Record<string, unknown> = type === (ds.type ?? type) ? { ...ds, type } : { type };
  if (many('nodes-file')) datastore.path = one('nodes-file');
  if (many('pod-cidr')) datastore.podCIDRs = many('pod-cidr');
  if (many('etcd-endpoint')) datastore.endpoints = many('etcd-endpoint');
  if (many('etcd-prefix')) datastore.prefix = one('etcd-prefix');
  if (many('kubeconfig')) datastore.kubeconfig = one('kubeconfig');
  if (flags.has('register-node')) datastore.register = true;
  if (flags.has('cluster-ipam')) datastore.clusterIpam = true;

  return checkConfig({
    ...raw,
    ...(many('node-name') && { nodeName: one('node-name') }),
    ...(many('node-ip') && { nodeIPs: many('node-ip') }),
    ...(many('cluster-cidr') && { clusterCIDRs: many('cluster-cidr') }),
    ...(many('pool') && {
      pools: many('pool')!.map((p) => (p.endsWith(':no-nat') ? { cidr: p.slice(0, -':no-nat'.length), natOutgoing: false } : { cidr: p })),
    }),
    ...(many('mode') && { mode: one('mode') }),
    ...(many('vni') && { vni: Number(one('vni')) }),
    ...(many('vxlan-port') && { vxlanPort: Number(one('vxlan-port')) }),
    ...(many('resync-seconds') && { resyncSeconds: Number(one('resync-seconds')) }),
    ...(many('health-port') && { healthPort: Number(one('health-port')) }),
    ...(many('lease-file') && { leaseFile: one('lease-file') }),
    ...(many('cni-socket') && { cniSocket: one('cni-socket') }),
    ...(flags.has('no-nat-outgoing') && { natOutgoing: false }),
    ...(flags.has('cleanup') && { cleanup: true }),
    datastore,
  });
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new AgentConfigError(`cannot read config file ${path}: ${(e as Error).message}`);
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw new AgentConfigError(`config file ${path} is not a JSON object: ${(e as Error).message}`);
  }
}

/** Checks every field of a merged configuration and fills the defaults. */
export function checkConfig(raw: Record<string, unknown>): AgentConfig {
  const bad = (field: string, why: string) => new AgentConfigError(`agent config: ${field} ${why}`);
  const int = (field: string, v: unknown, dflt: number, min: number, max: number): number => {
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw bad(field, `must be an integer ${min}..${max} (got ${JSON.stringify(v)})`);
    return v;
  };
  const cidrs = (field: string, v: unknown): string[] => {
    if (!Array.isArray(v)) throw bad(field, 'must be a list of CIDRs');
    return v.map((c) => {
      try {
        return networkOf(String(c));
      } catch {
        throw bad(field, `has ${JSON.stringify(c)}, not a CIDR`);
      }
    });
  };
  const known = new Set([
    'nodeName',
    'nodeIPs',
    'clusterCIDRs',
    'pools',
    'mode',
    'vni',
    'vxlanPort',
    'datastore',
    'resyncSeconds',
    'healthPort',
    'leaseFile',
    'natOutgoing',
    'cleanup',
    'cniSocket',
  ]);
  for (const k of Object.keys(raw)) if (!known.has(k)) throw bad(k, `is not a setting (known: ${[...known].join(', ')})`);
  const nodeName = raw.nodeName ?? hostname();
  if (typeof nodeName !== 'string' || !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(nodeName))
    throw bad('nodeName', `${JSON.stringify(nodeName)} is not a DNS-1123 name`);
  let nodeIPs: string[] | undefined;
  if (raw.nodeIPs !== undefined) {
    if (!Array.isArray(raw.nodeIPs) || raw.nodeIPs.length === 0) throw bad('nodeIPs', 'must be a non-empty list of addresses');
    nodeIPs = raw.nodeIPs.map((ip) => {
      try {
        return normalizeIp(String(ip));
      } catch {
        throw bad('nodeIPs', `has ${JSON.stringify(ip)}, not an IP address`);
      }
    });
  }
  if (raw.clusterCIDRs === undefined) throw bad('clusterCIDRs', 'is required (the pod network, e.g. 10.244.0.0/16: --cluster-cidr)');
  const clusterCIDRs = cidrs('clusterCIDRs', raw.clusterCIDRs);
  if (clusterCIDRs.length === 0) throw bad('clusterCIDRs', 'is empty');
  const natOutgoing = raw.natOutgoing === undefined ? true : raw.natOutgoing === true;
  const mode = raw.mode ?? 'vxlan';
  if (!MODES.includes(mode as ModeName)) throw bad('mode', `${JSON.stringify(mode)} is not one of ${MODES.join(', ')}`);
  const config: AgentConfig = {
    nodeName,
    ...(nodeIPs && { nodeIPs }),
    clusterCIDRs,
    mode: mode as ModeName,
    datastore: checkDatastore(raw.datastore, cidrs, bad),
    resyncSeconds: int('resyncSeconds', raw.resyncSeconds, 30, 1, 86_400),
    healthPort: int('healthPort', raw.healthPort, 9099, 0, 65_535),
    leaseFile: typeof raw.leaseFile === 'string' ? raw.leaseFile : '/run/netboot/subnet.json',
    natOutgoing,
    cleanup: raw.cleanup === true,
  };
  if (raw.pools !== undefined) config.pools = checkPools(raw.pools, natOutgoing, bad);
  if (raw.cniSocket !== undefined) {
    if (typeof raw.cniSocket !== 'string' || !raw.cniSocket.startsWith('/'))
      throw bad('cniSocket', 'must be an absolute socket path (e.g. /run/netboot/cni.sock)');
    config.cniSocket = raw.cniSocket;
  }
  if (raw.vni !== undefined) config.vni = int('vni', raw.vni, 1, 1, 16_777_215);
  if (raw.vxlanPort !== undefined) config.vxlanPort = int('vxlanPort', raw.vxlanPort, 4789, 1, 65_535);
  return config;
}

function checkPools(raw: unknown, natOutgoing: boolean, bad: (field: string, why: string) => Error): { cidr: string; natOutgoing: boolean }[] {
  if (!Array.isArray(raw) || raw.length === 0) throw bad('pools', 'must be a non-empty list of {"cidr", "natOutgoing"?}');
  const pools = raw.map((p: unknown, i) => {
    const r = (typeof p === 'object' && p !== null ? p : {}) as Record<string, unknown>;
    let cidr: string;
    try {
      cidr = networkOf(String(r.cidr));
    } catch {
      throw bad(`pools[${i}].cidr`, `${JSON.stringify(r.cidr)} is not a CIDR`);
    }
    if (r.natOutgoing !== undefined && typeof r.natOutgoing !== 'boolean') throw bad(`pools[${i}].natOutgoing`, 'must be true or false');
    return { cidr, natOutgoing: typeof r.natOutgoing === 'boolean' ? r.natOutgoing : natOutgoing };
  });
  for (const [i, a] of pools.entries())
    for (const b of pools.slice(i + 1)) if (Cidr.parse(a.cidr).overlaps(Cidr.parse(b.cidr))) throw bad('pools', `${a.cidr} and ${b.cidr} overlap`);
  return pools;
}

function checkDatastore(raw: unknown, cidrs: (field: string, v: unknown) => string[], bad: (field: string, why: string) => Error): DatastoreConfig {
  const ds = (raw ?? { type: 'kubernetes' }) as Record<string, unknown>;
  switch (ds.type) {
    case 'file':
      if (ds.path === undefined && ds.podCIDRs === undefined)
        throw bad('datastore', 'file needs a nodes file (--nodes-file) or this node’s pod CIDRs (--pod-cidr)');
      return {
        type: 'file',
        ...(typeof ds.path === 'string' && { path: ds.path }),
        ...(ds.podCIDRs !== undefined && { podCIDRs: cidrs('datastore.podCIDRs', ds.podCIDRs) }),
        ...(typeof ds.pollMs === 'number' && { pollMs: ds.pollMs }),
      };
    case 'etcd': {
      const endpoints = ds.endpoints;
      if (!Array.isArray(endpoints) || endpoints.length === 0 || !endpoints.every((e) => typeof e === 'string' && /^https?:\/\/./.test(e)))
        throw bad('datastore.endpoints', 'must list etcd client URLs (--etcd-endpoint http://HOST:2379)');
      return {
        type: 'etcd',
        endpoints: endpoints as string[],
        ...(typeof ds.prefix === 'string' && { prefix: ds.prefix }),
        ...(typeof ds.ttlSeconds === 'number' && { ttlSeconds: ds.ttlSeconds }),
      };
    }
    case 'kubernetes':
      return {
        type: 'kubernetes',
        ...(typeof ds.kubeconfig === 'string' && { kubeconfig: ds.kubeconfig }),
        ...(ds.register === true && { register: true }),
        ...(ds.clusterIpam === true && { clusterIpam: true }),
      };
    default:
      throw bad('datastore.type', `${JSON.stringify(ds.type)} is not one of file, etcd, kubernetes`);
  }
}
