// Reconcile against core's RequestRecorder instead of a kernel: the ipip mode's requests byte for byte
// against iproute2's (golden/, captured by golden/capture.sh — this kernel has no ipip to run them
// on), the cost of one changed peer at 10 and at 1,000 peers, and the rollback of a half-written peer.
import { join } from 'node:path';
import { constants as C, AddrApi, LinkApi, NeighApi, NexthopApi, RouteApi, type NlMessage } from '@netboot/core';
import { readGolden, RequestRecorder } from '@netboot/core/testing';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hostGw, ipip, ModeUnavailableError, NETBOOT_PROTOCOL, Reconciler, vxlan, type Kernel, type LocalNode, type Peer } from '../src/index.js';
import { ensureDevice } from '../src/device.js';
import { routeSpec } from '../src/apply.js';
import { wantsNexthops } from '../src/nexthops.js';

const ENODEV = 19;
const EOPNOTSUPP = 95;
const EINVAL = 22;

/** A Kernel over a recorder that knows the devices in `index` (name → ifindex) and no others. */
function recorded(index: Record<string, number>): { rec: RequestRecorder; kernel: Kernel } {
  const rec = new RequestRecorder().refuse(C.RTM_GETLINK, ENODEV).on(
    (m) => m.type === C.RTM_GETLINK && (index[m.attrs.IFLA_IFNAME as string] !== undefined || index[String(m.header.ifi_index)] !== undefined),
    (m) => {
      const name = (m.attrs.IFLA_IFNAME as string | undefined) ?? Object.keys(index).find((k) => index[k] === m.header.ifi_index)!;
      return [{ type: C.RTM_NEWLINK, header: { ifi_index: index[name]! }, attrs: { IFLA_IFNAME: name, IFLA_MTU: 1500 } }];
    },
  );
  return {
    rec,
    kernel: { link: new LinkApi(rec), addr: new AddrApi(rec), route: new RouteApi(rec), neigh: new NeighApi(rec), nexthop: new NexthopApi(rec), socket: rec },
  };
}

/** recorded(), whose route dumps give what was added or replaced and not deleted since. */
function liveRoutes(index: Record<string, number>): { rec: RequestRecorder; kernel: Kernel } {
  const { rec, kernel } = recorded(index);
  rec.on(
    (m) => m.type === C.RTM_GETROUTE,
    () => {
      const live = new Map<unknown, NlMessage>();
      for (const m of rec.sent)
        if (m.type === C.RTM_NEWROUTE) live.set(m.attrs.RTA_DST, m);
        else if (m.type === C.RTM_DELROUTE) live.delete(m.attrs.RTA_DST);
      return [...live.values()].map((m) => ({ type: C.RTM_NEWROUTE, header: m.header, attrs: m.attrs }));
    },
  );
  return { rec, kernel };
}

function golden(slug: string): NlMessage {
  return readGolden(join(import.meta.dirname, 'golden', `${slug}.hex`));
}

/** A message without seq/pid, and without RTA_TABLE where it repeats rtm_table (iproute2 omits it for main). */
function plain(m: NlMessage): unknown {
  const attrs = { ...m.attrs };
  if (attrs.RTA_TABLE !== undefined && attrs.RTA_TABLE === m.header.rtm_table) delete attrs.RTA_TABLE;
  return { type: m.type, flags: m.flags, header: m.header, attrs };
}

const node1: LocalNode = {
  name: 'node1',
  nodeIPs: ['192.168.1.11'],
  podCIDRs: ['10.244.1.0/24'],
  underlay: [{ cidr: '192.168.1.11/16', dev: 'eth0', mtu: 1500 }],
};
const peerN = (i: number, ip = `192.168.${1 + (i >> 8)}.${i & 255}`): Peer => ({
  name: `n${i}`,
  nodeIPs: [ip],
  podCIDRs: [`10.${100 + (i >> 8)}.${i & 255}.0/24`],
});

test('ipip: the device request is what `ip link add … type ipip local …` sends; EOPNOTSUPP becomes ModeUnavailableError', () => {
  const { rec, kernel } = recorded({});
  rec.refuse((m) => m.type === C.RTM_NEWLINK, EOPNOTSUPP, 'Unknown device type');
  const spec = ipip().deviceSpec(node1)!;
  assert.throws(
    () => ensureDevice(kernel, spec),
    (e: unknown) => e instanceof ModeUnavailableError && e.kind === 'invalid' && /no IP-in-IP driver.*Unknown device type.*use mode 'vxlan'/.test(e.message),
  );
  const [sent] = rec.sentOf(C.RTM_NEWLINK);
  assert.equal(plain(sent!), plain(golden('ipip-add')));
});

