// NexthopApi against the real kernel, each test in its own namespace, checked with `ip -j nexthop`
// and `ip -j route`.
import { test as uvuTest } from 'uvu';
import * as assert from 'uvu/assert';
import { ifindexOf, ipJson, privileged, sh, type TempNetns, withVethNs } from '../src/public/testing.js';
import type { Rtnl } from '../src/rtnl.js';
import { NexthopSpecError } from '../src/nexthop.js';
import { RouteSpecError } from '../src/route.js';
import { isExist, isNotFound } from '../src/netlink/errors.js';

const test = privileged(uvuTest);
const PROTO = 201;

/** veth0 (10.1.0.1/24, fd00:1::1/64) and a VXLAN device vx0, all up, plus an Rtnl in the namespace. */
function withNs(fn: (ns: TempNetns, rtnl: Rtnl, veth0: number, vx0: number) => void | Promise<void>): Promise<void> {
  return withVethNs((ns, rtnl, veth0) => {
    sh(ns, 'ip', 'link', 'add', 'vx0', 'type', 'vxlan', 'id', '1', 'dstport', '4789', 'local', '10.1.0.1', 'nolearning');
    sh(ns, 'ip', 'link', 'set', 'vx0', 'up');
    return fn(ns, rtnl, veth0, ifindexOf(ns, 'vx0'));
  });
}

const nexthops = (ns: TempNetns): any[] => ipJson(ns, 'nexthop', 'show');

test('add, replace (onlink on a VXLAN device), get, list and del, as ip nexthop sees them', () =>
  withNs((ns, rtnl, veth0, vx0) => {
    rtnl.nexthop.add({ id: 7, gateway: '10.1.0.2', dev: 'veth0', protocol: PROTO });
    rtnl.nexthop.add({ id: 9, gateway: 'fd00:1::2', dev: veth0, protocol: PROTO });
    assert.equal(
      nexthops(ns).map((n) => [n.id, n.gateway, n.dev, n.protocol]),
      [
        [7, '10.1.0.2', 'veth0', String(PROTO)],
        [9, 'fd00:1::2', 'veth0', String(PROTO)],
      ],
    );
    assert.ok(isExist(catchError(() => rtnl.nexthop.add({ id: 7, gateway: '10.1.0.3', dev: 'veth0' }))));

    rtnl.nexthop.replace({ id: 7, gateway: '10.244.2.0', dev: 'vx0', onlink: true, protocol: PROTO });
    const seven = nexthops(ns).find((n) => n.id === 7);
    assert.equal([seven.gateway, seven.dev, seven.flags], ['10.244.2.0', 'vx0', ['onlink']]);
    assert.equal(rtnl.nexthop.get(7), { id: 7, family: 4, protocol: PROTO, kind: 'single', gateway: '10.244.2.0', dev: vx0, onlink: true });

    sh(ns, 'ip', 'nexthop', 'add', 'id', '11', 'via', '10.1.0.5', 'dev', 'veth0');
    assert.equal(
      rtnl.nexthop.list({ protocol: PROTO }).map((n) => n.id),
      [7, 9],
    );
    assert.equal(
      rtnl.nexthop.list({ family: 6 }).map((n) => n.id),
      [9],
    );
    assert.equal(
      rtnl.nexthop.list({ dev: 'veth0' }).map((n) => n.id),
      [9, 11],
    );

    rtnl.nexthop.del(9);
    assert.equal(
      nexthops(ns).map((n) => n.id),
      [7, 11],
    );
    assert.ok(isNotFound(catchError(() => rtnl.nexthop.get(9))));
  }));

test('a route through a nexthop (nhid), and deleting the nexthop drops the route with it', () =>
  withNs((ns, rtnl) => {
    rtnl.nexthop.add({ id: 7, gateway: '10.1.0.2', dev: 'veth0', protocol: PROTO });
    rtnl.route.add({ dst: '10.244.2.0/24', nhid: 7, protocol: PROTO });
    const [r] = ipJson(ns, 'route', 'show', '10.244.2.0/24');
    assert.equal([r.nhid, r.gateway, r.dev], [7, '10.1.0.2', 'veth0']);
    const [listed] = rtnl.route.list({ dst: '10.244.2.0/24' });
    assert.equal([listed!.nhid, listed!.gateway], [7, '10.1.0.2']);
    // A listed route addresses itself: replace and del send its nhid, not the gateway it reports.
    rtnl.route.replace(listed!);
    rtnl.route.del(listed!);
    assert.equal(ipJson(ns, 'route', 'show', '10.244.2.0/24'), []);
    rtnl.route.add({ dst: '10.244.2.0/24', nhid: 7, protocol: PROTO });

    // One replace moves every route that uses it.
    rtnl.nexthop.replace({ id: 7, gateway: '10.1.0.3', dev: 'veth0', protocol: PROTO });
    assert.is(ipJson(ns, 'route', 'show', '10.244.2.0/24')[0].gateway, '10.1.0.3');

    rtnl.nexthop.del(7);
    assert.equal(ipJson(ns, 'route', 'show', '10.244.2.0/24'), []);
  }));

test('replaceMany and delMany: one result per nexthop, the failures in place', () =>
  withNs((ns, rtnl) => {
    const results = rtnl.nexthop.replaceMany([
      { id: 1, gateway: '10.1.0.2', dev: 'veth0', protocol: PROTO },
      { id: 2, gateway: '10.9.0.2', dev: 'veth0', protocol: PROTO }, // not on link, no onlink: refused
      { id: 3, gateway: '10.1.0.4', dev: 'veth0', protocol: PROTO },
    ]);
    assert.is(results[0], undefined);
    assert.instance(results[1], Error);
    assert.is(results[2], undefined);
    assert.equal(
      nexthops(ns).map((n) => n.id),
      [1, 3],
    );
    const dels = rtnl.nexthop.delMany([1, 2, 3]);
    assert.is(dels[0], undefined);
    assert.ok(isNotFound(dels[1]!));
    assert.is(dels[2], undefined);
    assert.equal(nexthops(ns), []);
  }));

test('specs that cannot be sent are refused before sending', () =>
  withNs((_ns, rtnl) => {
    assert.throws(
      () => rtnl.nexthop.add({ id: 0, gateway: '10.1.0.2' }),
      (e: unknown) => e instanceof NexthopSpecError,
    );
    assert.throws(
      () => rtnl.nexthop.add({ id: 1 }),
      (e: unknown) => e instanceof NexthopSpecError && /gateway, a device/.test(String(e)),
    );
    assert.throws(
      () => rtnl.nexthop.add({ id: 1, gateway: 'fd00::1', family: 4 }),
      (e: unknown) => e instanceof NexthopSpecError,
    );
    assert.throws(
      () => rtnl.route.add({ dst: '10.2.0.0/16', nhid: 0 }),
      (e: unknown) => e instanceof RouteSpecError,
    );
  }));

function catchError(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

test.run();
