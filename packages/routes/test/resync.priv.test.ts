// resync() re-reads the kernel through dump caches: only messages whose bytes changed since the last
// dump are decoded, and an unchanged listing keeps the mirror as it is. Changes made behind the
// Reconciler's back (no monitor here, so only the next resync can see them) must still be found:
// a route, a neighbour and an FDB entry changed or deleted by hand come back, a stale owned route
// goes, a foreign route in a peer's place is reported (every time, not only the first), and the
// pass after each repair has nothing left to do.
import { test as uvuTest } from 'uvu';
import * as assert from 'uvu/assert';
import { Rtnl } from '@netboot/core';
import { ipJson, privileged, sh, tempNetns, type TempNetns } from '@netboot/core/testing';
import { discoverNode, NETBOOT_PROTOCOL, Reconciler, vtepMac, vxlan, type LocalNode, type Peer } from '../src/index.js';

const test = privileged(uvuTest);

const self: Peer = { name: 'self', nodeIPs: ['172.16.0.1'], podCIDRs: ['10.0.0.0/24'] };
const peers: Peer[] = [2, 3, 4].map((i) => ({ name: `n${i}`, nodeIPs: [`172.16.0.${i}`], podCIDRs: [`10.0.${i}.0/24`] }));

function withNode(fn: (ns: TempNetns, rtnl: Rtnl, node: LocalNode) => void): void {
  const ns = tempNetns('nbt-resync');
  try {
    using rtnl = Rtnl.open({ netns: ns });
    rtnl.link.set('lo', { up: true });
    rtnl.link.add({ kind: 'veth', name: 'veth0', up: true, peer: { name: 'veth1', up: true } });
    rtnl.addr.add('veth0', '172.16.0.1/16');
    fn(ns, rtnl, discoverNode(rtnl, self));
  } finally {
    ns.delete();
  }
}

/** netboot's routes as `ip -j route` shows them: dst → gateway or nhid. */
function owned(ns: TempNetns): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of ipJson(ns, 'route', 'show', 'proto', String(NETBOOT_PROTOCOL))) out[r.dst] = r.nhid === undefined ? `via ${r.gateway}` : `nhid ${r.nhid}`;
  return out;
}

test('resync finds what changed behind its back, through the dump caches, and only that', () => {
  withNode((ns, rtnl, node) => {
    const mode = vxlan();
    // Through nexthop objects (three peers would get plain routes by default), so that a plain route
    // put in by hand is a change.
    const rec = new Reconciler(rtnl, { nexthops: 'always' });
    const first = rec.full(mode.desired(node, peers));
    assert.is(first.failures.length, 0);
    const dev = first.device!.name;
    const before = owned(ns);
    assert.equal(Object.keys(before).sort(), ['10.0.2.0/24', '10.0.3.0/24', '10.0.4.0/24']);
    for (let i = 0; i < 3; i++) assert.is(rec.resync().operations, 0, 'a no-op resync');

    // A route changed (plain via instead of the nexthop), a neighbour with another MAC, an FDB entry gone,
    // a stale route of netboot's protocol, all by hand.
    sh(ns, 'ip', 'route', 'replace', '10.0.3.0/24', 'via', '10.0.3.0', 'dev', dev, 'onlink', 'proto', String(NETBOOT_PROTOCOL));
    sh(ns, 'ip', 'neigh', 'replace', '10.0.2.0', 'lladdr', '02:00:00:00:00:99', 'dev', dev, 'nud', 'permanent');
    sh(ns, 'bridge', 'fdb', 'del', vtepMac('n4'), 'dev', dev, 'dst', '172.16.0.4');
    sh(ns, 'ip', 'route', 'add', '10.0.99.0/24', 'via', '10.0.99.0', 'dev', dev, 'onlink', 'proto', String(NETBOOT_PROTOCOL));
    const repaired = rec.resync();
    assert.is(repaired.failures.length, 0);
    assert.is(repaired.changed.routes.replace.length, 1, 'the changed route replaced');
    assert.is(repaired.changed.routes.replace[0]!.to.dst, '10.0.3.0/24');
    assert.is(repaired.changed.routes.del.length, 1, 'the stale route deleted');
    assert.is(repaired.changed.routes.del[0]!.dst, '10.0.99.0/24');
    assert.is(repaired.changed.neighbours.set.length, 1, 'the neighbour set back');
    assert.is(repaired.changed.fdb.add.length, 1, 'the FDB entry added back');
    assert.is(repaired.operations, 4);
    assert.equal(owned(ns), before);
    const neigh = ipJson(ns, 'neigh', 'show', 'dev', dev).find((n: { dst: string }) => n.dst === '10.0.2.0');
    assert.is(neigh.lladdr, vtepMac('n2'));
    const fdb = JSON.parse(sh(ns, 'bridge', '-j', 'fdb', 'show', 'dev', dev)).filter((f: { dst?: string }) => f.dst !== undefined);
    assert.is(fdb.length, 3);
    assert.is(rec.resync().operations, 0, 'nothing left after the repair');

    // Someone else's route in a peer's place: reported at every resync, never overwritten.
    sh(ns, 'ip', 'route', 'replace', '10.0.4.0/24', 'via', '172.16.0.4', 'dev', 'veth0', 'proto', 'static');
    for (let i = 0; i < 2; i++) {
      const r = rec.resync();
      assert.is(r.operations, 0, `resync ${i}: the foreign route left alone`);
      assert.equal(
        r.conflicts.map((c) => c.dst),
        ['10.0.4.0/24'],
        `resync ${i}: the conflict reported`,
      );
    }
    assert.is(ipJson(ns, 'route', 'show', '10.0.4.0/24')[0].protocol, 'static');
    // It goes away: the peer's route is back at the next resync.
    sh(ns, 'ip', 'route', 'del', '10.0.4.0/24', 'proto', 'static');
    const back = rec.resync();
    assert.is(back.conflicts.length, 0);
    assert.is(back.changed.routes.add.length, 1);
    assert.equal(owned(ns), before);
  });
});

test.run();