test("ipip: a peer's route request is what `ip route replace … dev netboot.ipip onlink proto 78` sends", () => {
  const { rec, kernel } = recorded({ 'netboot.ipip': 2 });
  const [route] = ipip().desired(node1, [{ name: 'node2', nodeIPs: ['192.168.1.12'], podCIDRs: ['10.244.2.0/24'] }]).routes;
  kernel.route.replace(routeSpec(route!, { protocol: NETBOOT_PROTOCOL, table: 254 }));
  const [sent] = rec.sentOf(C.RTM_NEWROUTE);
  assert.equal(plain(sent!), plain(golden('ipip-route')));
});

/** Requests after a full pass over `n` peers when one of them changes its node IP. */
function oneChange(n: number, nexthops: 'always' | 'never'): NlMessage[] {
  const { rec, kernel } = recorded({ eth0: 2 });
  const mode = hostGw();
  const peers = Array.from({ length: n }, (_, i) => peerN(i + 2));
  const r = new Reconciler(kernel, { nexthops });
  const full = r.full(mode.desired(node1, peers));
  assert.is(full.operations, nexthops === 'always' ? 2 * n : n, 'a nexthop and a route per peer, or a route');
  const before = rec.sent.length;
  const moved = { ...peers[0]!, nodeIPs: ['192.168.1.250'] };
  const report = r.update(new Map([[moved.name, mode.forPeer(node1, moved)]]));
  const changed = nexthops === 'always' ? report.changed.nexthops.set : report.changed.routes.replace;
  assert.equal([report.pass, report.operations, changed.length], ['update', 1, 1]);
  return rec.sent.slice(before);
}

test('O(change), plain routes: one changed peer sends one route replace, at 10 peers and at 1,000, and dumps nothing', () => {
  const small = oneChange(10, 'never');
  const big = oneChange(1000, 'never');
  assert.equal(
    big.map((m) => m.type),
    [C.RTM_NEWROUTE],
  );
  assert.equal(plain(big[0]!), plain(small[0]!));
});

test("O(change), nexthop objects: a peer's new node IP is one nexthop replace at the same id; its routes stay", () => {
  const small = oneChange(10, 'always');
  const big = oneChange(1000, 'always');
  assert.equal(
    big.map((m) => m.type),
    [C.RTM_NEWNEXTHOP],
  );
  assert.equal(plain(big[0]!), plain(small[0]!), 'the id depends on the peer, not on the cluster');
  assert.is(big[0]!.attrs.NHA_GATEWAY, '192.168.1.250');
  assert.is(big[0]!.header.nh_protocol, NETBOOT_PROTOCOL);
});

test('nexthop objects: an update that throws (a device that does not exist) gives back the ids it took; the retry replaces the nexthop at the same id', () => {
  // The throw in a route's device (inside throughNexthops) and in a neighbour's (after it returned).
  for (const where of ['route', 'neighbour'] as const) {
    const { rec, kernel } = recorded({ eth0: 2 });
    rec.on(
      (m) => m.type === C.RTM_GETNEXTHOP,
      () => [],
    );
    const mode = hostGw();
    const peer = peerN(2);
    const r = new Reconciler(kernel, { nexthops: 'always' });
    r.full(mode.desired(node1, [peer]));
    const ids = (from: number) => rec.sent.slice(from).flatMap((m) => (m.type === C.RTM_NEWNEXTHOP ? [m.attrs.NHA_ID] : []));
    const [id] = ids(0);
    assert.ok(id !== undefined, where);
    const bad = mode.forPeer(node1, peer)!;
    if (where === 'route') bad.routes[0]!.dev = 'gone0';
    else bad.neighbours.push({ peer: peer.name, dst: '10.100.2.1', lladdr: '02:00:00:00:00:02', dev: 'gone0' });
    assert.throws(() => r.update(new Map([[peer.name, bad]])), /link "gone0" not found/, where);
    const at = (ip: string) => {
      const from = rec.sent.length;
      r.update(new Map([[peer.name, mode.forPeer(node1, { ...peer, nodeIPs: [ip] })]]));
      return ids(from);
    };
    assert.equal(at('192.168.1.3'), [id], `${where}: the retry replaces the nexthop it had`);
    assert.equal(at('192.168.1.3'), [], `${where}: and holds it once: nothing more to send`);
    // Gone and back: the id is free again only if nothing else held it.
    r.update(new Map([[peer.name, undefined]]));
    assert.equal(at('192.168.1.4'), [id], `${where}: no id stays held`);
  }
});

