// Preflight: the host facts and the settled network judged, one line per check with what to do about a
// failure. Pure — facts come in as data (gatherFacts collects them), so every failure is testable by
// writing the fact that causes it, and judging changes nothing.
import { networkOf } from '@netboot/core/ip';
import { Cidr } from '@netboot/ipam';
import type { CidrProblem } from './network.js';
import type { Check, HostFacts, KernelFeature, KubeadmApi, NetworkSettings } from './types.js';

/**
 * @netboot/routes' NETBOOT_PROTOCOL and VXLAN device name, and its vxlanOverhead (50 / 70): repeated
 * because importing @netboot/routes loads the FFI; test/preflight.test.ts pins them to routes' own.
 */
export const NETBOOT_ROUTES = { protocol: 78, vxlanDevice: 'netboot.1', vxlanOverhead: { 4: 50, 6: 70 } } as const;
/** The bridge the conflist names (src/cni/install.ts's default). */
const BRIDGE = 'cni0';
/** kube-controller-manager's cidrset refuses more than 2^16 node slices (clusterSubnetMaxDiff). */
const MAX_NODE_BITS = 16;
/** kube-apiserver: the service range may hold at most 2^20 addresses (IPv4 /12, IPv6 /108). */
const MAX_SERVICE_BITS = 20;

export interface PreflightInput {
  role: 'init' | 'join';
  settings: NetworkSettings;
  /** CIDR sources that did not parse (settleNetwork): each fails, and the CIDR checks wait for them. */
  cidrProblems?: readonly CidrProblem[];
  facts?: HostFacts;
  force: boolean;
  expectedNodes: number;
  /** The conflist netboot will write, to compare with one already there. */
  conflist: { file: string; text: string };
  /** init: the kubeadm API written, and whether kubeadm will be run (root is '/'). */
  kubeadm?: { api: KubeadmApi; runnable: boolean };
  /** init: where the manifests go and why; `expected` false when a person must still apply them. */
  manifests?: { expected: boolean; why: string };
  /** The root is '/': the node's own /etc and /opt are written. */
  writesHost: boolean;
}

const pass = (id: string, message: string): Check => ({ id, status: 'pass', message });
const fail = (id: string, message: string, fix: string): Check => ({ id, status: 'fail', message, fix });
const warn = (id: string, message: string, fix: string): Check => ({ id, status: 'warn', message, fix });
const skip = (id: string, message: string): Check => ({ id, status: 'skip', message });

function cidrChecks(s: NetworkSettings): Check[] {
  const pods = s.podCIDRs.map((c) => Cidr.parse(c));
  const services = s.serviceCIDRs.map((c) => Cidr.parse(c));
  const out: Check[] = [];
  const clash = pods.flatMap((p) => services.filter((v) => v.overlaps(p)).map((v) => `${p} overlaps ${v}`));
  out.push(
    clash.length === 0
      ? pass('pod-service-disjoint', `pod CIDR ${s.podCIDRs.join(',')} and service CIDR ${s.serviceCIDRs.join(',')} are disjoint`)
      : fail(
          'pod-service-disjoint',
          `pod and service CIDRs overlap (${clash.join('; ')}): the controller manager would refuse every node (CIDRNotAvailable)`,
          'choose a --pod-cidr outside the --service-cidr',
        ),
  );
  const big = services.filter((v) => (v.family === 4 ? 32 : 128) - v.prefixLen > MAX_SERVICE_BITS);
  out.push(
    big.length === 0
      ? pass('service-size', `service CIDR ${s.serviceCIDRs.join(',')} fits kube-apiserver's limit`)
      : fail(
          'service-size',
          `service CIDR ${big.join(',')} is larger than kube-apiserver accepts (at most 2^20 addresses)`,
          'use a /12 or longer for IPv4, /108 or longer for IPv6',
        ),
  );
  return out;
}

