// RouteApi against the real kernel, each test in its own namespace, checked with `ip -j route`.
// Numbered tables (100, 1000) and a custom protocol keep every route obviously ours.
import { test as uvuTest } from 'uvu';
import * as assert from 'uvu/assert';
import { ipJson, privileged, throwsA, withVethNs, type TempNetns } from '../src/public/testing.js';
import { RouteSpecError, type RouteSpec } from '../src/route.js';
import { InvalidLinkSpecError } from '../src/link.js';
import { NetlinkError } from '../src/netlink/errors.js';
import { InvalidAddressError } from '../src/base/ip.js';

const test = privileged(uvuTest);
const PROTO = 201;

function table(ns: TempNetns, id: number | string, ...more: string[]): any[] {
  return ipJson(ns, 'route', 'show', 'table', String(id), ...more);
}

test('add in table 100 with a custom protocol, gateway, metric and mtu', () =>
  withVethNs((ns, rtnl) => {
    rtnl.route.add({ dst: '10.20.0.0/16', gateway: '10.1.0.2', dev: 'veth0', table: 100, protocol: PROTO, metric: 10, mtu: 1400 });
    const routes = table(ns, 100);
    assert.is(routes.length, 1);
    assert.equal(
      { dst: routes[0].dst, gateway: routes[0].gateway, dev: routes[0].dev, protocol: routes[0].protocol, metric: routes[0].metric },
      { dst: '10.20.0.0/16', gateway: '10.1.0.2', dev: 'veth0', protocol: String(PROTO), metric: 10 },
    );
    assert.equal(routes[0].metrics, [{ mtu: 1400 }]);
    assert.equal(table(ns, 'main', 'proto', String(PROTO)), [], 'nothing leaked into main');
  }));

test('table 1000 (> 255) goes through RTA_TABLE', () =>
  withVethNs((ns, rtnl, veth0) => {
    rtnl.route.add({ dst: '10.22.0.0/16', dev: veth0, table: 1000, protocol: PROTO });
    const routes = table(ns, 1000);
    assert.is(routes.length, 1);
    assert.is(routes[0].dst, '10.22.0.0/16');
    assert.is(routes[0].scope, 'link', 'gateway-less unicast route with a dev gets link scope, like ip');
    const listed = rtnl.route.list({ table: 1000 });
    assert.is(listed.length, 1);
    assert.is(listed[0]!.table, 1000);
    assert.is(listed[0]!.scope, 'link');
  }));

test('replace changes the gateway; change on a missing route fails and adds nothing', () =>
  withVethNs((ns, rtnl) => {
    const base: RouteSpec = { dst: '10.20.0.0/16', dev: 'veth0', table: 100, protocol: PROTO };
    rtnl.route.replace({ ...base, gateway: '10.1.0.2' });
    rtnl.route.replace({ ...base, gateway: '10.1.0.3' });
    const routes = table(ns, 100);
    assert.is(routes.length, 1);
    assert.is(routes[0].gateway, '10.1.0.3');

    rtnl.route.change({ ...base, gateway: '10.1.0.4' });
    assert.is(table(ns, 100)[0].gateway, '10.1.0.4', 'change rewrites an existing route');

    const { code } = throwsA(() => rtnl.route.change({ ...base, dst: '10.99.0.0/16', gateway: '10.1.0.2' }), NetlinkError);
    assert.ok(code === 'ENOENT' || code === 'ESRCH', code);
    assert.is(table(ns, 100).length, 1);
  }));

test('duplicate add fails with EEXIST and the kernel message', () =>
  withVethNs((ns, rtnl) => {
    const r: RouteSpec = { dst: '10.20.0.0/16', gateway: '10.1.0.2', table: 100, protocol: PROTO };
    rtnl.route.add(r);
    const err = throwsA(() => rtnl.route.add(r), NetlinkError, /EEXIST/, 'second add');
    assert.is(err.code, 'EEXIST');
    assert.is(err.errno, 17);
    assert.is(err.op, 'RTM_NEWROUTE');
    if (err.extack !== undefined) assert.ok(err.message.includes(err.extack), 'the kernel text is kept');
    assert.is(table(ns, 100).length, 1);
  }));

