// Every mode's desired() for a dual-stack three-node cluster (plus an off-subnet fourth node), the
// VTEP MAC derivation and the MTU rules. Pure: no kernel.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  applyPlan,
  crossSubnet,
  diff,
  hostGw,
  InvalidPeerError,
  ipip,
  NETBOOT_PROTOCOL,
  planSize,
  UnreachablePeerError,
  vtepMac,
  vxlan,
  type CurrentState,
  type DesiredRoute,
  type LocalNode,
  type Peer,
} from '../src/index.js';

const node1: LocalNode = {
  name: 'node1',
  nodeIPs: ['192.168.1.11', 'fd00:1::11'],
  podCIDRs: ['10.244.1.0/24', 'fd00:244:1::/64'],
  underlay: [
    { cidr: '192.168.1.11/24', dev: 'eth0', mtu: 1500 },
    { cidr: 'fd00:1::11/64', dev: 'eth0', mtu: 1500 },
  ],
};
const node2: Peer = { name: 'node2', nodeIPs: ['192.168.1.12', 'fd00:1::12'], podCIDRs: ['10.244.2.0/24', 'fd00:244:2::/64'] };
const node3: Peer = { name: 'node3', nodeIPs: ['192.168.1.13', 'fd00:1::13'], podCIDRs: ['10.244.3.0/24', 'fd00:244:3::/64'], vtepMac: '0E:00:00:00:00:03' };
const far: Peer = { name: 'node4', nodeIPs: ['192.168.2.14'], podCIDRs: ['10.244.4.0/24'] };

test('vtepMac: stable, locally administered unicast, distinct per node', () => {
  assert.is(vtepMac('node2'), vtepMac('node2'));
  assert.is.not(vtepMac('node2'), vtepMac('node3'));
  // The derivation itself is pinned: a node's VTEP MAC must survive an upgrade of netboot, as every
  // peer's FDB and neighbour entries name it (sha256 of 'netboot-vtep:' + name, bits 0-1 of byte 0 set to 10).
  assert.is(vtepMac('node1'), '16:3b:77:cf:89:c0');
  assert.is(vtepMac('node2'), '1a:3e:c9:33:1d:49');
  for (const name of ['a', 'node1', 'a-very-long-node-name.example.com']) {
    const first = parseInt(vtepMac(name).slice(0, 2), 16);
    assert.ok(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(vtepMac(name)));
    assert.is(first & 0b11, 0b10, `${vtepMac(name)} is locally administered unicast`);
  }
});

/** An IPv4 address or CIDR as a host-gw route carries it parsed (DesiredRoute.dstParsed), worked out here by hand. */
const parsed = (text: string): { text: string; value: number; prefixLen: number } => {
  const [address, len] = text.split('/');
  const value = address!.split('.').reduce((v, octet) => v * 256 + Number(octet), 0);
  return { text, value, prefixLen: len === undefined ? 32 : Number(len) };
};
/** A host-gw route as desired() gives it: IPv4 with its addresses parsed, IPv6 without. */
const direct = (peer: string, dst: string, gateway: string, dev: string): DesiredRoute =>
  dst.includes(':')
    ? { peer, dst, gateway, dev, dstParsed: undefined, gatewayParsed: undefined }
    : { peer, dst, gateway, dev, dstParsed: parsed(dst), gatewayParsed: parsed(gateway) };

test('host-gw: podCIDR via nodeIP dev uplink, per family; no device; MTU = uplink', () => {
  const mode = hostGw();
  const d = mode.desired(node1, [node1, node2, node3]);
  assert.is(d.device, undefined);
  assert.equal(d.routes, [
    direct('node2', '10.244.2.0/24', '192.168.1.12', 'eth0'),
    direct('node2', 'fd00:244:2::/64', 'fd00:1::12', 'eth0'),
    direct('node3', '10.244.3.0/24', '192.168.1.13', 'eth0'),
    direct('node3', 'fd00:244:3::/64', 'fd00:1::13', 'eth0'),
  ]);
  assert.is(d.routes[0]!.dstParsed!.value, 0x0af40200, '10.244.2.0');
  assert.equal([d.neighbours, d.fdb, d.refused], [[], [], []]);
  assert.is(mode.mtu(node1), 1500);
  assert.is(mode.mtuOverhead(4), 0);
});

