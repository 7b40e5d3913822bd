// `netboot doctor`'s judgement: DoctorFacts in, one finding per check out, each saying in words what is
// right or wrong and, when wrong, what to do. Pure: the kernel's side is compared through
// @netboot/routes' own diff (the planner reconcile runs), so doctor and the agent never disagree about
// what "right" is.
import type { Route } from '@netboot/core';
import { Cidr } from '@netboot/ipam';
import { diff, NETBOOT_PROTOCOL, type Ownership, type PeerState } from '@netboot/routes';
import { CONFLIST_NAME } from '../../cni/install.js';
import type { ClusterFacts, CniFacts, DoctorFacts, KernelFacts, LeaseFacts, LeakFacts } from './facts.js';

export interface Finding {
  check: string;
  status: 'ok' | 'problem' | 'skipped';
  message: string;
  /** What to do about a problem. */
  fix?: string;
}

const ok = (check: string, message: string): Finding => ({ check, status: 'ok', message });
const skipped = (check: string, message: string): Finding => ({ check, status: 'skipped', message });
const problem = (check: string, problems: string[], fix: string): Finding => ({
  check,
  status: 'problem',
  message: problems.length <= 6 ? problems.join('; ') : `${problems.slice(0, 6).join('; ')}; and ${problems.length - 6} more`,
  fix,
});

/** Every check, in the order a packet's setup depends on them. */
export function judge(f: DoctorFacts): Finding[] {
  const net = netbootConf(f.cni);
  return [
    judgeBinary(f.cni, net?.types),
    judgeConflist(f.cni),
    judgeShadow(f.cni),
    judgeLease(f.lease),
    judgeLeaseVsConflist(f.lease, f.cni),
    judgePodSubnet(f.cluster, f.lease),
    ...(f.agent === undefined ? [] : [judgeAgent(f)]),
    judgeSysctls(f.kernel, f.lease),
    judgeMtu(f.kernel, f.lease, net?.bridge ?? 'cni0'),
    ...judgeRouting(f.kernel, f.cluster),
    judgeLeaks(f.leaks),
  ];
}

/** netboot's conflist: its own file, else the first whose chain starts with the netboot plugin. */
function netbootConf(cni: CniFacts) {
  return cni.files.find((c) => c.file === CONFLIST_NAME && c.error === undefined) ?? cni.files.find((c) => c.types[0] === 'netboot' && c.error === undefined);
}

function judgeBinary(cni: CniFacts, chain: string[] | undefined): Finding {
  const wanted = [...new Set(['netboot', ...(chain ?? [])])];
  const missing = wanted.filter((t) => !cni.binaries[t]);
  const problems = missing.map((t) => `no executable ${cni.binDir}/${t}${t === 'netboot' ? '' : ` (the conflist chains ${t})`}`);
  if (cni.expectedSha256 !== undefined && cni.installedSha256 !== undefined && cni.expectedSha256.sha256 !== cni.installedSha256)
    problems.push(`${cni.binDir}/netboot differs from ${cni.expectedSha256.path} (another build)`);
  if (problems.length > 0)
    return problem(
      'cni-binary',
      problems,
      `netboot cni install --from DIR${missing.some((t) => t !== 'netboot') ? '; the chained reference plugins come with containernetworking-plugins (apt-get install containernetworking-plugins)' : ''}`,
    );
  return ok('cni-binary', `plugins present in ${cni.binDir}: ${wanted.join(', ')}`);
}

function judgeConflist(cni: CniFacts): Finding {
  const own = cni.files.find((c) => c.file === CONFLIST_NAME);
  if (own === undefined) return problem('cni-conflist', [`no ${cni.confDir}/${CONFLIST_NAME}: the runtime has no netboot network`], 'netboot cni install');
  if (own.error !== undefined)
    return problem('cni-conflist', [`${cni.confDir}/${own.file} does not parse: ${own.error}`], 'netboot cni install --force rewrites it');
  if (own.types[0] !== 'netboot')
    return problem('cni-conflist', [`${cni.confDir}/${own.file} chains ${own.types.join(' → ')}, not the netboot plugin first`], 'netboot cni install --force');
  return ok('cni-conflist', `${cni.confDir}/${own.file}: network ${own.name}, ${own.types.join(' → ')}, cniVersion ${own.cniVersion}`);
}

