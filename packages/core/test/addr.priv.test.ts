// Addresses against the kernel in fresh namespaces, compared with `ip -j addr`.
import { test as uvuTest } from 'uvu';
import * as assert from 'uvu/assert';
import { NetlinkError } from '../src/netlink/errors.js';
import { AddrSpecError, ensureAddr } from '../src/addr.js';
import { InvalidAddressError } from '../src/base/ip.js';
import type { NetnsRef } from '../src/netns.js';
import { ipJson, privileged, throwsA, withNetns, withRtnl } from '../src/public/testing.js';

const test = privileged(uvuTest);

/** `ip -j addr show dev <dev>` as sorted 'local/prefixlen' strings (link-local IPv6 left out). */
const ipAddrs = (ns: NetnsRef, dev: string): string[] =>
  ipJson(ns, 'addr', 'show', 'dev', dev)[0]
    .addr_info.filter((a: { scope: string }) => a.scope !== 'link')
    .map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`)
    .sort();

test('add / list / del IPv4 and IPv6 match ip -j addr', async () => {
  await withNetns(1, (ns) => {
    withRtnl(ns, ({ link, addr }) => {
      link.set('lo', { up: true });
      link.add({ kind: 'veth', name: 'v0', peer: { name: 'v1' }, up: true });
      addr.add('v0', '10.244.1.1/24');
      addr.add('v0', '10.244.2.1/24', { broadcast: true });
      addr.add('v0', 'fd00::1/64', { nodad: true });
      addr.add('v0', 'FD00:1::0:1/64', { nodad: true, noprefixroute: true });
      assert.equal(ipAddrs(ns, 'v0'), ['10.244.1.1/24', '10.244.2.1/24', 'fd00:1::1/64', 'fd00::1/64']);

      const info = ipJson(ns, 'addr', 'show', 'dev', 'v0')[0].addr_info;
      const by = (local: string): any => info.find((a: { local: string }) => a.local === local);
      assert.is(by('10.244.1.1').broadcast, undefined, 'no brd unless asked, like ip addr add');
      assert.is(by('10.244.2.1').broadcast, '10.244.2.255', 'brd + computed');
      assert.ok(by('fd00:1::1').noprefixroute);
      assert.not.ok(by('fd00:1::1').tentative, 'nodad: usable at once');
      const routes = ipJson(ns, '-6', 'route', 'show', 'dev', 'v0').map((r: { dst: string }) => r.dst);
      assert.ok(routes.includes('fd00::/64'));
      assert.not.ok(routes.includes('fd00:1::/64'), 'noprefixroute added no route');

      const listed = addr.list({ dev: 'v0' }).filter((a) => a.scope === 'global');
      assert.equal(listed.map((a) => a.cidr).sort(), ipAddrs(ns, 'v0'));
      const v4 = listed.find((a) => a.address === '10.244.2.1')!;
      assert.is(v4.family, 4);
      assert.is(v4.broadcast, '10.244.2.255');
      assert.is(v4.label, 'v0');
      assert.is(v4.index, link.index('v0'));
      assert.equal(
        addr
          .list({ dev: 'v0', family: 6 })
          .filter((a) => a.scope === 'global')
          .map((a) => a.cidr)
          .sort(),
        ['fd00:1::1/64', 'fd00::1/64'],
      );
      assert.ok(addr.list({ family: 4 }).every((a) => a.family === 4));
      assert.ok(
        addr.list().some((a) => a.address === '::1' && a.scope === 'host'),
        'lo appears without a dev filter',
      );

      addr.del('v0', '10.244.1.1/24');
      addr.del('v0', 'fd00::1/64');
      assert.equal(ipAddrs(ns, 'v0'), ['10.244.2.1/24', 'fd00:1::1/64']);
    });
  });
});

test('errors: duplicate add EEXIST, missing del EADDRNOTAVAIL, bad input typed and unsent', async () => {
  await withNetns(1, (ns) => {
    withRtnl(ns, ({ link, addr }) => {
      link.add({ kind: 'bridge', name: 'br0' });
      addr.add('br0', '10.244.1.1/24');
      const exists = throwsA(() => addr.add('br0', '10.244.1.1/24'), NetlinkError);
      assert.is(exists.code, 'EEXIST');
      assert.is(exists.op, 'RTM_NEWADDR');
      assert.is(throwsA(() => addr.del('br0', '10.244.9.9/24'), NetlinkError).code, 'EADDRNOTAVAIL');
      for (const cidr of ['10.244.1.1', '10.244.1.300/24', 'fd00::1/129']) {
        throwsA(() => addr.add('br0', cidr), InvalidAddressError, undefined, cidr);
      }
      for (const [cidr, opts] of [
        ['fd00::1/64', { broadcast: true }],
        ['10.0.0.1/24', { broadcast: 'fd00::1' }],
        ['10.0.0.1/24', { scope: 'planet' }],
      ] as const) {
        throwsA(() => addr.add('br0', cidr, opts as object), AddrSpecError, undefined, cidr);
      }
      assert.equal(ipAddrs(ns, 'br0'), ['10.244.1.1/24'], 'nothing else was added');
    });
  });
});

test('flush and ensureAddr', async () => {
  await withNetns(1, (ns) => {
    withRtnl(ns, ({ link, addr }) => {
      link.add({ kind: 'bridge', name: 'cni0', up: true });
      assert.ok(ensureAddr(addr, 'cni0', '10.244.1.1/24'));
      assert.not.ok(ensureAddr(addr, 'cni0', '10.244.1.1/24'), 'already there');
      assert.ok(ensureAddr(addr, 'cni0', '10.244.1.1/16'), 'prefix length changed');
      assert.equal(ipAddrs(ns, 'cni0'), ['10.244.1.1/16']);
      addr.add('cni0', '10.244.7.1/24');
      addr.add('cni0', 'fd00::1/64', { nodad: true });
      assert.is(addr.flush('cni0', 4), 2);
      assert.equal(ipAddrs(ns, 'cni0'), ['fd00::1/64']);
      addr.flush('cni0');
      assert.equal(ipAddrs(ns, 'cni0'), []);
    });
  });
});

test.run();