test('a peer whose wanting throws part-way (its FDB entry names a device that does not exist) leaves none of its neighbours wanted', () => {
  const { rec, kernel } = recorded({ eth0: 2, 'netboot.1': 9 });
  const mode = vxlan();
  const desired = mode.desired(node1, [peerN(2)]);
  delete desired.device; // the recorder has no VXLAN device to repair: start from the entries
  const r = new Reconciler(kernel, { nexthops: 'never' });
  r.full(desired);
  const bad = mode.forPeer(node1, peerN(3))!;
  assert.ok(bad.neighbours.length > 0, 'neighbours are wanted before the FDB entry');
  bad.fdb[0]!.dev = 'gone0';
  assert.throws(() => r.update(new Map([[bad.routes[0]!.peer, bad]])), /link "gone0" not found/);
  // The kernel lost everything (the recorder's dumps are empty): a resync writes back only what is wanted.
  const from = rec.sent.length;
  const report = r.resync();
  assert.equal(
    [report.changed.neighbours.set.map((c) => c.to.peer), report.changed.fdb.add.map((d) => d.peer), report.changed.routes.add.map((d) => d.peer)],
    [['n2'], ['n2'], ['n2']],
  );
  assert.not.ok(
    rec.sent.slice(from).some((m) => m.attrs.NDA_DST === '10.100.3.0' || m.attrs.NDA_DST === '192.168.1.3'),
    "nothing of n3's is written",
  );
});

test('a full pass whose rebuild of the wanted index throws part-way (a device gone) leaves the next resync to rebuild it: no peer loses its routes', () => {
  const index: Record<string, number> = { eth0: 2, eth1: 3 };
  const { rec, kernel } = liveRoutes(index);
  const desired = hostGw().desired(node1, [peerN(2), peerN(3), peerN(4)]);
  desired.routes[1]!.dev = 'eth1'; // n3's
  const r = new Reconciler(kernel, { nexthops: 'never' });
  assert.is(r.full(desired).changed.routes.add.length, 3);
  const deleted = () => rec.sentOf(C.RTM_DELROUTE).map((m) => m.attrs.RTA_DST);
  delete index.eth1;
  // The device moved: the index is rebuilt, and n3's route names a device that is not there.
  assert.throws(() => r.resync(), /link "eth1" not found/);
  assert.ok(r.needsFull, 'a repair or update would diff against half an index: the Network resyncs instead');
  assert.throws(() => r.resync(), /link "eth1" not found/, 'the retry rebuilds, and meets the same device');
  assert.equal(deleted(), [], "n2's and n4's routes stay (n3's too: it is still wanted)");
  index.eth1 = 5; // back, as a new device
  const back = r.resync();
  assert.equal([back.failures, deleted()], [[], []]);
  assert.equal(
    back.changed.routes.replace.map((c) => [c.to.peer, c.to.dev]),
    [['n3', 5]],
  );
  assert.is(r.resync().operations, 0, 'and all of it is in place');
});