function judgeShadow(cni: CniFacts): Finding {
  const net = netbootConf(cni);
  if (net === undefined) return skipped('cni-shadow', 'no netboot conflist to be shadowed');
  const before = cni.files.slice(0, cni.files.indexOf(net)).filter((c) => !c.types.includes('netboot'));
  if (before.length === 0) return ok('cni-shadow', `${net.file} is the first network config in ${cni.confDir}: the runtime uses it`);
  return problem(
    'cni-shadow',
    before.map(
      (c) =>
        `${c.file}${c.name ? ` (network ${c.name}, ${c.types.join(' → ')})` : ''} sorts before ${net.file}: the runtime gives pods that network, not netboot's`,
    ),
    `remove ${before.map((c) => `${cni.confDir}/${c.file}`).join(' ')} (another pod network: one per cluster), then restart the runtime`,
  );
}

function judgeLease(lease: LeaseFacts): Finding {
  if (lease.error !== undefined)
    return problem('lease', [`${lease.path}: ${lease.error}`], 'start `netboot agent` on this node: it leases the pod subnet and writes this file');
  return ok('lease', `${lease.path}: subnets ${lease.subnets!.join(', ')}, MTU ${lease.mtu ?? 'unset'}`);
}

function judgeLeaseVsConflist(lease: LeaseFacts, cni: CniFacts): Finding {
  const net = netbootConf(cni);
  if (net === undefined || lease.subnets === undefined) return skipped('lease-conflist', 'needs both the lease file and the conflist');
  const problems: string[] = [];
  if (net.ranges !== undefined && !sameSet(net.ranges, lease.subnets))
    problems.push(
      `the conflist's ipam.ranges (${net.ranges.join(', ')}) are not the leased subnets (${lease.subnets.join(', ')}): pods get addresses the other nodes route elsewhere`,
    );
  if (net.mtu !== undefined && lease.mtu !== undefined && net.mtu !== lease.mtu)
    problems.push(`the conflist sets MTU ${net.mtu}, the lease ${lease.mtu}: pods would send packets the tunnel drops`);
  if (problems.length > 0)
    return problem(
      'lease-conflist',
      problems,
      'drop ranges and mtu from the conflist (netboot cni install --force): the plugin then takes both from the lease',
    );
  return ok('lease-conflist', net.ranges === undefined ? 'the conflist takes its subnets from the lease' : 'the conflist’s ranges are the leased subnets');
}

