// The Rtnl facade and the package's public surface (src/index.ts), the way a user imports them.
import { closeSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  constants,
  flock,
  LOCK_EX,
  LOCK_NB,
  LOCK_UN,
  NetlinkSocket,
  NetnsNotFoundError,
  Rtnl,
  LinkApi,
  AddrApi,
  RouteApi,
  NeighApi,
  NetlinkError,
  SyscallError,
} from '../src/index.js';
import { ipJson, sh, withNetns } from '../src/public/testing.js';

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
      const names = rtnl.link.list().map((l) => l.name).sort();
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

test('a namespace that does not exist is a typed error', () => {
  assert.throws(() => Rtnl.open({ netns: 'nbt-does-not-exist-h4' }), (e: unknown) => e instanceof NetnsNotFoundError);
});

test('index exports the kernel constants as a namespace, errors, and flock with LOCK_*', () => {
  assert.is(constants.RTM_NEWLINK, 16);
  assert.is(constants.RTPROT_BOOT, 3);
  assert.is(typeof NetlinkError, 'function');
  assert.is(typeof SyscallError, 'function');

  const path = join(tmpdir(), `nbt-flock-${process.pid}`);
  const a = openSync(path, 'w');
  const b = openSync(path, 'r');
  try {
    assert.ok(flock(a, LOCK_EX | LOCK_NB));
    assert.is(flock(b, LOCK_EX | LOCK_NB), false, 'a second open file description is refused');
    assert.ok(flock(a, LOCK_UN));
    assert.ok(flock(b, LOCK_EX | LOCK_NB));
  } finally {
    closeSync(a);
    closeSync(b);
    rmSync(path, { force: true });
  }
});

test.run();