function nodeSubnetCheck(s: NetworkSettings, expectedNodes: number): Check {
  const lines: string[] = [];
  for (const pod of s.podCIDRs.map((c) => Cidr.parse(c))) {
    const mask = pod.family === 4 ? s.nodeMask.ipv4! : s.nodeMask.ipv6!;
    const bits = mask - pod.prefixLen;
    const maxMask = pod.family === 4 ? 30 : 120;
    if (bits < 0 || mask > maxMask)
      return fail(
        'node-subnets',
        `node mask /${mask} does not fit ${pod} (it must be /${pod.prefixLen}…/${maxMask})`,
        `give --node-mask between ${pod.prefixLen} and ${maxMask}`,
      );
    if (bits > MAX_NODE_BITS)
      return fail(
        'node-subnets',
        `${pod} in /${mask} slices is 2^${bits} node subnets; kube-controller-manager allows at most 2^${MAX_NODE_BITS}`,
        `use a --pod-cidr of /${mask - MAX_NODE_BITS} or longer, or a shorter --node-mask`,
      );
    const count = 1n << BigInt(bits);
    if (count < BigInt(expectedNodes))
      return fail(
        'node-subnets',
        `${pod} in /${mask} slices has ${count} node subnets, fewer than the ${expectedNodes} nodes expected`,
        'use a larger --pod-cidr or a longer --node-mask',
      );
    lines.push(`${pod} in /${mask} slices: ${count} nodes`);
  }
  return pass('node-subnets', `${lines.join('; ')} (${expectedNodes} expected)`);
}

/**
 * Addresses and routes this cluster made itself, which a second run must not refuse: netboot's bridge,
 * VXLAN device and routes, and kube-proxy's IPVS dummy device holding the Service IPs.
 */
function isClusters(dev: string | undefined, protocol?: number): boolean {
  return dev === BRIDGE || dev === NETBOOT_ROUTES.vxlanDevice || dev === 'kube-ipvs0' || protocol === NETBOOT_ROUTES.protocol;
}

function hostDisjointCheck(s: NetworkSettings, facts: HostFacts): Check {
  const ours = [...s.podCIDRs.map((c) => ['pod', Cidr.parse(c)] as const), ...s.serviceCIDRs.map((c) => ['service', Cidr.parse(c)] as const)];
  const clashes: string[] = [];
  for (const a of facts.addresses) {
    if (isClusters(a.dev)) continue;
    const net = Cidr.parse(networkOf(a.cidr));
    for (const [what, c] of ours) if (c.overlaps(net)) clashes.push(`${what} CIDR ${c} overlaps ${a.cidr} on ${a.dev}`);
  }
  for (const r of facts.routes) {
    if (isClusters(r.dev, r.protocol) || r.dst === 'default') continue;
    const dst = Cidr.parse(r.dst.includes('/') ? r.dst : `${r.dst}/${r.dst.includes(':') ? 128 : 32}`);
    for (const [what, c] of ours) if (c.overlaps(dst)) clashes.push(`${what} CIDR ${c} overlaps the route ${r.dst}${r.dev ? ` dev ${r.dev}` : ''}`);
  }
  return clashes.length === 0
    ? pass('host-disjoint', `pod and service CIDRs are clear of the host's ${facts.addresses.length} addresses and ${facts.routes.length} routes`)
    : fail('host-disjoint', clashes.join('; '), 'choose CIDRs the host does not use (ip -br addr; ip route)');
}

const FEATURE_WHY: Record<KernelFeature, string> = {
  bridge: 'the pods’ bridge',
  veth: 'each pod’s link',
  vxlan: 'the overlay between subnets',
};

function kernelChecks(s: NetworkSettings, facts: HostFacts): Check[] {
  const needed: KernelFeature[] = ['bridge', 'veth', ...(s.mode === 'vxlan' || s.mode === 'cross-subnet' ? (['vxlan'] as const) : [])];
  return needed.map((f) => {
    const probed = facts.kernel[f];
    const id = `kernel-${f}`;
    if (probed === undefined) return skip(id, `kernel ${f} support not probed${facts.kernelNotProbed ? `: ${facts.kernelNotProbed}` : ''}`);
    return probed.ok
      ? pass(id, `kernel supports ${f} (${FEATURE_WHY[f]}): created and deleted one in a throwaway namespace`)
      : fail(
          id,
          `the kernel refused a ${f} link (${FEATURE_WHY[f]}): ${probed.error ?? 'unknown error'}`,
          f === 'vxlan' ? 'use a kernel with CONFIG_VXLAN, or --mode host-gw when every node shares one L2 subnet' : `use a kernel with ${f} support`,
        );
  });
}

