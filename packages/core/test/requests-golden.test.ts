// The typed APIs against iproute2: for each golden request fixture (what `ip`/`bridge` really sent,
// test/golden/capture.sh), the same call through LinkApi/AddrApi/RouteApi/NeighApi must build the same
// message — same type, flags, header fields and attribute values. Pure: a RequestRecorder (core's
// testing entry) answers name lookups with the fixture's ifindexes and records the request instead of
// sending it.
//
// Differences that are deliberate and harmless are normalised away, each named below:
//  - attribute order (the kernel parses attributes into a table; order never matters);
//  - RTA_TABLE: netboot always sends it, iproute2 only above 255 (the kernel prefers it to rtm_table);
//  - `ip link set/del DEV`: netboot names the device (IFLA_IFNAME, ifindex 0) and lets the kernel look
//    it up, instead of a lookup round trip for the ifindex;
//  - IPv6 addresses: iproute2 sends the address as both IFA_LOCAL and IFA_ADDRESS, netboot as
//    IFA_ADDRESS only, plus IFA_FLAGS (the kernel reads IFA_LOCAL ?? IFA_ADDRESS, IFA_FLAGS ?? ifa_flags);
//  - string attributes with or without their NUL (iproute2 omits it after IFLA_INFO_KIND): compared
//    as decoded values.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Attrs, NlMessage } from '../src/netlink/codec.js';
import { RequestRecorder } from '../src/testing/recorder.js';
import { readGolden } from '../src/testing/golden.js';
import * as C from '../src/netlink/generated/index.js';
import { LinkApi } from '../src/link.js';
import { AddrApi } from '../src/addr.js';
import { RouteApi } from '../src/route.js';
import { NeighApi } from '../src/neigh.js';
import { NexthopApi } from '../src/nexthop.js';

const dir = join(import.meta.dirname, 'golden');

function golden(slug: string): NlMessage {
  return readGolden(join(dir, `${slug}.hex`));
}

// Ifindexes in the capture namespaces: lo 1, then a veth pair's peer before the device itself.
const INDEX: Record<string, number> = { vA: 3, br0: 4, vC: 5, vx0: 2 };

interface Apis {
  link: LinkApi;
  addr: AddrApi;
  route: RouteApi;
  neigh: NeighApi;
  nexthop: NexthopApi;
}

/** The one request `call` sends besides name lookups, as the kernel would receive it (seq and pid 0 like the fixtures). */
function captured(call: (api: Apis) => void): NlMessage {
  const rec = new RequestRecorder().on(C.RTM_GETLINK, (req) => {
    const name = req.attrs.IFLA_IFNAME as string;
    return [{ type: C.RTM_NEWLINK, header: { ifi_index: INDEX[name]! }, attrs: { IFLA_IFNAME: name } }];
  });
  call({ link: new LinkApi(rec), addr: new AddrApi(rec), route: new RouteApi(rec), neigh: new NeighApi(rec), nexthop: new NexthopApi(rec) });
  const sent = rec.sent.filter((m) => m.type !== C.RTM_GETLINK);
  assert.is(sent.length, 1, 'one request sent');
  return sent[0]!;
}

/** Plain, order-independent view of a message with the deliberate differences removed. */
function normalise(m: NlMessage): unknown {
  const header: Record<string, number> = { ...m.header };
  const attrs: Attrs = { ...m.attrs };
  if (m.type === C.RTM_NEWROUTE || m.type === C.RTM_DELROUTE) {
    if (attrs.RTA_TABLE === header.rtm_table) delete attrs.RTA_TABLE;
  }
  if ((m.type === C.RTM_NEWLINK || m.type === C.RTM_DELLINK) && header.ifi_index === 0 && !('IFLA_LINKINFO' in attrs)) {
    header.ifi_index = INDEX[attrs.IFLA_IFNAME as string]!;
    delete attrs.IFLA_IFNAME;
  }
  if ((m.type === C.RTM_NEWADDR || m.type === C.RTM_DELADDR) && header.ifa_family === C.AF_INET6) {
    if (attrs.IFA_ADDRESS === undefined && attrs.IFA_LOCAL !== undefined) attrs.IFA_ADDRESS = attrs.IFA_LOCAL;
    delete attrs.IFA_LOCAL;
    if (attrs.IFA_FLAGS === header.ifa_flags) delete attrs.IFA_FLAGS;
  }
  return { type: m.type, flags: m.flags, header: sorted(header), attrs: sorted(attrs) };
}

function sorted(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sorted);
  if (v === null || typeof v !== 'object' || Buffer.isBuffer(v)) return v;
  return Object.fromEntries(
    Object.entries(v)
      .filter(([k]) => k !== '__ifi_pad')
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, x]) => [k, sorted(x)]),
  );
}

