// The Rtnl facade and the package's public surface (src/index.ts), the way a user imports them, in a
// namespace (the pure checks are in rtnl.test.ts).
import { test as uvuTest } from 'uvu';
import * as assert from 'uvu/assert';
import {
  NetlinkSocket,
  Rtnl,
  LinkApi,
  AddrApi,
  RouteApi,
  NeighApi,
  InvalidAddressError,
  InvalidLinkSpecError,
  AddrSpecError,
  RouteSpecError,
  NeighSpecError,
  SpecError,
} from '../src/index.js';
import { errorKind, InvalidInputError } from '../src/index.js';
import { type ErrorClass, ipJson, privileged, sh, throwsA, withNetns } from '../src/public/testing.js';

const test = privileged(uvuTest);

test('open in a namespace: all four APIs share the one socket, which stays in that namespace', () =>
  withNetns(1, (ns) => {
    sh(ns, 'ip', 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth1');
    sh(ns, 'ip', 'link', 'set', 'veth0', 'up');
    const rtnl = Rtnl.open({ netns: ns });
    try {
      assert.instance(rtnl.socket, NetlinkSocket);
      assert.instance(rtnl.link, LinkApi);
      assert.instance(rtnl.addr, AddrApi);
      assert.instance(rtnl.route, RouteApi);
      assert.instance(rtnl.neigh, NeighApi);
      const names = rtnl.link
        .list()
        .map((l) => l.name)
        .sort();
      assert.equal(names, ['lo', 'veth0', 'veth1'], 'sees the namespace, not the host');

      rtnl.addr.add('veth0', '10.9.0.1/24');
      rtnl.route.add({ dst: '10.10.0.0/16', gateway: '10.9.0.2', table: 100, protocol: 201 });
      rtnl.neigh.set({ dev: 'veth0', dst: '10.9.0.2', lladdr: '02:00:00:00:00:02' });
      assert.is(ipJson(ns, 'route', 'show', 'table', '100')[0].gateway, '10.9.0.2');
      assert.is(ipJson(ns, 'neigh', 'show', 'dev', 'veth0')[0].lladdr, '02:00:00:00:00:02');
    } finally {
      rtnl.close();
    }
  }));

test('Symbol.dispose closes the socket', () =>
  withNetns(1, (ns) => {
    const rtnl = Rtnl.open({ netns: ns });
    rtnl[Symbol.dispose]();
    assert.throws(() => rtnl.route.list());
  }));

test('the same mistake is the same error class whichever API it enters; nothing is sent', () =>
  withNetns(1, (ns) => {
    const rtnl = Rtnl.open({ netns: ns });
    try {
      const cases: [string, () => unknown, ErrorClass][] = [
        // Address text that does not parse: the IP module's error, in every API.
        ['link MAC', () => rtnl.link.add({ kind: 'bridge', name: 'br0', address: 'zz:00:00:00:00:00' }), InvalidAddressError],
        ['link set MAC', () => rtnl.link.set('lo', { address: '02:00:00:00:00' }), InvalidAddressError],
        ['neigh MAC', () => rtnl.neigh.set({ dev: 'lo', dst: '10.0.0.1', lladdr: 'zz:00:00:00:00:00' }), InvalidAddressError],
        ['FDB MAC', () => rtnl.neigh.set({ family: 'bridge', dev: 'lo', lladdr: '02:00:00:00:00' }), InvalidAddressError],
        ['vxlan local', () => rtnl.link.add({ kind: 'vxlan', name: 'vx0', vni: 1, local: '10.0.0' }), InvalidAddressError],
        ['addr CIDR', () => rtnl.addr.add('lo', '10.0.0.300/24'), InvalidAddressError],
        ['route dst', () => rtnl.route.add({ dst: '10.0.0.300/24', dev: 'lo' }), InvalidAddressError],
        ['route gateway', () => rtnl.route.add({ dst: '10.1.0.0/24', gateway: '10.0.0' }), InvalidAddressError],
        ['neigh dst', () => rtnl.neigh.set({ dev: 'lo', dst: '10.0.0', lladdr: '02:00:00:00:00:01' }), InvalidAddressError],
        // A device that cannot exist (ifindex 0, a name the kernel refuses): the link spec error, in every API.
        ['link index 0', () => rtnl.link.get(0), InvalidLinkSpecError],
        ['addr dev 0', () => rtnl.addr.add(0, '10.0.0.1/24'), InvalidLinkSpecError],
        ['route dev 0', () => rtnl.route.add({ dst: '10.1.0.0/24', dev: 0 }), InvalidLinkSpecError],
        ['neigh dev 0', () => rtnl.neigh.set({ dev: 0, dst: '10.0.0.1', lladdr: '02:00:00:00:00:01' }), InvalidLinkSpecError],
        ['link name', () => rtnl.link.set('a b', { up: true }), InvalidLinkSpecError],
        ['addr dev name', () => rtnl.addr.list({ dev: 'a b' }), InvalidLinkSpecError],
        ['route dev name', () => rtnl.route.add({ dst: '10.1.0.0/24', dev: 'a/b' }), InvalidLinkSpecError],
        ['neigh dev name', () => rtnl.neigh.list({ dev: 'x'.repeat(16) }), InvalidLinkSpecError],
        // Fields of one API's spec: that API's SpecError.
        ['addr scope', () => rtnl.addr.add('lo', '10.0.0.1/24', { scope: 'planet' as never }), AddrSpecError],
        ['addr family', () => rtnl.addr.list({ family: 5 as never }), AddrSpecError],
        ['route family', () => rtnl.route.list({ family: 5 as never }), RouteSpecError],
        ['neigh family', () => rtnl.neigh.list({ family: 5 as never }), NeighSpecError],
      ];
      for (const [what, fn, cls] of cases) {
        const e = throwsA(fn, cls, undefined, what);
        assert.instance(e, InvalidInputError, what);
        assert.is(errorKind(e), 'invalid', what);
      }
      // Every spec error is a SpecError, the one family to catch for "a field the kernel would refuse".
      for (const cls of [InvalidLinkSpecError, AddrSpecError, RouteSpecError, NeighSpecError]) assert.ok(cls.prototype instanceof SpecError);
      assert.equal(
        ipJson(ns, 'link', 'show').map((l: { ifname: string }) => l.ifname),
        ['lo'],
        'nothing was created',
      );
      assert.equal(ipJson(ns, 'addr', 'show', 'dev', 'lo')[0].addr_info, [], 'no address was added');
    } finally {
      rtnl.close();
    }
  }));

test.run();
