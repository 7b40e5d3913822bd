// The routing modes on the seeds' three-node topology (see cluster.ts), each node run by its own
// Network as the agent would: every pod pings every other pod over IPv4 and IPv6, and `ip -j route`,
// `bridge -j fdb` and `ip -j neigh` show exactly the expected owned entries. Then the churn the
// incumbents get wrong: peer removal and return with a new pod CIDR and node IP, entries deleted by
// hand, a foreign route, a VXLAN device recreated with the wrong VNI.
import { test as uvuTest } from 'uvu';
import * as assert from 'uvu/assert';
import { privileged, sh } from '@netboot/core/testing';
import {
  crossSubnet,
  hostGw,
  ipip,
  ModeUnavailableError,
  Network,
  vtepMac,
  vxlan,
  type Mode,
  type NetworkOptions,
  type Peer,
  type ReconcileOptions,
  type Report,
} from '../src/index.js';
import { discoverNode } from '../src/node.js';
import {
  buildCluster,
  fdbEntries,
  ownedNexthops,
  ownedRoutes,
  permanentNeighbours,
  pingMatrix,
  pings,
  routeNhids,
  type Cluster,
  type ClusterNode,
} from './cluster.js';

const test = privileged(uvuTest);

interface Running {
  node: ClusterNode;
  net: Network;
  reports: Report[];
  stop(): Promise<void>;
}

/** A Network per node with every node as a peer, started and through its first pass. */
type StartOptions = ReconcileOptions & Pick<NetworkOptions, 'monitorWait' | 'retryMs'>;

async function start(c: Cluster, mode: Mode, node: ClusterNode, peers = c.nodes.map((n) => n.peer), opts: StartOptions = {}): Promise<Running> {
  const reports: Report[] = [];
  const net = new Network({
    ...opts,
    rtnl: node.rtnl,
    netns: node.ns,
    mode,
    node: node.local,
    peers,
    onReport: (r) => reports.push(r),
    onError: (e) => console.error(`node${node.n}:`, e),
  });
  const abort = new AbortController();
  const done = net.run(abort.signal);
  await waitFor(() => reports.length > 0, 2000, `node${node.n}'s first pass`);
  return {
    node,
    net,
    reports,
    stop: () => {
      abort.abort();
      return done;
    },
  };
}

async function startAll(c: Cluster, mode: Mode, opts: StartOptions = {}): Promise<Running[]> {
  return Promise.all(c.nodes.map((node) => start(c, mode, node, undefined, opts)));
}

/** Polls `cond` every 10 ms; the milliseconds it took, or a failure after `ms`. */
async function waitFor(cond: () => boolean, ms: number, what: string): Promise<number> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) assert.unreachable(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - t0;
}

const others = (c: Cluster, n: ClusterNode): ClusterNode[] => c.nodes.filter((x) => x !== n);
const hostGwRoutes = (peers: ClusterNode[]): string[] =>
  peers.flatMap((p) => [`${p.peer.podCIDRs[0]} via ${p.peer.nodeIPs[0]} dev eth0`, `${p.peer.podCIDRs[1]} via ${p.peer.nodeIPs[1]} dev eth0`]).sort();
const hostGwNexthops = (peers: ClusterNode[]): string[] => peers.flatMap((p) => p.peer.nodeIPs.map((ip) => `via ${ip} dev eth0`)).sort();
const vxlanNexthops = (peers: ClusterNode[]): string[] =>
  peers.flatMap((p) => p.peer.podCIDRs.map((c) => `via ${c.split('/')[0]} dev netboot.1 onlink`)).sort();
const vxlanRoutes = (peers: ClusterNode[]): string[] =>
  peers.flatMap((p) => p.peer.podCIDRs.map((c) => `${c} via ${c.split('/')[0]} dev netboot.1 onlink`)).sort();
const vxlanFdb = (peers: ClusterNode[]): string[] => peers.map((p) => `${vtepMac(p.peer.name)} ${p.peer.nodeIPs[0]}`).sort();
const vxlanNeighbours = (peers: ClusterNode[]): string[] =>
  peers.flatMap((p) => p.peer.podCIDRs.map((c) => `${c.split('/')[0]} ${vtepMac(p.peer.name)}`)).sort();

