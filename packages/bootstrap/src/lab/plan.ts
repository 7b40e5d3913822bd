// What `netboot lab up` will build, worked out before anything is touched: namespace names, underlay
// subnets and addresses, each node's pod CIDR (for the file datastore) and the pods. Pure, so the
// numbering is tested without root and `up` and `down` agree on every name.
//
//   <name>-underlay   bridge br1 192.168.1.1/24 (and br2 192.168.2.1/24, forwarding, for cross-subnet)
//   <name>-outside    eth0 192.168.1.100/24: a host outside the cluster, no route to any pod CIDR
//   <name>-nodeN      eth0 192.168.S.(10+N)/24, default via 192.168.S.1; runs `netboot agent`
//   <name>-nodeN-podM the pods, made by the CNI plugin's ADD in <name>-nodeN
import { join } from 'node:path';
import { Cidr } from '@netboot/ipam';
import type { ModeName } from '@netboot/routes';
import { InvalidInputError } from '@netboot/core/errors';
import { type LabDatastore, labDir } from './state.js';

export const LAB_MODES = ['host-gw', 'vxlan', 'cross-subnet'] as const satisfies readonly ModeName[];
export const LAB_DATASTORES = ['file', 'etcd', 'kubernetes'] as const satisfies readonly LabDatastore[];
/** What runs the pods: namespaces made by CNI ADD (`--pods` per node), or containerd + kubelet per node. */
export const LAB_RUNTIMES = ['namespaces', 'kubelet'] as const;

export interface LabOptions {
  name: string;
  nodes: number;
  pods: number;
  mode: (typeof LAB_MODES)[number];
  podCIDR: string;
  datastore: LabDatastore;
  /** Default `namespaces`; `kubelet` needs the Kubernetes datastore (kubelets register the Nodes). */
  runtime?: (typeof LAB_RUNTIMES)[number];
  /** Each agent's `--resync-seconds` (its default when unset). */
  resyncSeconds?: number | undefined;
}

interface UnderlaySubnet {
  /** The bridge in the underlay namespace. */
  bridge: string;
  cidr: string;
  /** The bridge's address: the nodes' default gateway, and where etcd / the API server listen. */
  gateway: string;
}

export interface PlannedNode {
  name: string;
  netns: string;
  /** eth0's address and prefix length on its underlay subnet. */
  ip: string;
  prefixLen: number;
  gateway: string;
  /** The underlay bridge it hangs off, and the veth end there. */
  bridge: string;
  uplink: string;
  dir: string;
  /** The /mask slice of the cluster CIDR the file datastore gives it (10.244.N.0/24). */
  podCIDR: string;
  pods: { name: string; netns: string }[];
}

export interface LabPlan {
  options: LabOptions;
  dir: string;
  underlay: { netns: string; subnets: UnderlaySubnet[]; forwarding: boolean };
  outside: { netns: string; ip: string; prefixLen: number; gateway: string; bridge: string; uplink: string };
  nodes: PlannedNode[];
  /** Size of each node's pod CIDR (kube-controller-manager's --node-cidr-mask-size). */
  nodeMaskSize: number;
  /** Where the datastore listens: the first subnet's gateway, inside the underlay namespace. */
  serviceIp: string;
}

/** A lab option out of range or malformed; the CLI exits 2 with it. */
export class LabOptionError extends InvalidInputError {}

/** Lab names become namespace and directory names: keep them short and plain. */
const NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;

/** Checks the options and lays out the lab; throws LabOptionError naming the bad option. */
export function planLab(options: LabOptions): LabPlan {
  const { name, nodes: count, pods } = options;
  if (!NAME.test(name)) throw new LabOptionError(`--name ${JSON.stringify(name)}: use 1–32 of a-z, 0-9 and '-', starting with a letter or digit`);
  if (!Number.isInteger(count) || count < 1 || count > 50) throw new LabOptionError(`--nodes ${count}: expected 1..50`);
  if (!Number.isInteger(pods) || pods < 0 || pods > 50) throw new LabOptionError(`--pods ${pods}: expected 0..50`);
  if (options.runtime === 'kubelet' && (options.datastore !== 'kubernetes' || pods > 0))
    throw new LabOptionError('--runtime kubelet: kubelets register the Nodes and run the pods, so it takes --datastore kubernetes and no --pods');
  let cluster: Cidr;
  try {
    cluster = Cidr.parse(options.podCIDR);
  } catch (e) {
    throw new LabOptionError(`--pod-cidr ${options.podCIDR}: ${(e as Error).message}`);
  }
  if (cluster.family !== 4) throw new LabOptionError(`--pod-cidr ${options.podCIDR}: the lab builds IPv4 pod networks only`);
  if (cluster.toString() !== options.podCIDR) throw new LabOptionError(`--pod-cidr ${options.podCIDR}: host bits are set (the network is ${cluster})`);
  // A /24 per node as kubeadm does, smaller slices when the cluster CIDR is too small for that.
  const nodeMaskSize = Math.max(24, cluster.prefixLen + Math.ceil(Math.log2(count + 1)));
  if (nodeMaskSize > 28) throw new LabOptionError(`--pod-cidr ${options.podCIDR} is too small for ${count} nodes (each needs at least a /28)`);
  if (cluster.overlaps(Cidr.parse('192.168.0.0/16')))
    throw new LabOptionError(`--pod-cidr ${options.podCIDR} overlaps the lab's underlay (192.168.1.0/24, 192.168.2.0/24)`);

  const dir = labDir(name);
  const cross = options.mode === 'cross-subnet';
  const subnets: UnderlaySubnet[] = [{ bridge: 'br1', cidr: '192.168.1.0/24', gateway: '192.168.1.1' }];
  if (cross) subnets.push({ bridge: 'br2', cidr: '192.168.2.0/24', gateway: '192.168.2.1' });
  // cross-subnet: the first half of the nodes on one subnet, the rest on the other (behind the router).
  const firstHalf = cross ? Math.ceil(count / 2) : count;
  const nodes: PlannedNode[] = [];
  for (let n = 1; n <= count; n++) {
    const subnet = subnets[n <= firstHalf ? 0 : 1]!;
    const nodeName = `node${n}`;
    const netns = `${name}-${nodeName}`;
    nodes.push({
      name: nodeName,
      netns,
      ip: subnet.cidr.replace(/\.0\/24$/, `.${10 + n}`),
      prefixLen: 24,
      gateway: subnet.gateway,
      bridge: subnet.bridge,
      uplink: `n${n}`,
      dir: join(dir, nodeName),
      podCIDR: cluster.nthSubnet(nodeMaskSize, BigInt(n)).toString(),
      pods: Array.from({ length: pods }, (_, i) => ({ name: `${nodeName}-pod${i + 1}`, netns: `${netns}-pod${i + 1}` })),
    });
  }
  return {
    options,
    dir,
    underlay: { netns: `${name}-underlay`, subnets, forwarding: cross },
    outside: { netns: `${name}-outside`, ip: '192.168.1.100', prefixLen: 24, gateway: '192.168.1.1', bridge: 'br1', uplink: 'out' },
    nodes,
    nodeMaskSize,
    serviceIp: subnets[0]!.gateway,
  };
}