function sysctlChecks(s: NetworkSettings, facts: HostFacts): Check[] {
  const out: Check[] = [];
  const families = new Set(s.podCIDRs.map((c) => (c.includes(':') ? 6 : 4)));
  const forward = (family: 4 | 6, value: string | undefined, key: string) => {
    if (value === undefined) return skip(`ip-forward-v${family}`, `${key} not readable`);
    return value.trim() === '1'
      ? pass(`ip-forward-v${family}`, `${key} = 1`)
      : fail(
          `ip-forward-v${family}`,
          `${key} = ${value.trim()}: the node would not route pod traffic (kubeadm refuses it too)`,
          `sysctl -w ${key}=1, and persist it in /etc/sysctl.d/`,
        );
  };
  if (families.has(4)) out.push(forward(4, facts.sysctls.ipForward, 'net.ipv4.ip_forward'));
  if (families.has(6)) out.push(forward(6, facts.sysctls.ipv6Forward, 'net.ipv6.conf.all.forwarding'));
  const nf = facts.sysctls.bridgeNfCallIptables;
  const key = 'net.bridge.bridge-nf-call-iptables';
  if (nf === undefined)
    out.push(
      warn(
        'br-netfilter',
        'br_netfilter is not loaded: kube-proxy would not see pod-to-Service traffic between pods on one bridge',
        'modprobe br_netfilter (and list it in /etc/modules-load.d/)',
      ),
    );
  else if (nf.trim() !== '1')
    out.push(
      fail('br-netfilter', `${key} = ${nf.trim()}: bridged pod traffic skips kube-proxy's rules`, `sysctl -w ${key}=1, and persist it in /etc/sysctl.d/`),
    );
  else out.push(pass('br-netfilter', `br_netfilter loaded, ${key} = 1`));
  return out;
}

function mtuCheck(s: NetworkSettings, facts: HostFacts): Check {
  const uplink = facts.uplink;
  if (uplink === undefined)
    return warn(
      'mtu',
      'no default route: the uplink (and so the pod MTU) is unknown',
      'add a default route, or check the node’s network before joining it to a cluster',
    );
  const underlay = uplink.cidrs.some((c) => !c.includes(':')) ? 4 : 6;
  const overhead = s.mode === 'host-gw' ? 0 : NETBOOT_ROUTES.vxlanOverhead[underlay];
  const pod = uplink.mtu - overhead;
  const min = s.podCIDRs.some((c) => c.includes(':')) ? 1280 : 576;
  const what = `uplink ${uplink.name} MTU ${uplink.mtu} → pod MTU ${pod}${overhead === 0 ? '' : ` (${s.mode}: −${overhead})`}`;
  return pod >= min ? pass('mtu', what) : fail('mtu', `${what}, below the minimum ${min}`, 'raise the uplink MTU or use --mode host-gw');
}

function cniConfigCheck(input: PreflightInput, facts: HostFacts): Check {
  const others = facts.cniConfigs.filter((c) => c.file !== input.conflist.file);
  const own = facts.cniConfigs.find((c) => c.file === input.conflist.file);
  if (own !== undefined && own.text !== input.conflist.text && !input.force)
    return fail(
      'cni-config',
      `${input.conflist.file} differs from the one netboot would write (an operator's edit?)`,
      'keep it and stop here, or pass --force to replace it',
    );
  if (others.length === 0)
    return pass('cni-config', own === undefined ? 'no other pod network configured' : `${input.conflist.file} is netboot's; no other pod network`);
  const names = others.map((c) => `${c.file}${c.network ? ` (${c.network}: ${c.plugins.join(', ')})` : ''}`).join(', ');
  return input.force
    ? warn('cni-config', `another pod network is configured: ${names}; --force sets it aside (<file>.netboot-disabled)`, 'netboot reset puts it back')
    : fail(
        'cni-config',
        `another pod network is configured: ${names}; a cluster has one pod network`,
        'remove it, or pass --force to set it aside (netboot reset restores it)',
      );
}

function programChecks(input: PreflightInput, facts: HostFacts): Check[] {
  const out: Check[] = [
    facts.programs.nft
      ? pass('nftables', `nft at ${facts.programs.nft} (egress masquerade)`)
      : fail('nftables', 'nft is not installed: the agent masquerades egress with nftables', 'apt-get install nftables'),
  ];
  if (input.kubeadm !== undefined) out.push(kubeadmCheck(input.kubeadm, facts));
  const m = input.manifests;
  if (m !== undefined)
    out.push(m.expected ? pass('manifests', m.why) : warn('manifests', m.why, 'apply the file with kubectl apply -f once the API server is up'));
  return out;
}