async function withCluster(subnets: 1 | 2, fn: (c: Cluster) => Promise<void>): Promise<void> {
  const c = buildCluster({ subnets });
  try {
    await fn(c);
  } finally {
    c.close();
  }
}

test("monitorWait 'worker' (the node agent's): after 2 s of quiet the monitor waits on a worker thread, and a route deleted by hand is still back within a second", () =>
  withCluster(1, async (c) => {
    const nets = await startAll(c, hostGw(), { nexthops: 'never', monitorWait: 'worker' });
    try {
      const n1 = c.nodes[0]!;
      await new Promise((r) => setTimeout(r, 2500)); // quiet: the wait is the worker's now
      const want = ownedRoutes(n1).find((r) => r.startsWith('10.244.2.0/24 '))!;
      sh(n1.ns, 'ip', 'route', 'del', '10.244.2.0/24', 'proto', '78');
      const ms = await waitFor(() => ownedRoutes(n1).includes(want), 1000, 'route back');
      console.log(`  repaired in ${ms} ms from the worker's wait`);
      assert.equal(ownedRoutes(n1), hostGwRoutes(others(c, n1)));
    } finally {
      await Promise.all(nets.map((r) => r.stop()));
    }
  }));

test("host-gw with nexthops 'always': every pod reaches every pod (IPv4, IPv6); exactly the owned routes; a removed peer leaves nothing", () =>
  withCluster(1, async (c) => {
    const nets = await startAll(c, hostGw(), { nexthops: 'always' });
    try {
      assert.equal(pingMatrix(c), []);
      for (const n of c.nodes) assert.equal(ownedRoutes(n), hostGwRoutes(others(c, n)), `node${n.n} routes`);
      // Through nexthop objects: one per peer and family, and every owned route names one.
      for (const n of c.nodes) assert.equal(ownedNexthops(n), hostGwNexthops(others(c, n)), `node${n.n} nexthops`);
      const [n1, , n3] = c.nodes as [ClusterNode, ClusterNode, ClusterNode];
      assert.ok(Object.values(routeNhids(n1)).every((id) => id !== undefined));
      nets[0]!.net.removePeer('node3');
      await waitFor(() => ownedRoutes(n1).length === 2 && ownedNexthops(n1).length === 2, 1000, 'node3 routes and nexthops gone from node1');
      assert.equal(ownedRoutes(n1), hostGwRoutes([c.nodes[1]!]));
      assert.equal(ownedNexthops(n1), hostGwNexthops([c.nodes[1]!]));
      assert.not.ok(pings(n1, n3.podIPs[0], 1), 'pod1 no longer reaches pod3');
    } finally {
      await Promise.all(nets.map((r) => r.stop()));
    }
  }));

test("host-gw with nexthops 'never': plain `via` routes, no nexthop objects, the same reachability", () =>
  withCluster(1, async (c) => {
    const nets = await startAll(c, hostGw(), { nexthops: 'never' });
    try {
      assert.equal(pingMatrix(c), []);
      for (const n of c.nodes) {
        assert.equal(ownedRoutes(n), hostGwRoutes(others(c, n)), `node${n.n} routes`);
        assert.equal(ownedNexthops(n), [], `node${n.n} has no nexthops`);
        assert.ok(Object.values(routeNhids(n)).every((id) => id === undefined));
      }
    } finally {
      await Promise.all(nets.map((r) => r.stop()));
    }
  }));

