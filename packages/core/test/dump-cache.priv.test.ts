// Cached listings (`list(filter, cache)`) against the real kernel: what a plain listing returns,
// with each entry whose bytes did not change handed back as the same object, and every change —
// added, removed (the entries after it found by their bytes), altered in place — decoded anew.
import { test as uvuTest } from 'uvu';
import * as assert from 'uvu/assert';
import { DumpCache } from '../src/index.js';
import { privileged, sh, withVethNs } from '../src/public/testing.js';
import type { Neigh } from '../src/neigh.js';
import type { Route } from '../src/route.js';

const test = privileged(uvuTest);
const PROTO = 201;

/** How many objects of `now` are the very objects of `before`. */
const kept = (before: readonly object[], now: readonly object[]): number => now.filter((x) => before.includes(x)).length;

test('routes: a cached listing equals a plain one; unchanged routes come back as the same objects, changed ones anew', () =>
  withVethNs((ns, rtnl) => {
    const dst = (i: number): string => `10.${50 + (i >> 8)}.${i & 255}.0/24`;
    rtnl.route.addMany(Array.from({ length: 300 }, (_, i) => ({ dst: dst(i), gateway: '10.1.0.2', dev: 'veth0', table: 100, protocol: PROTO })));
    rtnl.route.add({ dst: 'fd00:50::/64', gateway: 'fd00:1::2', dev: 'veth0', table: 100, protocol: PROTO });
    const cache = new DumpCache<Route>();
    const first = rtnl.route.list({ table: 100 }, cache);
    assert.equal(first, rtnl.route.list({ table: 100 }), 'the same routes as without a cache');
    assert.is(first.length, 301);
    const again = rtnl.route.list({ table: 100 }, cache);
    assert.is(kept(first, again), 301, 'an unchanged table: every object reused');

    // One changed in place, one removed from the middle, one added.
    sh(ns, 'ip', 'route', 'replace', dst(10), 'via', '10.1.0.3', 'dev', 'veth0', 'table', '100', 'proto', String(PROTO));
    sh(ns, 'ip', 'route', 'del', dst(20), 'table', '100');
    sh(ns, 'ip', 'route', 'add', '10.60.0.0/24', 'via', '10.1.0.2', 'dev', 'veth0', 'table', '100', 'proto', String(PROTO));
    const changed = rtnl.route.list({ table: 100 }, cache);
    assert.equal(changed, rtnl.route.list({ table: 100 }), 'still what a plain listing says');
    assert.is(changed.length, 301);
    assert.is(kept(again, changed), 299, 'all but the changed and the added one reused');
    assert.is(changed.find((r) => r.dst === dst(10))?.gateway, '10.1.0.3');
    assert.not.ok(changed.some((r) => r.dst === dst(20)));
    assert.is(kept(changed, rtnl.route.list({ table: 100 }, cache)), 301, 'and reused from then on');
  }));

test('neighbours: permanent entries are reused as they age; a new MAC is decoded anew', async () =>
  withVethNs(async (ns, rtnl) => {
    for (let i = 2; i < 40; i++)
      sh(ns, 'ip', 'neigh', 'replace', `10.1.0.${i}`, 'lladdr', `02:00:00:00:00:${i.toString(16).padStart(2, '0')}`, 'dev', 'veth0', 'nud', 'permanent');
    const cache = new DumpCache<Neigh>();
    const first = rtnl.neigh.list({ dev: 'veth0' }, cache);
    assert.equal(first, rtnl.neigh.list({ dev: 'veth0' }));
    // NDA_CACHEINFO counts in clock ticks (10 ms): let the entries age by some.
    await new Promise((r) => setTimeout(r, 50));
    const aged = rtnl.neigh.list({ dev: 'veth0' }, cache);
    assert.is(kept(first, aged), first.length, 'ageing is not a change');
    sh(ns, 'ip', 'neigh', 'replace', '10.1.0.7', 'lladdr', '02:00:00:00:00:77', 'dev', 'veth0', 'nud', 'permanent');
    const changed = rtnl.neigh.list({ dev: 'veth0' }, cache);
    assert.is(kept(aged, changed), first.length - 1);
    assert.is(changed.find((n) => n.dst === '10.1.0.7')?.lladdr, '02:00:00:00:00:77');
  }));

test.run();