function judgePodSubnet(c: ClusterFacts, lease: LeaseFacts): Finding {
  const problems: string[] = [];
  const compared: string[] = [];
  const inside = (cidr: string, outer: readonly string[]) => outer.some((o) => contains(o, cidr));
  const podSubnet = c.podSubnet?.cidrs;
  if (c.error !== undefined) problems.push(`cannot read the nodes from ${c.datastore}: ${c.error}`);
  else if (c.record === undefined)
    problems.push(`node ${c.node} has no record in ${c.datastore}: its agent has not published (not running, or another --node-name)`);
  if (podSubnet !== undefined) {
    compared.push(`kubeadm podSubnet ${podSubnet.join(',')}`);
    for (const p of c.pools ?? [])
      if (!p.disabled && !inside(p.cidr, podSubnet)) problems.push(`pool ${p.cidr} (${p.name}) is outside kubeadm's podSubnet ${podSubnet.join(',')}`);
    for (const cidr of c.nodePodCIDRs ?? [])
      if (!inside(cidr, podSubnet))
        problems.push(
          `Node ${c.node}'s spec.podCIDRs ${cidr} is outside kubeadm's podSubnet ${podSubnet.join(',')} (the controller manager's --cluster-cidr differs)`,
        );
    for (const cidr of c.record?.podCIDRs ?? [])
      if (!inside(cidr, podSubnet)) problems.push(`the node's leased subnet ${cidr} is outside kubeadm's podSubnet ${podSubnet.join(',')}`);
  }
  if (c.pools !== undefined) compared.push(`${c.pools.length} pool(s)`);
  if (c.nodePodCIDRs !== undefined) {
    compared.push(`Node.spec.podCIDRs ${c.nodePodCIDRs.join(',') || '(none)'}`);
    if (c.nodePodCIDRs.length === 0)
      problems.push(`Node ${c.node} has no spec.podCIDRs: run the controller manager with --allocate-node-cidrs and --cluster-cidr`);
    else if (c.record !== undefined && !sameSet(c.record.podCIDRs, c.nodePodCIDRs))
      problems.push(`the node's record says ${c.record.podCIDRs.join(',')}, its Node.spec.podCIDRs ${c.nodePodCIDRs.join(',')}`);
  }
  if (c.record !== undefined && c.pools !== undefined)
    for (const cidr of c.record.podCIDRs)
      if (
        !inside(
          cidr,
          c.pools.map((p) => p.cidr),
        )
      )
        problems.push(`the node's subnet ${cidr} is in no pool`);
  if (c.record !== undefined && lease.subnets !== undefined) {
    compared.push('the lease file');
    const leased = [...lease.subnets, ...(lease.disabledSubnets ?? [])];
    if (!sameSet(c.record.podCIDRs, leased))
      problems.push(`the lease file says ${leased.join(',')}, the node's record ${c.record.podCIDRs.join(',')}: the agent has not rewritten it (restart it)`);
  }
  if (c.podSubnetError !== undefined) problems.push(c.podSubnetError);
  if (problems.length > 0)
    return problem(
      'pod-subnet',
      problems,
      'one pod network per cluster: make kubeadm’s networking.podSubnet, the controller manager’s --cluster-cidr and netboot’s pools the same CIDR (netboot init writes all three)',
    );
  if (compared.length === 0) return skipped('pod-subnet', 'nothing to compare: give --kubeadm-config FILE or a working --kubeconfig');
  return ok('pod-subnet', `the node's subnets ${c.record?.podCIDRs.join(',') ?? ''} agree with ${compared.join(', ')}`);
}

function judgeAgent(f: DoctorFacts): Finding {
  const a = f.agent!;
  if (a.state === 'ready' && a.datastoreUp !== false)
    return ok('agent', `the agent is ready${a.peers !== undefined ? ` (${a.peers} peers, ${a.reconcileErrors ?? 0} reconcile errors)` : ''}`);
  return problem(
    'agent',
    [`the agent is ${a.state}: ${a.detail}`],
    'look at the agent’s log (journalctl -u netboot-agent, or kubectl -n kube-system logs ds/netboot)',
  );
}

function judgeSysctls(k: KernelFacts, lease: LeaseFacts): Finding {
  const subnets = lease.subnets ?? k.node?.podCIDRs ?? [];
  const keys = ['net.ipv4.ip_forward', ...(subnets.some((s) => s.includes(':')) ? ['net.ipv6.conf.all.forwarding'] : [])];
  const off = keys.filter((key) => k.sysctls[key] !== '1');
  if (off.length > 0)
    return problem(
      'sysctl',
      off.map((key) => `${key} is ${k.sysctls[key] ?? 'unreadable'}: this node does not forward pod traffic`),
      `${off.map((key) => `sysctl -w ${key}=1`).join('; ')} (the agent sets it when it starts)`,
    );
  return ok('sysctl', `${keys.join(', ')} = 1`);
}