test('multipath: nexthops with weights, and append adds a second route for the same key', () =>
  withVethNs((ns, rtnl) => {
    rtnl.route.add({
      dst: '10.21.0.0/16',
      table: 100,
      protocol: PROTO,
      nexthops: [
        { gateway: '10.1.0.2', dev: 'veth0' },
        { gateway: '10.1.0.3', dev: 'veth0', weight: 3 },
      ],
    });
    const [mp] = table(ns, 100);
    assert.equal(
      mp.nexthops.map((n: any) => [n.gateway, n.dev, n.weight]),
      [
        ['10.1.0.2', 'veth0', 1],
        ['10.1.0.3', 'veth0', 3],
      ],
    );
    const [listed] = rtnl.route.list({ table: 100 });
    assert.equal(
      listed!.nexthops!.map((n) => [n.gateway, n.weight]),
      [
        ['10.1.0.2', 1],
        ['10.1.0.3', 3],
      ],
    );

    // IPv4 append: a second route with the same key (dst, table, tos, metric) next to the first.
    rtnl.route.add({ dst: '10.23.0.0/16', gateway: '10.1.0.2', table: 100, protocol: PROTO });
    rtnl.route.append({ dst: '10.23.0.0/16', gateway: '10.1.0.3', table: 100, protocol: PROTO });
    const appended = table(ns, 100).filter((r: any) => r.dst === '10.23.0.0/16');
    assert.equal(appended.map((r: any) => r.gateway).sort(), ['10.1.0.2', '10.1.0.3']);
  }));

test('get returns the route the kernel chooses, like ip route get', () =>
  withVethNs((ns, rtnl) => {
    rtnl.route.add({ dst: '10.20.0.0/16', gateway: '10.1.0.2', protocol: PROTO });
    const r = rtnl.route.get('10.20.5.6');
    const ip = ipJson(ns, 'route', 'get', '10.20.5.6')[0];
    assert.is(r.gateway, ip.gateway);
    assert.is(r.gateway, '10.1.0.2');
    assert.is(r.src, ip.prefsrc);
    assert.is(r.dst, '10.20.5.6/32');
    const fib = rtnl.route.get('10.20.5.6', { fibMatch: true });
    assert.is(fib.dst, '10.20.0.0/16');
    assert.is(fib.protocol, PROTO);
    assert.is(throwsA(() => rtnl.route.get('10.77.0.1'), NetlinkError).code, 'ENETUNREACH');
  }));

test('onlink gateway outside any connected prefix', () =>
  withVethNs((ns, rtnl) => {
    const unreachable = throwsA(() => rtnl.route.add({ dst: '192.168.5.0/24', gateway: '192.168.99.1', dev: 'veth0', table: 100 }), NetlinkError);
    assert.is(unreachable.code, 'ENETUNREACH', 'without onlink the kernel refuses an unreachable gateway');
    rtnl.route.add({ dst: '192.168.5.0/24', gateway: '192.168.99.1', dev: 'veth0', table: 100, onlink: true });
    const [r] = table(ns, 100);
    assert.ok(r.flags.includes('onlink'), JSON.stringify(r));
    assert.is(rtnl.route.list({ table: 100 })[0]!.onlink, true);
  }));

test('del removes exactly the route; a Route from list round-trips through replace and del', () =>
  withVethNs((ns, rtnl) => {
    rtnl.route.add({ dst: '10.20.0.0/16', gateway: '10.1.0.2', table: 100, protocol: PROTO, metric: 7, mtu: 1300 });
    rtnl.route.add({ dst: 'fd00:20::/64', gateway: 'fd00:1::2', dev: 'veth0', table: 100, protocol: PROTO });
    const before = rtnl.route.list({ table: 100 });
    assert.is(before.length, 2);
    for (const r of before) rtnl.route.replace(r);
    assert.equal(rtnl.route.list({ table: 100 }), before, 'replace(list()[i]) changes nothing');
    const v4 = before.find((r) => r.family === 4)!;
    assert.is(v4.metric, 7);
    assert.is(v4.mtu, 1300);

    rtnl.route.del(v4);
    assert.equal(
      table(ns, 100).map((r: any) => r.dst),
      [],
      'IPv4 table 100 is empty',
    );
    assert.equal(
      ipJson(ns, '-6', 'route', 'show', 'table', '100').map((r: any) => r.dst),
      ['fd00:20::/64'],
    );
    rtnl.route.del({ dst: 'fd00:20::/64', table: 100 });
    assert.equal(ipJson(ns, '-6', 'route', 'show', 'table', '100'), []);
    assert.is(throwsA(() => rtnl.route.del({ dst: '10.20.0.0/16', table: 100 }), NetlinkError).code, 'ESRCH');
  }));