/** kubeadm 1.37 reads only v1beta4; v1beta4 needs kubeadm 1.31 or later. */
function kubeadmCheck(k: { api: KubeadmApi; runnable: boolean }, facts: HostFacts): Check {
  const path = facts.programs.kubeadm;
  if (path === undefined)
    return warn('kubeadm', 'kubeadm is not installed: the `kubeadm init` command is printed, not run', 'install kubeadm, then run the printed command');
  const minor = /^v1\.(\d+)\./.exec(facts.kubeadmVersion ?? '')?.[1];
  const v = minor === undefined ? undefined : Number(minor);
  if (v !== undefined && k.api === 'v1beta3' && v >= 37)
    return fail('kubeadm', `kubeadm ${facts.kubeadmVersion} reads only kubeadm.k8s.io/v1beta4`, 'drop --kubeadm-api v1beta3 (v1beta4 is the default)');
  if (v !== undefined && k.api === 'v1beta4' && v < 31)
    return fail('kubeadm', `kubeadm ${facts.kubeadmVersion} does not read kubeadm.k8s.io/v1beta4 (1.31 and later do)`, 'pass --kubeadm-api v1beta3');
  return k.runnable
    ? pass('kubeadm', `kubeadm ${facts.kubeadmVersion ?? '(version unknown)'} at ${path} reads ${k.api}: init runs it`)
    : skip('kubeadm', `kubeadm ${facts.kubeadmVersion ?? ''} at ${path}: not run under --root, the command is printed`);
}

/** Writing the node's /etc and /opt (root '/') needs root; a stand-in --root does not. */
function privilegeCheck(input: PreflightInput, facts: HostFacts): Check[] {
  if (!input.writesHost || facts.uid === undefined || facts.uid === 0) return [];
  return [
    fail('privileges', `running as uid ${facts.uid}: ${input.role} writes /etc and /opt`, `run it as root (sudo netboot ${input.role} …), or use --dry-run`),
  ];
}

/** One ✗ per CIDR source that did not parse, or one ✓ saying they all did. */
function cidrValidChecks(s: NetworkSettings, problems: readonly CidrProblem[]): Check[] {
  if (problems.length === 0)
    return [pass('cidr-valid', `pod CIDR ${s.podCIDRs.join(',')} and service CIDR ${s.serviceCIDRs.join(',')} are CIDRs, one per IP family`)];
  return problems.map((p) =>
    fail('cidr-valid', `${p.source} ${p.value} is not a valid CIDR list: ${p.reason}`, `give one CIDR per IP family, e.g. ${p.source} ${p.example}`),
  );
}

/** Every check for `input`, in the order they are printed. Without facts only the network is judged. */
export function preflight(input: PreflightInput): Check[] {
  const s = input.settings;
  const problems = input.cidrProblems ?? [];
  // The settled CIDRs stand in for ones that did not parse: judging them would pass or fail the wrong network.
  const judged = problems.length === 0;
  const checks = [
    ...cidrValidChecks(s, problems),
    ...(judged
      ? [...cidrChecks(s), nodeSubnetCheck(s, input.expectedNodes)]
      : [skip('cidrs', 'CIDR overlap, size and node-subnet checks wait for valid CIDRs')]),
    pass('mode', `mode ${s.mode} (${s.modeReason})`),
  ];
  const facts = input.facts;
  if (facts === undefined) return [...checks, skip('host', 'host not inspected (no facts given): kernel, sysctls, MTU, CNI configs and programs unchecked')];
  return [
    ...checks,
    ...(judged ? [hostDisjointCheck(s, facts)] : []),
    ...kernelChecks(s, facts),
    ...sysctlChecks(s, facts),
    mtuCheck(s, facts),
    cniConfigCheck(input, facts),
    ...programChecks(input, facts),
    ...privilegeCheck(input, facts),
  ];
}

const MARK: Record<Check['status'], string> = { pass: '✓', fail: '✗', warn: '!', skip: '–' };

/** The checks as lines for a person: `✓ …`, `✗ …` with `fix: …` under it. */
export function formatChecks(checks: readonly Check[]): string {
  return checks.map((c) => `${MARK[c.status]} ${c.message}${c.fix && c.status !== 'pass' ? `\n    fix: ${c.fix}` : ''}`).join('\n');
}