for (const nexthops of ['never', 'always'] as const) {
  test(`errors never kill the loop (nexthops ${nexthops}): refused operations are reported with the kernel message and retried`, () =>
    withCluster(1, async (c) => {
      const nets = await startAll(c, hostGw(), { nexthops });
      try {
        const n1 = c.nodes[0]!;
        const { reports } = nets[0]!;
        // Without its IPv4 address the uplink has no route to the peers' node IPs: the kernel drops
        // netboot's plain IPv4 routes and refuses them back. Routes through nexthop objects it keeps
        // (and the nexthops): there, deleting the nexthops makes it refuse them back.
        sh(n1.ns, 'ip', 'addr', 'del', '192.168.1.11/24', 'dev', 'eth0');
        if (nexthops === 'always') sh(n1.ns, 'ip', 'nexthop', 'flush', 'proto', '78');
        const refused =
          nexthops === 'never'
            ? (op: string): boolean => op.startsWith('ip route add 10.244.2.0/24')
            : (op: string): boolean => /^ip nexthop replace id \d+ via 192\.168\.1\.12 dev /.test(op);
        await waitFor(() => reports.some((r) => r.failures.some((f) => refused(f.op))), 2000, 'failure reported');
        const failure = reports.flatMap((r) => r.failures).find((f) => refused(f.op))!;
        assert.equal(failure.peer, 'node2');
        assert.match(failure.error.message, nexthops === 'never' ? /^RTM_NEWROUTE: ENETUNREACH/ : /^RTM_NEWNEXTHOP: E[A-Z]+ .*Nexthop has invalid gateway/);
        sh(n1.ns, 'ip', 'addr', 'add', '192.168.1.11/24', 'dev', 'eth0');
        await waitFor(() => ownedRoutes(n1).length === 4, 3000, 'routes back after the retry');
        assert.equal(ownedRoutes(n1), hostGwRoutes(others(c, n1)));
      } finally {
        await Promise.all(nets.map((r) => r.stop()));
      }
    }));
}

test('vxlan: device as specified; pings in both families; exactly the owned routes, FDB and neighbour entries', () =>
  withCluster(1, async (c) => {
    const nets = await startAll(c, vxlan());
    try {
      assert.equal(pingMatrix(c), []);
      for (const n of c.nodes) {
        const peers = others(c, n);
        assert.equal(ownedRoutes(n), vxlanRoutes(peers), `node${n.n} routes`);
        assert.equal(fdbEntries(n), vxlanFdb(peers), `node${n.n} FDB`);
        assert.equal(permanentNeighbours(n), vxlanNeighbours(peers), `node${n.n} neighbours`);
        const [dev] = JSON.parse(sh(n.ns, 'ip', '-d', '-j', 'link', 'show', 'netboot.1'));
        const info = dev.linkinfo.info_data;
        assert.equal(
          [info.id, info.port, info.local, info.learning, dev.mtu, dev.address, dev.operstate !== 'DOWN'],
          [1, 4789, n.peer.nodeIPs[0], false, 1450, vtepMac(n.peer.name), true],
        );
      }
      assert.is(nets[0]!.net.mtu, 1450);
    } finally {
      await Promise.all(nets.map((r) => r.stop()));
    }
  }));

test('vxlan over the IPv6 underlay: FDB entries name IPv6 node IPs, MTU 1430, pings in both families', () =>
  withCluster(1, async (c) => {
    const nets = await startAll(c, vxlan({ underlay: 6 }));
    try {
      assert.equal(pingMatrix(c), []);
      for (const n of c.nodes) {
        const peers = others(c, n);
        assert.equal(fdbEntries(n), peers.map((p) => `${vtepMac(p.peer.name)} ${p.peer.nodeIPs[1]}`).sort());
        assert.equal(ownedRoutes(n), vxlanRoutes(peers));
        const [dev] = JSON.parse(sh(n.ns, 'ip', '-d', '-j', 'link', 'show', 'netboot.1'));
        // iproute2 names an IPv6 local address `local6`.
        assert.equal([dev.linkinfo.info_data.local6, dev.mtu], [n.peer.nodeIPs[1], 1430]);
      }
    } finally {
      await Promise.all(nets.map((r) => r.stop()));
    }
  }));