test('host-gw: an off-subnet peer is refused by name with a suggestion; the others still route', () => {
  const d = hostGw().desired(node1, [node2, far]);
  assert.is(d.routes.length, 2);
  assert.is(d.refused.length, 1);
  const { peer, error } = d.refused[0]!;
  assert.is(peer, 'node4');
  assert.instance(error, UnreachablePeerError);
  assert.match(error.message, /node4.*192\.168\.2\.14.*not on a directly connected subnet.*cross-subnet.*vxlan/);
  assert.is((error as UnreachablePeerError).kind, 'invalid');
  assert.throws(
    () => hostGw().forPeer(node1, far),
    (e: unknown) => e instanceof UnreachablePeerError,
  );
});

test('vxlan: device, then neighbour → FDB → onlink route per peer, dual-stack over one IPv4 underlay', () => {
  const mode = vxlan();
  const d = mode.desired(node1, [node2, node3]);
  assert.equal(d.device, {
    kind: 'vxlan',
    name: 'netboot.1',
    vni: 1,
    port: 4789,
    local: '192.168.1.11',
    dev: 'eth0',
    learning: false,
    mtu: 1450,
    address: vtepMac('node1'),
    up: true,
  });
  const mac2 = vtepMac('node2');
  assert.equal(d.fdb, [
    { peer: 'node2', lladdr: mac2, dst: '192.168.1.12', dev: 'netboot.1' },
    { peer: 'node3', lladdr: '0e:00:00:00:00:03', dst: '192.168.1.13', dev: 'netboot.1' },
  ]);
  assert.equal(
    d.neighbours.filter((n) => n.peer === 'node2'),
    [
      { peer: 'node2', dst: '10.244.2.0', lladdr: mac2, dev: 'netboot.1' },
      { peer: 'node2', dst: 'fd00:244:2::', lladdr: mac2, dev: 'netboot.1' },
    ],
  );
  assert.equal(
    d.routes.filter((n) => n.peer === 'node2'),
    [
      { peer: 'node2', dst: '10.244.2.0/24', gateway: '10.244.2.0', dev: 'netboot.1', onlink: true },
      { peer: 'node2', dst: 'fd00:244:2::/64', gateway: 'fd00:244:2::', dev: 'netboot.1', onlink: true },
    ],
  );
  assert.is(mode.mtu(node1), 1450);
});

test('vxlan: options (name, VNI, port), IPv6 underlay costs 70 bytes, explicit MTU wins', () => {
  const v6 = vxlan({ name: 'vx9', vni: 9, port: 8472, underlay: 6 });
  const dev = v6.deviceSpec(node1)!;
  assert.equal([dev.name, dev.kind === 'vxlan' && dev.vni, dev.kind === 'vxlan' && dev.port, dev.local, dev.mtu], ['vx9', 9, 8472, 'fd00:1::11', 1430]);
  assert.equal(v6.desired(node1, [node2]).fdb[0]!.dst, 'fd00:1::12');
  assert.is(vxlan({ mtu: 1400 }).mtu(node1), 1400);
  assert.equal([v6.mtuOverhead(4), v6.mtuOverhead(6)], [50, 70]);
  // A peer without a node IP in the underlay's family cannot be reached over it.
  const d = v6.desired(node1, [far]);
  assert.equal([d.routes, d.refused[0]?.peer], [[], 'node4']);
  assert.match(d.refused[0]!.error.message, /no IPv6 node IP for the VXLAN underlay/);
});

test('cross-subnet: host-gw on the node subnet, vxlan elsewhere; FDB only where tunnelled', () => {
  const d = crossSubnet().desired(node1, [node2, far]);
  assert.ok(d.device?.kind === 'vxlan');
  assert.equal(d.routes, [
    direct('node2', '10.244.2.0/24', '192.168.1.12', 'eth0'),
    direct('node2', 'fd00:244:2::/64', 'fd00:1::12', 'eth0'),
    { peer: 'node4', dst: '10.244.4.0/24', gateway: '10.244.4.0', dev: 'netboot.1', onlink: true },
  ]);
  assert.equal(d.fdb, [{ peer: 'node4', lladdr: vtepMac('node4'), dst: '192.168.2.14', dev: 'netboot.1' }]);
  assert.equal(d.neighbours, [{ peer: 'node4', dst: '10.244.4.0', lladdr: vtepMac('node4'), dev: 'netboot.1' }]);
  assert.is(crossSubnet().mtu(node1), 1450);
});