function judgeMtu(k: KernelFacts, lease: LeaseFacts, bridgeName: string): Finding {
  if (k.podMtu === undefined) return skipped('mtu', `no pod MTU to judge by: ${k.nodeError ?? 'this node is unknown'}`);
  const want = k.podMtu;
  const problems: string[] = [];
  const uplinks = (k.node?.underlay ?? []).map((u) => `${u.dev} ${u.mtu}`).join(', ');
  if (lease.mtu !== undefined && lease.mtu !== want) problems.push(`the lease says pod MTU ${lease.mtu}, ${k.mode} over ${uplinks} allows ${want}`);
  const podMtu = lease.mtu ?? want;
  const device = k.desired?.device;
  const dev = device === undefined ? undefined : k.links.find((l) => l.name === device.name);
  if (dev !== undefined && dev.mtu !== device!.mtu) problems.push(`${dev.name} has MTU ${dev.mtu}, want ${device!.mtu}`);
  const bridge = k.links.find((l) => l.name === bridgeName);
  if (bridge !== undefined) {
    if (bridge.mtu > podMtu) problems.push(`bridge ${bridge.name} has MTU ${bridge.mtu}, above the pod MTU ${podMtu}`);
    for (const port of k.links.filter((l) => l.master === bridge.index))
      if (port.mtu !== podMtu) problems.push(`pod veth ${port.name} has MTU ${port.mtu}, want ${podMtu}: that pod's large packets are dropped or fragmented`);
  }
  if (problems.length > 0)
    return problem('mtu', problems, 'restart the agent (it rewrites the lease), then recreate the affected pods; or ip link set DEV mtu N');
  return ok('mtu', `pod MTU ${podMtu} along ${[bridge && `${bridge.name} and its ports`, dev?.name, `uplink ${uplinks}`].filter(Boolean).join(' → ')}`);
}

/** Routes, then neighbours and FDB: what reconcile would still have to write is what is wrong now. */
function judgeRouting(k: KernelFacts, c: ClusterFacts): Finding[] {
  if (k.desired === undefined || k.node === undefined) {
    const why = `cannot tell what the routes should be: ${k.nodeError ?? c.error ?? 'no record for this node'}`;
    return [skipped('routes', why), skipped('fdb-neigh', why)];
  }
  const desired = k.desired;
  const index = new Map(k.links.map((l) => [l.name, l.index]));
  const name = new Map(k.links.map((l) => [l.index, l.name]));
  // A device that does not exist gets an index no kernel entry has, so everything through it is missing.
  const resolve = (dev: string | number): number => {
    if (typeof dev === 'number') return dev;
    if (!index.has(dev)) {
      index.set(dev, -1 - index.size);
      name.set(index.get(dev)!, dev);
    }
    return index.get(dev)!;
  };
  const devName = (dev: number | string | undefined) => (typeof dev === 'number' ? (name.get(dev) ?? `#${dev}`) : String(dev));
  const own: Ownership = { protocol: NETBOOT_PROTOCOL, table: 254 };
  const deviceIndex = desired.device === undefined ? undefined : index.get(desired.device.name);
  if (deviceIndex !== undefined) own.device = deviceIndex;
  const wanted: PeerState = {
    routes: desired.routes.map((r) => ({ ...r, dev: resolve(r.dev) })),
    neighbours: desired.neighbours.map((n) => ({ ...n, dev: resolve(n.dev) })),
    fdb: desired.fdb.map((f) => ({ ...f, dev: resolve(f.dev) })),
  };
  const plan = diff({ routes: flattenNexthops(k), neighbours: k.neighbours, fdb: k.fdb }, wanted, own);
  const via = (r: { gateway?: string; dev?: number | string }) => `via ${r.gateway ?? '?'} dev ${devName(r.dev)}`;

  const routeProblems = [
    ...(desired.device !== undefined && deviceIndex === undefined ? [`the ${desired.device.kind} device ${desired.device.name} is missing`] : []),
    ...desired.refused.map((r) => `peer ${r.peer} cannot be routed: ${r.error.message}`),
    ...plan.routes.add.map((r) => `no route to ${r.peer}'s pods ${r.dst} (want ${via(r)})`),
    ...plan.routes.replace.map((c) => `the route to ${c.to.peer}'s pods ${c.to.dst} goes ${via(c.from)}, want ${via(c.to)}`),
    ...plan.routes.del.map((r) => `stale netboot route ${r.dst} ${via(r)}: no node in the datastore has that subnet`),
    ...plan.conflicts.map(
      (x) =>
        `${x.peer}'s pods ${x.dst} are routed by someone else (${x.routes.map((r) => `proto ${r.protocol} ${via(r)}`).join(', ')}): netboot leaves that route alone`,
    ),
  ];
  const neighProblems = [
    ...plan.neighbours.set.map((n) =>
      n.from === undefined
        ? `no neighbour entry ${n.to.dst} lladdr ${n.to.lladdr} (${n.to.peer})`
        : `neighbour ${n.to.dst} is ${n.from.lladdr ?? 'incomplete'}, want ${n.to.lladdr} (${n.to.peer})`,
    ),
    ...plan.neighbours.del.map((n) => `stale neighbour entry ${n.dst} lladdr ${n.lladdr} on ${devName(n.dev)}`),
    ...plan.fdb.add.map((e) => `no FDB entry ${e.lladdr} dst ${e.dst} (${e.peer}'s VTEP)`),
    ...plan.fdb.del.map((e) => `stale FDB entry ${e.lladdr} dst ${e.dst} on ${devName(e.dev)}`),
  ];
  const peers = c.peers.filter((p) => p.name !== k.node!.name).length;
  const fixRoutes =
    plan.conflicts.length > 0
      ? `remove the other routes to pod subnets (ip route del DST proto P) — a second pod network or a static route; then the agent adds netboot's`
      : 'the running agent repairs this within a second: is it running (netboot status)? Its log says what the kernel refused';
  return [
    routeProblems.length > 0
      ? problem('routes', routeProblems, fixRoutes)
      : ok('routes', `${desired.routes.length} route(s) to ${peers} peer(s) as the ${k.mode} mode wants (ip route show proto ${NETBOOT_PROTOCOL})`),
    neighProblems.length > 0
      ? problem('fdb-neigh', neighProblems, 'the running agent repairs these; a stale entry may be a peer that left: netboot status')
      : ok(
          'fdb-neigh',
          desired.device === undefined
            ? `${k.mode} uses no neighbour or FDB entries`
            : `${desired.fdb.length} FDB and ${desired.neighbours.length} neighbour entries match the peers`,
        ),
  ];
}