test("an update that throws at one peer (a device that does not exist) keeps that peer's old routes wanted: the resync deletes none, and the retry applies every change", () => {
  const index: Record<string, number> = { eth0: 2 };
  const { rec, kernel } = liveRoutes(index);
  const mode = hostGw();
  const r = new Reconciler(kernel, { nexthops: 'never' });
  assert.is(r.full(mode.desired(node1, [peerN(2), peerN(3), peerN(4)])).changed.routes.add.length, 3);
  const deleted = () => rec.sentOf(C.RTM_DELROUTE).map((m) => m.attrs.RTA_DST);
  const n3 = mode.forPeer(node1, peerN(3))!;
  n3.routes[0]!.dev = 'gone0';
  const n4 = mode.forPeer(node1, { ...peerN(4), podCIDRs: ['10.100.44.0/24'] })!;
  const changes = new Map([
    ['n3', n3],
    ['n4', n4],
  ]);
  assert.throws(() => r.update(changes), /link "gone0" not found/);
  r.resync();
  assert.equal(deleted(), [], "n3's old route stays: it is still wanted");
  index.gone0 = 4;
  assert.equal(r.update(changes).failures, []);
  assert.is(r.resync().operations, 0, 'the retry put all of it in place');
  const routes = new Map<unknown, unknown>();
  for (const m of rec.sent)
    if (m.type === C.RTM_NEWROUTE) routes.set(m.attrs.RTA_DST, m.attrs.RTA_OIF);
    else if (m.type === C.RTM_DELROUTE) routes.delete(m.attrs.RTA_DST);
  assert.equal(
    [...routes].sort(),
    [
      ['10.100.2.0', 2],
      ['10.100.3.0', 4],
      ['10.100.44.0', 2],
    ],
    "n3 through its device, n4 at its new pod CIDR, n4's old route gone",
  );
});

test('records carry their addresses parsed; a copy given another dst and gateway is written with its own', () => {
  for (const shape of ['never', 'always'] as const) {
    const { rec, kernel } = recorded({ eth0: 2 });
    if (shape === 'always')
      rec.on(
        (m) => m.type === C.RTM_GETNEXTHOP,
        () => [],
      );
    const d = hostGw().desired(node1, [peerN(2), peerN(3)]);
    assert.ok(d.routes[0]!.dstParsed !== undefined && d.routes[0]!.gatewayParsed !== undefined, 'host-gw parses once, in the record');
    d.routes[1] = { ...d.routes[1]!, dst: '10.200.0.0/16', gateway: '192.168.1.99' };
    const report = new Reconciler(kernel, { nexthops: shape }).full(d);
    assert.equal(report.failures, []);
    const dsts = rec.sentOf(C.RTM_NEWROUTE).map((m) => `${m.attrs.RTA_DST}/${m.header.rtm_dst_len}`);
    assert.equal(dsts, ['10.100.2.0/24', '10.200.0.0/16'], shape);
    const gateways =
      shape === 'always' ? rec.sentOf(C.RTM_NEWNEXTHOP).map((m) => m.attrs.NHA_GATEWAY) : rec.sentOf(C.RTM_NEWROUTE).map((m) => m.attrs.RTA_GATEWAY);
    assert.equal(gateways, ['192.168.1.2', '192.168.1.99'], shape);
  }
});

test('wantsNexthops: nexthop objects from `at` peers on, plain routes again only below half of it', () => {
  const at = 500;
  assert.equal(
    [0, 249, 250, 499, 500, 5000].map((n) => wantsNexthops(false, n, at)),
    [false, false, false, false, true, true],
    'from plain',
  );
  assert.equal(
    [0, 249, 250, 499, 500, 5000].map((n) => wantsNexthops(true, n, at)),
    [false, false, true, true, true, true],
    'from nexthops',
  );
});