test('cross-subnet: a peer moving onto the node subnet keeps its route key and leaves no FDB or neighbour entry', () => {
  const mode = crossSubnet();
  const own = { protocol: NETBOOT_PROTOCOL, table: 254, device: 9 };
  const resolve = (d: ReturnType<typeof mode.desired>) => ({
    routes: d.routes.map((r) => ({ ...r, dev: r.dev === 'eth0' ? 2 : 9 })),
    neighbours: d.neighbours.map((n) => ({ ...n, dev: 9 })),
    fdb: d.fdb.map((f) => ({ ...f, dev: 9 })),
  });
  const away = resolve(mode.desired(node1, [far]));
  const empty: CurrentState = { routes: [], neighbours: [], fdb: [] };
  const tunnelled = applyPlan(empty, diff(empty, away, own), own);
  const near = resolve(mode.desired(node1, [{ ...far, nodeIPs: ['192.168.1.14'] }]));
  const move = diff(tunnelled, near, own);
  assert.equal([move.routes.add.length, move.routes.replace.length, move.routes.del.length], [0, 1, 0], 'the route is replaced in place');
  assert.equal([move.neighbours.del.length, move.fdb.del.length], [1, 1], 'the overlay entries go');
  const after = applyPlan(tunnelled, move, own);
  assert.equal([after.neighbours, after.fdb], [[], []]);
  assert.is(planSize(diff(after, near, own)), 0);
  // …and back: the overlay entries return.
  const back = diff(after, away, own);
  assert.equal([back.routes.replace.length, back.neighbours.set.length, back.fdb.add.length], [1, 1, 1]);
});

test('ipip: onlink routes via the node IP, IPv4 only, 20 bytes', () => {
  const mode = ipip();
  const d = mode.desired(node1, [node2]);
  assert.equal(d.device, { kind: 'ipip', name: 'netboot.ipip', local: '192.168.1.11', mtu: 1480 });
  assert.equal(d.routes, [{ peer: 'node2', dst: '10.244.2.0/24', gateway: '192.168.1.12', dev: 'netboot.ipip', onlink: true }]);
  const v6only = mode.desired(node1, [{ name: 'n6', nodeIPs: ['192.168.1.16'], podCIDRs: ['fd00:244:6::/64'] }]);
  assert.match(v6only.refused[0]!.error.message, /IPv4 only/);
});

test('bad peer records are refused alone, by name; the node itself is skipped', () => {
  const bad: Peer[] = [
    { name: 'a', nodeIPs: ['192.168.1.300'], podCIDRs: ['10.244.9.0/24'] },
    { name: 'b', nodeIPs: ['192.168.1.20'], podCIDRs: ['10.244.9.1/24'] },
    { name: 'c', nodeIPs: ['192.168.1.21'], podCIDRs: ['10.244.2.0/24'] }, // node2's
    { name: 'd', nodeIPs: ['192.168.1.22'], podCIDRs: ['10.244.1.0/24'] }, // the node's own
    { name: 'e', nodeIPs: ['192.168.1.23'], podCIDRs: ['10.244.8.0/24'], vtepMac: 'zz' },
  ];
  const d = vxlan().desired(node1, [node1, node2, ...bad]);
  assert.equal(
    d.routes.map((r) => r.peer),
    ['node2', 'node2'],
  );
  assert.equal(
    d.refused.map((r) => r.peer),
    ['a', 'b', 'c', 'd', 'e'],
  );
  for (const r of d.refused) assert.instance(r.error, InvalidPeerError, r.error.message);
  assert.match(d.refused[1]!.error.message, /host bits set \(the network is 10\.244\.9\.0\/24\)/);
  assert.match(d.refused[2]!.error.message, /already "node2"'s/);
  assert.throws(() => vxlan().forPeer(node1, node1), /is the local node/);
});

test('IPv6 text is canonicalised, so desired matches what the kernel reports', () => {
  const d = hostGw().desired(node1, [{ name: 'x', nodeIPs: ['FD00:1:0:0::12'], podCIDRs: ['FD00:0244:0002:0000::/64'] }]);
  assert.equal(d.routes, [direct('x', 'fd00:244:2::/64', 'fd00:1::12', 'eth0')]);
});

test.run();