/** Routes through netboot's nexthop objects, seen as the plain `via` routes the mode describes. */
function flattenNexthops(k: KernelFacts): Route[] {
  const byId = new Map(k.nexthops.map((n) => [n.id, n]));
  return k.routes.map((r) => {
    const nh = r.nhid === undefined ? undefined : byId.get(r.nhid);
    if (nh === undefined || nh.kind !== 'single') return r;
    const { nhid: _nhid, ...plain } = r;
    return { ...plain, gateway: nh.gateway, dev: nh.dev, ...(nh.onlink ? { onlink: true } : {}) } as Route;
  });
}

function judgeLeaks(l: LeakFacts): Finding {
  if (l.error !== undefined) return skipped('leaks', l.error);
  const reservations = l.reservations ?? [];
  if (reservations.length === 0) return ok('leaks', `no pod IP reservations in ${l.dataDir}`);
  if (l.cache === undefined) return skipped('leaks', `${reservations.length} reservation(s) in ${l.dataDir}, but no libcni cache to tell live pods by`);
  const leaks: string[] = [];
  for (const r of reservations) {
    const entry = l.cache.find((c) => c.containerId === r.containerId && (r.ifname === '' || c.ifname === r.ifname));
    if (entry === undefined) leaks.push(`${r.ip} is held by ${r.containerId}/${r.ifname || '?'}, which no runtime knows`);
    else if (!entry.netnsExists) leaks.push(`${r.ip} is held by ${r.containerId}/${r.ifname || '?'}, whose namespace ${entry.netns} is gone`);
  }
  if (leaks.length > 0) return problem('leaks', leaks, `netboot ipam gc --data-dir ${l.dataDir} (--dry-run first)`);
  return ok('leaks', `${reservations.length} reservation(s) in ${l.dataDir}, each held by a live pod`);
}

function contains(outer: string, inner: string): boolean {
  try {
    return Cidr.parse(outer).contains(Cidr.parse(inner));
  } catch {
    return false;
  }
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/** One line per check: ✓, ✗ (with the fix on the next line) or – (skipped, with why). */
export function renderFindings(findings: readonly Finding[]): string {
  const mark = { ok: '✓', problem: '✗', skipped: '–' } as const;
  const lines = findings.map((f) => `${mark[f.status]} ${f.check}: ${f.message}${f.fix === undefined ? '' : `\n    fix: ${f.fix}`}`);
  const bad = findings.filter((f) => f.status === 'problem').length;
  lines.push(bad === 0 ? 'no problems found' : `${bad} problem(s) found`);
  return lines.join('\n');
}
