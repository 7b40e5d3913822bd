// `netboot doctor`: checks this node's pod network end to end and says what is wrong, one line per
// check with ✓/✗ and the fix. Exit 0: no problem; 1: problems found; 2: usage.
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { ModeName } from '@netboot/routes';
import { chooseDatastore, DATASTORE_OPTIONS, DATASTORE_USAGE, describeDatastore } from '../ops/datastore.js';
import type { DoctorFacts } from '../ops/doctor/facts.js';
import { gatherCluster, gatherCni, gatherKernel, gatherLease, gatherLeaks } from '../ops/doctor/gather.js';
import { judge, renderFindings } from '../ops/doctor/judge.js';
import { probeAgent } from '../ops/health.js';
import { Options, output } from './args.js';

const USAGE = `usage: netboot doctor [--root DIR] [--netns NAME] [--node NAME] [--mode MODE] [--vni N] [--vxlan-port N]
                      [--kubeadm-config FILE] [--from DIR] [--bin-dir DIR] [--conf-dir DIR] [--lease-file FILE]
                      [--data-dir DIR] [--cache-dir DIR] [--health-port N] [datastore options] [--json]

Checks, in the order a pod's packets depend on them, and says for each what is wrong and what to do:
  cni-binary      the netboot plugin and the plugins its conflist chains are in --bin-dir (default
                  <root>/opt/cni/bin), and with --from DIR are the build in DIR
  cni-conflist    10-netboot.conflist is in --conf-dir (default <root>/etc/cni/net.d) and parses
  cni-shadow      no other pod network's config sorts before it (the runtime uses the first)
  lease           the agent's lease file (the conflist's ipam.leaseFile, default /run/netboot/subnet.json,
                  under <root>)
  lease-conflist  the conflist's ranges and MTU, if set, agree with the lease
  pod-subnet      kubeadm's podSubnet (--kubeadm-config, or the kubeadm-config ConfigMap) vs the pools
                  vs Node.spec.podCIDRs vs this node's record vs the lease
  agent           the local agent's /readyz (--health-port, default 9099; 0 or --netns skips it)
  sysctl          ip_forward (and IPv6 forwarding for IPv6 pods)
  mtu             pod veths → bridge → VXLAN device → uplink agree with the mode's pod MTU
  routes          routes to every peer's pods, as the mode wants, and no stale netboot route
  fdb-neigh       VXLAN FDB and neighbour entries for every peer, none stale
  leaks           node-local reservations (--data-dir, default <root>/<ipam.dataDir or /var/lib/cni/networks>/<network>)
                  each held by a live pod (libcni's cache under --cache-dir, default <root>/var/lib/cni)

  --netns NAME  judge the kernel state inside that network namespace (a lab or test node)
  --node NAME   this node's name in the datastore (default the host name)
  --mode MODE   host-gw | vxlan | cross-subnet | ipip (default the mode the node's record names)

${DATASTORE_USAGE}

examples:
  netboot doctor --kubeconfig /etc/kubernetes/kubelet.conf
  netboot doctor --etcd-endpoint http://10.0.0.1:2379 --kubeadm-config /etc/kubernetes/kubeadm.yaml
  netboot doctor --netns demo-node1 --node node1 --nodes-file /run/netboot-lab/demo/nodes.json \\
    --conf-dir /run/netboot-lab/demo/node1/net.d --bin-dir /run/netboot-lab/demo/bin     # a lab node`;

export async function doctorMain(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const opts = Options.parse(argv, {
    flags: ['json'],
    allowed: [
      ...DATASTORE_OPTIONS,
      ...['root', 'netns', 'node', 'mode', 'vni', 'vxlan-port', 'kubeadm-config', 'from', 'bin-dir', 'conf-dir', 'lease-file', 'data-dir'],
      ...['cache-dir', 'health-port'],
    ],
  });
  const choice = chooseDatastore(opts);
  const root = opts.get('root') ?? '/';
  const netns = opts.get('netns');
  const node = opts.get('node') ?? hostname();
  const mode = opts.has('mode') ? opts.choice<ModeName>('mode', ['host-gw', 'vxlan', 'cross-subnet', 'ipip'], 'vxlan') : undefined;
  const vni = opts.int('vni', 1, 16_777_215);
  const vxlanPort = opts.int('vxlan-port', 1, 65_535);
  const healthPort = netns === undefined ? (opts.int('health-port', 0, 65_535) ?? 9099) : 0;
  const out = output(opts.has('json'));

  const cni = gatherCni(root, {
    ...(opts.has('from') && { from: opts.get('from')! }),
    ...(opts.has('bin-dir') && { binDir: opts.get('bin-dir')! }),
    ...(opts.has('conf-dir') && { confDir: opts.get('conf-dir')! }),
  });
  // Where the plugin keeps its reservations and reads its lease: as netboot's conflist says, else the defaults.
  const conf = cni.files.find((c) => c.types[0] === 'netboot');
  const network = conf?.name ?? 'netboot';
  out.progress(`reading ${describeDatastore(choice)} …`);
  const kubeconfig = choice.type === 'kubernetes' ? (choice.kubeconfig ?? 'default') : opts.get('kubeconfig');
  const cluster = await gatherCluster({
    choice,
    node,
    ...(opts.has('kubeadm-config') && { kubeadmConfig: opts.get('kubeadm-config')! }),
    ...(kubeconfig !== undefined && { kubeconfig }),
  });
  const dataDir = opts.get('data-dir') ?? join(root, conf?.dataDir ?? '/var/lib/cni/networks', network);
  const facts: DoctorFacts = {
    cni,
    lease: gatherLease(opts.get('lease-file') ?? join(root, conf?.leaseFile ?? '/run/netboot/subnet.json')),
    cluster,
    kernel: gatherKernel({
      ...(netns !== undefined && { netns }),
      cluster,
      ...(mode !== undefined && { mode }),
      ...(vni !== undefined && { vni }),
      ...(vxlanPort !== undefined && { vxlanPort }),
    }),
    leaks: await gatherLeaks(dataDir, opts.get('cache-dir') ?? join(root, 'var/lib/cni')),
    ...(healthPort !== 0 && { agent: await probeAgent(healthPort) }),
  };
  const findings = judge(facts);
  out.result({ node, findings }, renderFindings(findings));
  return findings.some((f) => f.status === 'problem') ? 1 : 0;
}
