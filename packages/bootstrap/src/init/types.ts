// The data `netboot init`/`join` works on: what the caller asks for (PlanOptions), what the host looks
// like (HostFacts, gathered apart by gatherFacts), what preflight concluded (Check) and everything that
// will be written (Plan). Types only: importing this module loads nothing.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { ModeName } from '@netboot/routes';

/** `--mode`: auto picks host-gw when every known node shares this node's L2 subnet, else vxlan. */
export type InitMode = 'auto' | 'host-gw' | 'vxlan' | 'cross-subnet';

/** Where the agents keep their records: the Kubernetes API (Node.spec.podCIDRs) or an etcd. */
export type DatastoreKind = 'kubernetes' | 'etcd';

/** The kubeadm configuration API: v1beta4 (kubeadm ≥ 1.31), v1beta3 (kubeadm ≤ 1.36). */
export type KubeadmApi = 'v1beta4' | 'v1beta3';

/** The cluster's pod network, settled: what kubeadm, the controller manager and the agents must agree on. */
export interface NetworkSettings {
  /** One per family, IPv4 first (dual-stack = two). */
  podCIDRs: string[];
  serviceCIDRs: string[];
  /** Each node's slice per family present (`node-cidr-mask-size-ipv4/-ipv6`). */
  nodeMask: { ipv4?: number; ipv6?: number };
  /** The mode the agents run (auto resolved). */
  mode: Exclude<ModeName, 'ipip'>;
  /** Why that mode (for the preflight line). */
  modeReason: string;
  datastore: DatastoreKind;
  /** etcd datastore: the endpoints the agents use. */
  etcdEndpoints: string[];
}

/** A kernel feature probed by creating and deleting a link in a throwaway namespace. */
export type KernelFeature = 'bridge' | 'veth' | 'vxlan';

/** The host as gatherFacts() saw it. Plain data: a test or an image builder may write its own. */
export interface HostFacts {
  /** Global addresses: `ip -j addr show scope global`. */
  addresses: { dev: string; cidr: string }[];
  /** Main-table routes but the default ones: `ip -j route show` (protocol: rtm_protocol, 78 = netboot's). */
  routes: { dst: string; dev?: string; protocol: number }[];
  /** The device the default route leaves through (IPv4 first), with its MTU and addresses. */
  uplink?: { name: string; mtu: number; cidrs: string[] };
  /** Raw sysctl values, absent when the file does not exist (br_netfilter not loaded). */
  sysctls: { ipForward?: string; ipv6Forward?: string; bridgeNfCallIptables?: string };
  /** Each feature probed: ok, or the kernel's refusal. Absent = not probed. */
  kernel: Partial<Record<KernelFeature, { ok: boolean; error?: string }>>;
  /** Why the kernel was not probed (no right to make a namespace: not root). */
  kernelNotProbed?: string;
  /** Files in the CNI conf dir (under root) a runtime would load (*.conf, *.conflist, *.json): name, network, plugin types, text. */
  cniConfigs: { file: string; network?: string; plugins: string[]; text: string }[];
  /** Paths of the programs found on PATH. */
  programs: { nft?: string; kubeadm?: string; kubectl?: string };
  /** The kubeadm version (`kubeadm version -o short`), when installed. */
  kubeadmVersion?: string;
  /** A kubeconfig that answered (`kubectl get --raw /readyz`), or why none did. */
  kubeconfig?: { path: string; works: boolean; error?: string };
  /** The user id netboot runs as (writing /etc and /opt needs 0). */
  uid?: number;
}

/** One preflight line. `fail` blocks apply; `warn` and `skip` do not. */
export interface Check {
  id: string;
  status: 'pass' | 'fail' | 'warn' | 'skip';
  /** What was checked and what was found. */
  message: string;
  /** What to do about a fail or warn. */
  fix?: string;
}