test("'auto' by size: plain routes below nexthopPeers, every route replaced by its nhid form at it, back to plain below half, the unused nexthops deleted after the routes moved", () => {
  const { rec, kernel } = recorded({ eth0: 2 });
  const mode = hostGw();
  const r = new Reconciler(kernel, { nexthopPeers: 4 });
  const since = (from: number): NlMessage[] =>
    rec.sent.slice(from).filter((m) => m.type !== C.RTM_GETNEXTHOP && m.type !== C.RTM_GETROUTE && m.type !== C.RTM_GETLINK);
  const add = (i: number) => new Map([[`n${i}`, mode.forPeer(node1, peerN(i))]]);
  const gone = (i: number) => new Map([[`n${i}`, undefined]]);

  r.full(mode.desired(node1, [peerN(2), peerN(3), peerN(4)]));
  assert.not.ok(r.usesNexthops(), '3 peers: plain');
  assert.equal(
    rec.sent.filter((m) => m.type === C.RTM_NEWROUTE).map((m) => [m.attrs.RTA_GATEWAY, m.attrs.RTA_NH_ID]),
    [2, 3, 4].map((i) => [`192.168.1.${i}`, undefined]),
  );

  let at = rec.sent.length;
  const up = r.update(add(5));
  assert.ok(r.usesNexthops(), '4 peers: through nexthops');
  const sentUp = since(at);
  assert.equal(
    sentUp.map((m) => m.type),
    [...Array(4).fill(C.RTM_NEWNEXTHOP), C.RTM_NEWROUTE, ...Array(3).fill(C.RTM_NEWROUTE)],
    'nexthops, then the new peer added, then the three replaced — nothing deleted',
  );
  assert.equal([up.changed.routes.add.length, up.changed.routes.replace.length, up.changed.routes.del.length], [1, 3, 0]);
  assert.ok(
    sentUp.slice(5).every((m) => (m.flags & C.NLM_F_REPLACE) !== 0 && m.attrs.RTA_NH_ID !== undefined && m.attrs.RTA_GATEWAY === undefined),
    'each replace names its nexthop',
  );

  r.update(gone(5));
  r.update(gone(4));
  assert.ok(r.usesNexthops(), '2 peers (half of 4): still through nexthops');
  at = rec.sent.length;
  const down = r.update(gone(3));
  assert.not.ok(r.usesNexthops(), '1 peer: plain again');
  const sentDown = since(at);
  // The leaving peer's route deleted, the staying one's replaced by its via form, then the nexthops no route names.
  const ids = up.changed.nexthops.set.filter((c) => c.to.peer === 'n2' || c.to.peer === 'n3').map((c) => c.to.id);
  assert.equal(
    sentDown.slice(0, 2).map((m) => [m.type, m.attrs.RTA_DST]),
    [
      [C.RTM_DELROUTE, '10.100.3.0'],
      [C.RTM_NEWROUTE, '10.100.2.0'],
    ],
    'routes first',
  );
  assert.equal(
    sentDown.slice(2).map((m) => [m.type, m.attrs.NHA_ID]),
    ids.map((id) => [C.RTM_DELNEXTHOP, id]),
    'nexthops after',
  );
  assert.is(sentDown[1]!.attrs.RTA_GATEWAY, '192.168.1.2');
  assert.ok((sentDown[1]!.flags & C.NLM_F_REPLACE) !== 0);
  assert.is(down.changed.nexthops.del.length, 2);
});

test("'auto' probes once with a nexthop dump and falls back to plain routes where the kernel has none", () => {
  const { rec, kernel } = recorded({ eth0: 2 });
  rec.refuse(C.RTM_GETNEXTHOP, EOPNOTSUPP);
  const r = new Reconciler(kernel);
  const report = r.full(hostGw().desired(node1, [peerN(2), peerN(3)]));
  assert.not.ok(r.usesNexthops());
  assert.is(rec.sentOf(C.RTM_GETNEXTHOP).length, 1, 'probed once');
  assert.is(rec.sentOf(C.RTM_NEWNEXTHOP).length, 0);
  assert.equal(
    rec.sentOf(C.RTM_NEWROUTE).map((m) => m.attrs.RTA_GATEWAY),
    ['192.168.1.2', '192.168.1.3'],
  );
  assert.is(report.operations, 2);
  r.resync();
  assert.is(rec.sentOf(C.RTM_GETNEXTHOP).length, 1, 'and never again');
  const always = recorded({ eth0: 2 });
  always.rec.refuse(C.RTM_GETNEXTHOP, EOPNOTSUPP);
  assert.throws(() => new Reconciler(always.kernel, { nexthops: 'always' }).full(hostGw().desired(node1, [peerN(2)])), /EOPNOTSUPP/);
});

