// What a warm CNI server keeps between calls is let go by releaseKept() (kept.ts), which the last
// server's close() calls: the node-side netlink socket (pod-netns.ts hostRtnl) and the node watch
// (node-watch.ts), opened here in a throwaway namespace as a served ADD opens them on the node; and
// used again afterwards, they are kept — and let go — again. The IPAM stores' part is in
// cni-server.test.ts.
import { runIn } from '@netboot/core';
import { openFds, privileged, withNetns } from '@netboot/core/testing';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { releaseKept } from '../src/cni/kept.js';
import { NodeWatch } from '../src/cni/node-watch.js';
import { hostRtnl } from '../src/cni/pod-netns.js';

const it = privileged(test);

const sockets = () => openFds((t) => t.startsWith('socket:')).length;

it('releaseKept() closes the kept node socket and node watch; used again, they are kept and released again', () =>
  withNetns(1, async (ns) => {
    const before = sockets();
    NodeWatch.enable();
    runIn(ns, () => {
      const host = hostRtnl();
      assert.is(hostRtnl(), host, 'one socket kept across calls');
      assert.ok(NodeWatch.current(host), 'facts kept');
    });
    assert.is(sockets(), before + 2, 'the node socket and the watch');
    assert.equal(await releaseKept(), [], 'no release failed');
    assert.is(sockets(), before, 'both closed');
    runIn(ns, () => NodeWatch.current(hostRtnl()));
    assert.is(sockets(), before + 2, 'kept again on next use');
    assert.equal(await releaseKept(), []);
    assert.is(sockets(), before, 'and released again');
  }));

test.run();