export interface PlanOptions {
  /** `init` (control-plane node, default) or `join` (worker: no kubeadm config, no manifests). */
  role?: 'init' | 'join';
  /** `--pod-cidr`: one per family. Default: the user's kubeadm config's podSubnet, else 10.244.0.0/16. */
  podCIDRs?: string[];
  /** `--service-cidr`; default the user's serviceSubnet, else 10.96.0.0/12 (fd00:10:96::/112 for IPv6-only pods). */
  serviceCIDRs?: string[];
  /** `--node-mask`; default 24 / 64. */
  nodeMask?: { ipv4?: number; ipv6?: number };
  mode?: InitMode;
  datastore?: DatastoreKind;
  etcdEndpoints?: string[];
  /** Other nodes' addresses, for `--mode auto` (default: none known). */
  peers?: string[];
  /** How many nodes the pod CIDR must have a slice for; default 1. */
  expectedNodes?: number;
  kubeadmApi?: KubeadmApi;
  /** A kubeadm config (text: plan reads no file) and where it came from — init merges into the user's;
   *  join settles its network from the cluster's (the kubeadm-config ConfigMap). */
  kubeadmConfig?: { text: string; path: string };
  /** Stand-in filesystem root for everything written; default '/'. */
  root?: string;
  /** Write the kubeadm config and manifests here instead of <root>/etc/netboot and kubectl. */
  out?: string;
  /** Replace another pod network's CNI config (set aside, restored by reset). */
  force?: boolean;
  /** The plugin file to install; default <cwd>/dist/cni/netboot (built by apply when missing). */
  cniBinary?: string;
  /** The kubeconfig to apply manifests with (facts.kubeconfig says whether it works). */
  kubeconfig?: string;
  /** The agent's image in the DaemonSet; default ghcr.io/netboot/netboot:<version>. */
  image?: string;
  /** The host; without it host checks are skipped (an image build has no host to judge). */
  facts?: HostFacts;
}

/** Everything init/join would write or run, as data. */
export interface Plan {
  role: 'init' | 'join';
  settings: NetworkSettings;
  root: string;
  preflight: Check[];
  /** No check failed. */
  ok: boolean;
  /** init only. */
  kubeadm?: {
    api: KubeadmApi;
    /** The ClusterConfiguration as an object. */
    object: Record<string, unknown>;
    /** The whole file (the user's documents kept, with their comments). */
    yaml: string;
    path: string;
    /** `kubeadm init --config <path>`, the argv. */
    command: string[];
    /** apply runs it: kubeadm is installed and root is '/'. Else it is printed. */
    run: boolean;
  };
  cni: {
    /** The plugin file to copy (apply builds it when missing). */
    source: string;
    /** Replace a netboot conflist that differs (`--force`). */
    replace: boolean;
    binary: string;
    conflistPath: string;
    conflist: Record<string, unknown>;
    conflistText: string;
    /** Other networks' configs to set aside (`--force`): renamed to `<file>.netboot-disabled`. */
    setAside: string[];
  };
  /** init only: the agent's manifests (src/manifests). */
  manifests?: {
    objects: KubernetesObject[];
    yaml: string;
    /** kubectl apply with this kubeconfig, or a file. */
    target: { kind: 'kubectl'; kubeconfig: string; kubectl: string } | { kind: 'file'; path: string };
  };
  /** The record of what was installed, which reset reads. */
  statePath: string;
  /** What to run on each worker. */
  joinCommand: string;
}

/** What apply did (or, dry, would do) in one step. */
export interface StepReport {
  step: 'kubeadm-config' | 'kubeadm-init' | 'cni' | 'cni-set-aside' | 'manifests' | 'state';
  action: 'created' | 'updated' | 'unchanged' | 'ran' | 'printed' | 'would-change';
  detail: string;
}

export interface ApplyOptions {
  /** Report what would change; change nothing. */
  dryRun?: boolean;
  /** A line per step as it starts (for a person watching). */
  onProgress?: (line: string) => void;
}

export interface ApplyReport {
  steps: StepReport[];
  /** False when every step was unchanged ("nothing to change"). */
  changed: boolean;
  joinCommand: string;
}