for (const nexthops of ['never', 'always'] as const) {
  test(`nexthops ${nexthops}: a peer whose route is refused has its earlier steps rolled back, and is retried by repair()`, () => {
    const { rec, kernel } = recorded({ eth0: 2, 'netboot.1': 9 });
    const mode = vxlan();
    const peers = [peerN(2), peerN(3)];
    const desired = mode.desired(node1, peers);
    delete desired.device; // the recorder has no VXLAN device to repair: start from the entries
    rec.refuse((m) => m.type === C.RTM_NEWROUTE && m.attrs.RTA_DST === '10.100.3.0', EINVAL, 'Nexthop has invalid gateway');
    const r = new Reconciler(kernel, { nexthops });
    const report = r.full(desired);
    const n2nh = report.changed.nexthops.set[0]?.to.id;
    const n3nh = rec.sentOf(C.RTM_NEWROUTE).find((m) => m.attrs.RTA_DST === '10.100.3.0')!.attrs.RTA_NH_ID;
    assert.equal(
      report.failures.map((f) => [f.peer, f.op, f.error.message]),
      [
        [
          'n3',
          nexthops === 'never'
            ? 'ip route add 10.100.3.0/24 via 10.100.3.0 dev 9 onlink proto 78 table 254'
            : `ip route add 10.100.3.0/24 nhid ${n3nh} proto 78 table 254`,
          'RTM_NEWROUTE: EINVAL (invalid argument): Nexthop has invalid gateway',
        ],
      ],
    );
    assert.equal(
      report.changed.routes.add.map((d) => d.peer),
      ['n2'],
      'n2 went through',
    );
    assert.equal(
      report.changed.nexthops.set.map((c) => c.to.peer),
      nexthops === 'never' ? [] : ['n2'],
    );
    // n3: neighbour, FDB (and nexthop) written, then deleted again (newest first).
    const n3 = rec.sent.filter(
      (m) =>
        m.attrs.NDA_DST === '10.100.3.0' ||
        m.attrs.NDA_DST === '192.168.1.3' ||
        (m.type !== C.RTM_GETNEXTHOP && m.attrs.NHA_ID !== undefined && m.attrs.NHA_ID !== n2nh),
    );
    assert.equal(
      n3.map((m) => [m.type, m.attrs.NDA_DST ?? m.attrs.NHA_GATEWAY ?? m.attrs.NHA_ID]),
      [
        [C.RTM_NEWNEIGH, '10.100.3.0'],
        [C.RTM_NEWNEIGH, '192.168.1.3'],
        ...(nexthops === 'never'
          ? []
          : [
              [C.RTM_NEWNEXTHOP, '10.100.3.0'],
              [C.RTM_DELNEXTHOP, n3nh],
            ]),
        [C.RTM_DELNEIGH, '192.168.1.3'],
        [C.RTM_DELNEIGH, '10.100.3.0'],
      ],
    );
    assert.ok(r.dirty, 'the failed peer is left for repair()');
    rec.on((m) => m.type === C.RTM_NEWROUTE, []); // the kernel accepts it now
    const retry = r.repair();
    assert.equal(
      [
        retry.failures,
        retry.changed.routes.add.map((d) => d.peer),
        retry.changed.fdb.add.length,
        retry.changed.neighbours.set.length,
        retry.changed.nexthops.set.length,
      ],
      [[], ['n3'], 1, 1, nexthops === 'never' ? 0 : 1],
    );
    assert.not.ok(r.dirty);
  });

  test(`nexthops ${nexthops}: routes refused in the middle and at the end of a batch fail exactly those peers; the rest took effect`, () => {
    const { rec, kernel } = recorded({ eth0: 2, 'netboot.1': 9 });
    const desired = vxlan().desired(
      node1,
      [2, 3, 4, 5, 6].map((i) => peerN(i)),
    );
    delete desired.device;
    rec.refuse(
      (m) => m.type === C.RTM_NEWROUTE && (m.attrs.RTA_DST === '10.100.3.0' || m.attrs.RTA_DST === '10.100.6.0'),
      EINVAL,
      'Nexthop has invalid gateway',
    );
    const report = new Reconciler(kernel, { nexthops }).full(desired);
    assert.equal(
      report.failures.map((f) => [f.peer, f.error.message]),
      [
        ['n3', 'RTM_NEWROUTE: EINVAL (invalid argument): Nexthop has invalid gateway'],
        ['n6', 'RTM_NEWROUTE: EINVAL (invalid argument): Nexthop has invalid gateway'],
      ],
    );
    const kept = ['n2', 'n4', 'n5'];
    assert.equal(
      [
        report.changed.routes.add.map((d) => d.peer),
        report.changed.neighbours.set.map((c) => c.to.peer),
        report.changed.fdb.add.map((d) => d.peer),
        report.changed.nexthops.set.map((c) => c.to.peer),
      ],
      [kept, kept, kept, nexthops === 'never' ? [] : kept],
    );
    // Rolled back: both failed peers' neighbour and FDB entries, nothing of the others.
    assert.equal(
      rec
        .sentOf(C.RTM_DELNEIGH)
        .map((m) => m.attrs.NDA_DST)
        .sort(),
      ['10.100.3.0', '10.100.6.0', '192.168.1.3', '192.168.1.6'],
    );
  });
}

test.run();