test("vxlan with nexthops 'always': an owned route, FDB entry, neighbour and nexthop deleted by hand are each back within a second", () =>
  withCluster(1, async (c) => {
    const nets = await startAll(c, vxlan(), { nexthops: 'always' });
    try {
      const n1 = c.nodes[0]!;
      const peers = others(c, n1);
      const mac2 = vtepMac('node2');
      sh(n1.ns, 'ip', 'route', 'del', '10.244.2.0/24', 'proto', '78');
      const route = await waitFor(() => ownedRoutes(n1).includes('10.244.2.0/24 via 10.244.2.0 dev netboot.1 onlink'), 1000, 'route back');
      sh(n1.ns, 'bridge', 'fdb', 'del', mac2, 'dev', 'netboot.1', 'dst', '192.168.1.12');
      const fdb = await waitFor(() => fdbEntries(n1).includes(`${mac2} 192.168.1.12`), 1000, 'FDB entry back');
      sh(n1.ns, 'ip', 'neigh', 'del', '10.244.2.0', 'dev', 'netboot.1');
      const neigh = await waitFor(() => permanentNeighbours(n1).includes(`10.244.2.0 ${mac2}`), 1000, 'neighbour back');
      // A nexthop deleted by hand silently takes its route along: both are back.
      const nhid = routeNhids(n1)['10.244.2.0/24']!;
      sh(n1.ns, 'ip', 'nexthop', 'del', 'id', String(nhid));
      assert.not.ok(
        ownedRoutes(n1).some((r) => r.startsWith('10.244.2.0/24 ')),
        'the kernel dropped the route with it',
      );
      const nexthop = await waitFor(
        () => routeNhids(n1)['10.244.2.0/24'] === nhid && ownedRoutes(n1).includes('10.244.2.0/24 via 10.244.2.0 dev netboot.1 onlink'),
        1000,
        'nexthop and its route back',
      );
      // And an owned route changed by hand is put back too.
      sh(n1.ns, 'ip', 'route', 'replace', '10.244.3.0/24', 'via', '192.168.1.99', 'dev', 'eth0', 'proto', '78');
      const changed = await waitFor(() => ownedRoutes(n1).includes('10.244.3.0/24 via 10.244.3.0 dev netboot.1 onlink'), 1000, 'changed route back');
      console.log(`  repaired in: route ${route} ms, FDB ${fdb} ms, neighbour ${neigh} ms, nexthop ${nexthop} ms, changed route ${changed} ms`);
      assert.equal(
        [ownedRoutes(n1), fdbEntries(n1), permanentNeighbours(n1), ownedNexthops(n1)],
        [vxlanRoutes(peers), vxlanFdb(peers), vxlanNeighbours(peers), vxlanNexthops(peers)],
      );
      assert.equal(pingMatrix(c), []);
    } finally {
      await Promise.all(nets.map((r) => r.stop()));
    }
  }));

test("vxlan: a foreign route at a peer's pod CIDR is reported and left alone; when it goes, netboot's comes back", () =>
  withCluster(1, async (c) => {
    const nets = await startAll(c, vxlan());
    try {
      const n1 = c.nodes[0]!;
      const { net, reports } = nets[0]!;
      sh(n1.ns, 'ip', 'route', 'replace', '10.244.2.0/24', 'via', '192.168.1.12', 'dev', 'eth0', 'proto', 'static');
      await waitFor(() => reports.some((r) => r.conflicts.some((x) => x.dst === '10.244.2.0/24')), 1000, 'conflict reported');
      const conflict = reports.flatMap((r) => r.conflicts).find((x) => x.dst === '10.244.2.0/24')!;
      assert.equal([conflict.peer, conflict.routes.map((r) => [r.protocol, r.gateway])], ['node2', [[4, '192.168.1.12']]]);
      // A full resync does not touch it either.
      net.setPeers([]);
      net.setPeers(c.nodes.map((n) => n.peer));
      await new Promise((r) => setTimeout(r, 300));
      const still = JSON.parse(sh(n1.ns, 'ip', '-j', 'route', 'show', '10.244.2.0/24'));
      assert.equal(
        still.map((r: any) => [r.protocol, r.gateway, r.dev]),
        [['static', '192.168.1.12', 'eth0']],
      );
      assert.ok(pings(n1, c.nodes[1]!.podIPs[0]), 'host-gw by hand works too');
      sh(n1.ns, 'ip', 'route', 'del', '10.244.2.0/24', 'proto', 'static');
      await waitFor(() => ownedRoutes(n1).includes('10.244.2.0/24 via 10.244.2.0 dev netboot.1 onlink'), 1000, "netboot's route back");
    } finally {
      await Promise.all(nets.map((r) => r.stop()));
    }
  }));