const cases: [slug: string, call: (api: Apis) => void][] = [
  ['link/add-veth', ({ link }) => link.add({ kind: 'veth', name: 'vA', peer: { name: 'vB' } })],
  [
    'link/add-veth-address',
    ({ link }) => link.add({ kind: 'veth', name: 'vA', address: '02:00:00:00:00:0a', peer: { name: 'vB', address: '02:00:00:00:00:0b' } }),
  ],
  ['link/add-bridge', ({ link }) => link.add({ kind: 'bridge', name: 'br0' })],
  ['link/add-vxlan', ({ link }) => link.add({ kind: 'vxlan', name: 'vx0', vni: 42, port: 4789, local: '10.0.0.1', learning: false })],
  ['link/add-macvlan', ({ link }) => link.add({ kind: 'macvlan', name: 'mv0', link: 'vA', mode: 'bridge' })],
  ['link/set-up', ({ link }) => link.set('vA', { up: true })],
  ['link/set-mtu', ({ link }) => link.set('vA', { mtu: 1400 })],
  ['link/set-master', ({ link }) => link.set('vA', { master: 'br0' })],
  ['link/del', ({ link }) => link.del('vA')],
  ['addr/add-v4', ({ addr }) => addr.add('vA', '10.244.1.1/24')],
  ['addr/add-v6-nodad', ({ addr }) => addr.add('vA', 'fd00::1/64', { nodad: true })],
  ['addr/del-v4', ({ addr }) => addr.del('vA', '10.244.1.1/24')],
  ['route/add-via', ({ route }) => route.add({ dst: '10.10.0.0/16', gateway: '10.0.0.2', dev: 'vA', table: 100, protocol: 200, metric: 10 })],
  ['route/replace', ({ route }) => route.replace({ dst: '10.10.0.0/16', gateway: '10.0.0.3', dev: 'vA', table: 100, protocol: 200, metric: 10 })],
  ['route/del', ({ route }) => route.del({ dst: '10.10.0.0/16', gateway: '10.0.0.2', dev: 'vA', table: 100, metric: 10 })],
  ['route/add-onlink', ({ route }) => route.add({ dst: '10.20.0.0/16', gateway: '10.99.0.1', dev: 'vA', onlink: true })],
  ['route/add-table-1000', ({ route }) => route.add({ dst: '10.40.0.0/16', gateway: '10.0.0.2', dev: 'vA', table: 1000 })],
  [
    'route/add-multipath',
    ({ route }) =>
      route.add({
        dst: '10.30.0.0/16',
        table: 100,
        protocol: 200,
        nexthops: [
          { gateway: '10.0.0.2', dev: 'vA', weight: 1 },
          { gateway: '10.0.1.2', dev: 'vC', weight: 2 },
        ],
      }),
  ],
  ['route/add-v6', ({ route }) => route.add({ dst: 'fd10::/64', gateway: 'fd00::2', dev: 'vA', metric: 10 })],
  // Without a gateway `ip` picks scope link for IPv4 and leaves IPv6 at universe (its scope is unused).
  ['route/add-dev', ({ route }) => route.add({ dst: '10.50.0.0/16', dev: 'vA' })],
  ['route/add-v6-dev', ({ route }) => route.add({ dst: 'fd20::/64', dev: 'vA' })],
  ['route/add-nhid', ({ route }) => route.add({ dst: '10.60.0.0/16', nhid: 7, protocol: 78 })],
  ['nexthop/add-via', ({ nexthop }) => nexthop.add({ id: 7, gateway: '10.0.0.2', dev: 'vA', protocol: 78 })],
  ['nexthop/replace-onlink', ({ nexthop }) => nexthop.replace({ id: 7, gateway: '10.99.0.1', dev: 'vA', onlink: true, protocol: 78 })],
  ['nexthop/add-v6', ({ nexthop }) => nexthop.add({ id: 9, gateway: 'fd00::2', dev: 'vA', protocol: 78 })],
  ['nexthop/del', ({ nexthop }) => nexthop.del(7)],
  ['neigh/replace-permanent', ({ neigh }) => neigh.set({ dst: '10.0.0.9', lladdr: '02:00:00:00:00:09', state: 'permanent', dev: 'vA' })],
  // `bridge fdb … permanent` ORs permanent into its default state, noarp.
  [
    'fdb/append-vxlan',
    ({ neigh }) => neigh.append({ family: 'bridge', lladdr: '00:11:22:33:44:55', dev: 'vx0', dst: '10.0.0.2', self: true, state: ['noarp', 'permanent'] }),
  ],
];

for (const [slug, call] of cases) {
  test(`${slug}: the API sends what iproute2 sent`, () => {
    assert.equal(normalise(captured(call)), normalise(golden(slug)));
  });
}

test('every golden request fixture has an API counterpart here', () => {
  const covered = new Set(cases.map(([slug]) => slug));
  const requests: string[] = [];
  for (const sub of ['addr', 'fdb', 'link', 'neigh', 'nexthop', 'route']) {
    for (const file of readdirSync(join(dir, sub)).filter((f) => f.endsWith('.hex'))) {
      const text = readFileSync(join(dir, sub, file), 'utf8');
      if (/^# direction: request$/m.test(text)) requests.push(`${sub}/${file.slice(0, -4)}`);
    }
  }
  assert.equal(
    requests.filter((s) => !covered.has(s)),
    [],
  );
});

test.run();