test('list filters by table, protocol, type, dst, dev and family in the kernel', () =>
  withVethNs((ns, rtnl) => {
    rtnl.route.add({ dst: '10.40.0.0/16', gateway: '10.1.0.2', table: 100, protocol: PROTO });
    rtnl.route.add({ dst: '10.41.0.0/16', gateway: '10.1.0.2', table: 100, protocol: 202 });
    rtnl.route.add({ dst: '10.42.0.0/16', gateway: '10.1.0.2', table: 101, protocol: PROTO });
    rtnl.route.add({ dst: '10.43.0.0/16', type: 'blackhole', table: 100, protocol: PROTO });
    const dsts = (f: Parameters<typeof rtnl.route.list>[0]): string[] =>
      rtnl.route
        .list(f)
        .map((r) => r.dst)
        .sort();
    assert.equal(dsts({ table: 100 }), ['10.40.0.0/16', '10.41.0.0/16', '10.43.0.0/16']);
    assert.equal(dsts({ table: 100, protocol: PROTO }), ['10.40.0.0/16', '10.43.0.0/16']);
    assert.equal(dsts({ table: 'all', protocol: PROTO }), ['10.40.0.0/16', '10.42.0.0/16', '10.43.0.0/16']);
    assert.equal(dsts({ table: 100, type: 'blackhole' }), ['10.43.0.0/16']);
    assert.equal(dsts({ table: 'all', dst: '10.42.0.0/16' }), ['10.42.0.0/16']);
    assert.equal(dsts({ table: 100, dev: 'veth0', protocol: PROTO }), ['10.40.0.0/16']);
    assert.equal(dsts({ table: 100, family: 6 }), []);
    assert.equal(dsts({ table: 555 }), [], 'a table that does not exist is empty');
    // main holds only the connected route, which `ip` agrees with
    assert.equal(
      dsts({ family: 4 }),
      table(ns, 'main')
        .map((r: any) => r.dst)
        .sort(),
    );
  }));

test('blackhole, unreachable and prohibit types', () =>
  withVethNs((ns, rtnl) => {
    rtnl.route.add({ dst: '10.30.0.0/16', type: 'blackhole', table: 100, protocol: PROTO });
    rtnl.route.add({ dst: '10.31.0.0/16', type: 'unreachable', table: 100, protocol: PROTO });
    rtnl.route.add({ dst: '10.32.0.0/16', type: 'prohibit', table: 100, protocol: PROTO });
    const types = Object.fromEntries(table(ns, 100).map((r: any) => [r.dst, r.type]));
    assert.equal(types, { '10.30.0.0/16': 'blackhole', '10.31.0.0/16': 'unreachable', '10.32.0.0/16': 'prohibit' });
    assert.equal(
      rtnl.route.list({ table: 100 }).map((r) => [r.type, r.scope]),
      [
        ['blackhole', 'universe'],
        ['unreachable', 'universe'],
        ['prohibit', 'universe'],
      ],
    );
  }));

test('batch add of 1,000 routes, then batch delete', () =>
  withVethNs((ns, rtnl, veth0) => {
    const routes: RouteSpec[] = [];
    for (let i = 0; i < 1000; i++) {
      routes.push({ dst: `10.${100 + (i >> 8)}.${i & 255}.0/24`, gateway: '10.1.0.2', dev: veth0, table: 1000, protocol: PROTO });
    }
    const dup = { ...routes[0]! };
    const results = rtnl.route.addMany([...routes, dup]);
    assert.is(results.length, 1001);
    assert.is(results.filter((r) => r === undefined).length, 1000);
    assert.instance(results[1000], NetlinkError);
    assert.is((results[1000] as NetlinkError).code, 'EEXIST');
    assert.is(table(ns, 1000).length, 1000);
    assert.is(rtnl.route.list({ table: 1000 }).length, 1000);

    const moved = routes.map((r) => ({ ...r, gateway: '10.1.0.3' }));
    assert.ok(rtnl.route.replaceMany(moved).every((r) => r === undefined));
    assert.ok(table(ns, 1000).every((r: any) => r.gateway === '10.1.0.3'));

    const stale = rtnl.route.delMany(routes);
    assert.ok(
      stale.every((e) => e instanceof NetlinkError && e.code === 'ESRCH'),
      'del matches the gateway too',
    );
    assert.is(table(ns, 1000).length, 1000);
    assert.ok(rtnl.route.delMany(moved).every((r) => r === undefined));
    assert.equal(table(ns, 1000), []);
  }));