test('vxlan: a device recreated by hand with the wrong VNI is repaired, reported, and its entries restored', () =>
  withCluster(1, async (c) => {
    const nets = await startAll(c, vxlan());
    try {
      const n1 = c.nodes[0]!;
      const { reports } = nets[0]!;
      sh(n1.ns, 'ip', 'link', 'del', 'netboot.1');
      sh(n1.ns, 'ip', 'link', 'add', 'netboot.1', 'type', 'vxlan', 'id', '42', 'dstport', '4789', 'local', '192.168.1.11', 'nolearning');
      await waitFor(() => reports.some((r) => r.device?.action === 'recreated'), 2000, 'device recreated');
      const report = reports.find((r) => r.device?.action === 'recreated')!;
      assert.ok(report.device!.changed.includes('vni: 42 → 1'), report.device!.changed.join('; '));
      const [dev] = JSON.parse(sh(n1.ns, 'ip', '-d', '-j', 'link', 'show', 'netboot.1'));
      assert.is(dev.linkinfo.info_data.id, 1);
      const peers = others(c, n1);
      await waitFor(() => ownedRoutes(n1).length === 4 && fdbEntries(n1).length === 2 && permanentNeighbours(n1).length === 4, 1000, 'entries restored');
      assert.equal([ownedRoutes(n1), fdbEntries(n1), permanentNeighbours(n1)], [vxlanRoutes(peers), vxlanFdb(peers), vxlanNeighbours(peers)]);
      assert.equal(pingMatrix(c), []);
    } finally {
      await Promise.all(nets.map((r) => r.stop()));
    }
  }));

test("host-gw: peer changes whose update throws at one peer (a device that does not exist) are all retried; that peer's routes stay meanwhile", () =>
  withCluster(1, async (c) => {
    const base = hostGw();
    let broken = true;
    // node2's new entries name a device that is not there until `broken` is cleared.
    const mode: Mode = {
      ...base,
      forPeer: (node, peer) => {
        const s = base.forPeer(node, peer);
        if (broken && peer.name === 'node2' && s !== undefined) s.routes[0]!.dev = 'gone0';
        return s;
      },
    };
    const [n1, n2, n3] = c.nodes as [ClusterNode, ClusterNode, ClusterNode];
    const r = await start(c, mode, n1, undefined, { nexthops: 'never', retryMs: 50 });
    try {
      assert.equal(ownedRoutes(n1), hostGwRoutes([n2, n3]));
      // Both change pod CIDR (the routes only: no pod there to ping); node2's update throws first.
      const peer2: Peer = { ...n2.peer, podCIDRs: ['10.244.22.0/24', 'fd00:244:22::/64'] };
      const peer3: Peer = { ...n3.peer, podCIDRs: ['10.244.33.0/24', 'fd00:244:33::/64'] };
      r.net.upsertPeer(peer2);
      r.net.upsertPeer(peer3);
      await new Promise((res) => setTimeout(res, 400)); // several failed updates and resyncs
      assert.equal(ownedRoutes(n1), hostGwRoutes([n2, n3]), "node2's routes stay; node3's change waits");
      broken = false;
      const want = hostGwRoutes([
        { ...n2, peer: peer2 },
        { ...n3, peer: peer3 },
      ]);
      await waitFor(() => JSON.stringify(ownedRoutes(n1)) === JSON.stringify(want), 1000, 'both changes applied at the retry');
    } finally {
      await r.stop();
    }
  }));