test('bare addresses are host routes; IPv6 default route and get', () =>
  withVethNs((ns, rtnl) => {
    rtnl.route.add({ dst: '10.60.0.1', dev: 'veth0', table: 100, protocol: PROTO });
    rtnl.route.add({ dst: 'fd00:60::1', dev: 'veth0', table: 100, protocol: PROTO });
    assert.equal(
      table(ns, 100).map((r: any) => r.dst),
      ['10.60.0.1'],
    );
    assert.equal(
      ipJson(ns, '-6', 'route', 'show', 'table', '100').map((r: any) => r.dst),
      ['fd00:60::1'],
    );
    assert.equal(
      rtnl.route
        .list({ table: 100 })
        .map((r) => r.dst)
        .sort(),
      ['10.60.0.1/32', 'fd00:60::1/128'],
    );

    rtnl.route.add({ dst: 'default', gateway: 'fd00:1::fe', protocol: PROTO });
    const [v6default] = ipJson(ns, '-6', 'route', 'show', 'default');
    assert.is(v6default.gateway, 'fd00:1::fe');
    const r = rtnl.route.get('2001:db8::1');
    assert.is(r.family, 6);
    assert.is(r.gateway, 'fd00:1::fe');
    assert.is(rtnl.route.list({ family: 6, dst: 'default' })[0]!.protocol, PROTO);
  }));

test('bad input is a typed error that names it, and nothing is sent', () =>
  withVethNs((ns, rtnl) => {
    throwsA(() => rtnl.route.add({ dst: '10.20.0.1/16', table: 100 }), RouteSpecError, /10\.20\.0\.1\/16.*network is 10\.20\.0\.0\/16/);
    throwsA(() => rtnl.route.add({ dst: 'fd00:20::1/64', table: 100 }), RouteSpecError, /host bits/);
    throwsA(() => rtnl.route.add({ dst: '10.20.0.0/16', gateway: 'fd00::1', table: 100 }), RouteSpecError);
    throwsA(() => rtnl.route.add({ dst: 'nonsense', table: 100 }), InvalidAddressError);
    throwsA(() => rtnl.route.add({ dst: '10.20.0.0/16', table: 0 }), RouteSpecError);
    throwsA(() => rtnl.route.add({ dst: '10.20.0.0/16', protocol: 300, table: 100 }), RouteSpecError);
    throwsA(() => rtnl.route.add({ dst: '10.20.0.0/16', type: 'bogus' as never, table: 100 }), RouteSpecError);
    throwsA(
      () =>
        rtnl.route.addMany([
          { dst: '10.50.0.0/16', dev: 'veth0', table: 100 },
          { dst: '10.51.0.1/16', table: 100 },
        ]),
      RouteSpecError,
    );
    // A device given by number must be a real ifindex (0 is "no device": the route would be added
    // without one); a family must be 4 or 6 (anything else was sent as IPv6); flags must be booleans.
    for (const dev of [0, -1, 1.5]) {
      throwsA(() => rtnl.route.add({ dst: '10.20.0.0/16', dev, table: 100 }), InvalidLinkSpecError, /invalid dev/);
      throwsA(() => rtnl.route.add({ dst: '10.20.0.0/16', nexthops: [{ gateway: '10.1.0.2', dev }], table: 100 }), InvalidLinkSpecError, /nexthops\.dev/);
      throwsA(() => rtnl.route.list({ dev }), InvalidLinkSpecError);
    }
    throwsA(() => rtnl.route.add({ dst: 'default', family: 5 as never, dev: 'veth0', table: 100 }), RouteSpecError, /route family 5/);
    throwsA(() => rtnl.route.list({ family: 5 as never }), RouteSpecError, /family/);
    throwsA(() => rtnl.route.add({ dst: '10.20.0.0/16', gateway: '10.1.0.2', onlink: 'yes' as never, table: 100 }), RouteSpecError, /onlink/);
    assert.equal(rtnl.route.list({ table: 'all', protocol: 3 }), [], 'nothing was sent, not even the valid half of the batch');
    assert.equal(table(ns, 'all', 'proto', 'boot'), []);
  }));

test.run();