test('vxlan: a removed peer leaves nothing; back with a new pod CIDR and node IP, nothing stale remains', () =>
  withCluster(1, async (c) => {
    const nets = await startAll(c, vxlan());
    try {
      const [n1, n2, n3] = c.nodes as [ClusterNode, ClusterNode, ClusterNode];
      for (const r of nets.slice(0, 2)) r.net.removePeer('node3');
      await waitFor(() => ownedRoutes(n1).length === 2 && ownedRoutes(n2).length === 2, 1000, 'node3 gone');
      for (const n of [n1, n2])
        assert.equal(
          [ownedRoutes(n), fdbEntries(n), permanentNeighbours(n)],
          [vxlanRoutes([n === n1 ? n2 : n1]), vxlanFdb([n === n1 ? n2 : n1]), vxlanNeighbours([n === n1 ? n2 : n1])],
        );
      assert.not.ok(pings(n1, n3.podIPs[0], 1), 'pod1 no longer reaches pod3');

      // node3 comes back renumbered: node IP .23, pod CIDR 10.244.30.0/24 (and fd00:244:30::/64).
      await nets[2]!.stop();
      sh(n3.ns, 'ip', 'addr', 'del', '192.168.1.13/24', 'dev', 'eth0');
      sh(n3.ns, 'ip', 'addr', 'add', '192.168.1.23/24', 'dev', 'eth0');
      sh(n3.ns, 'ip', 'addr', 'del', '10.244.3.1/24', 'dev', 'cni0');
      sh(n3.ns, 'ip', 'addr', 'del', 'fd00:244:3::1/64', 'dev', 'cni0');
      sh(n3.ns, 'ip', 'addr', 'add', '10.244.30.1/24', 'dev', 'cni0');
      sh(n3.ns, 'ip', 'addr', 'add', 'fd00:244:30::1/64', 'dev', 'cni0', 'nodad');
      sh(n3.pod, 'ip', 'addr', 'del', '10.244.3.2/24', 'dev', 'eth0');
      sh(n3.pod, 'ip', 'addr', 'del', 'fd00:244:3::2/64', 'dev', 'eth0');
      sh(n3.pod, 'ip', 'addr', 'add', '10.244.30.2/24', 'dev', 'eth0');
      sh(n3.pod, 'ip', 'addr', 'add', 'fd00:244:30::2/64', 'dev', 'eth0', 'nodad');
      sh(n3.pod, 'ip', 'route', 'replace', 'default', 'via', '10.244.30.1');
      sh(n3.pod, 'ip', '-6', 'route', 'replace', 'default', 'via', 'fd00:244:30::1');
      const peer3: Peer = { name: 'node3', nodeIPs: ['192.168.1.23', 'fd00:1::13'], podCIDRs: ['10.244.30.0/24', 'fd00:244:30::/64'] };
      n3.peer = peer3;
      n3.local = discoverNode(n3.rtnl, peer3);
      n3.podIPs = ['10.244.30.2', 'fd00:244:30::2'];
      nets[2] = await start(c, vxlan(), n3);
      assert.is(nets[2].reports[0]!.device?.action, 'recreated', 'the VTEP moved to the new local address');
      for (const r of nets.slice(0, 2)) r.net.upsertPeer(peer3);
      await waitFor(() => ownedRoutes(n1).length === 4 && ownedRoutes(n2).length === 4, 1000, 'node3 back');
      for (const n of [n1, n2]) {
        const peers = others(c, n);
        assert.equal(
          [ownedRoutes(n), fdbEntries(n), permanentNeighbours(n)],
          [vxlanRoutes(peers), vxlanFdb(peers), vxlanNeighbours(peers)],
          `node${n.n}: nothing stale`,
        );
      }
      assert.equal(pingMatrix(c), []);
    } finally {
      await Promise.all(nets.map((r) => r.stop()));
    }
  }));

test('cross-subnet: host-gw to the peer on the same subnet, vxlan across the router; pings in both families', () =>
  withCluster(2, async (c) => {
    const nets = await startAll(c, crossSubnet());
    try {
      assert.equal(pingMatrix(c), []);
      const [n1, n2, n3] = c.nodes as [ClusterNode, ClusterNode, ClusterNode];
      assert.equal(ownedRoutes(n1), [...hostGwRoutes([n2]), ...vxlanRoutes([n3])].sort());
      assert.equal([fdbEntries(n1), permanentNeighbours(n1)], [vxlanFdb([n3]), vxlanNeighbours([n3])]);
      assert.equal(ownedRoutes(n3), vxlanRoutes([n1, n2]));
      assert.equal(fdbEntries(n3), vxlanFdb([n1, n2]));
    } finally {
      await Promise.all(nets.map((r) => r.stop()));
    }
  }));

test('ipip: this kernel has no IP-in-IP — run() rejects with a clear error and writes nothing', () =>
  withCluster(1, async (c) => {
    const n1 = c.nodes[0]!;
    const net = new Network({ rtnl: n1.rtnl, netns: n1.ns, mode: ipip(), node: n1.local, peers: c.nodes.map((n) => n.peer) });
    const err = await net.run(new AbortController().signal).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.instance(err, ModeUnavailableError);
    assert.match(String(err), /no IP-in-IP.*use mode 'vxlan'/);
    assert.equal(ownedRoutes(n1), []);
  }));

test.run();
