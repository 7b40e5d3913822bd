// The Rtnl facade and the package's public surface (src/index.ts) without a namespace: over a
// RequestRecorder, a namespace that is not there, the constants and errors, the flock subpath. The
// kernel side is in rtnl.priv.test.ts.
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { constants, NetlinkError, NetnsNotFoundError, Rtnl, SyscallError } from '../src/index.js';
import { flock, LOCK_EX, LOCK_NB, LOCK_UN } from '../src/public/flock.js';
import { RequestRecorder, throwsA, withTempDir } from '../src/public/testing.js';

test('an Rtnl over another Transport: a RequestRecorder stands in for the kernel', () => {
  const kernel = new RequestRecorder();
  const rtnl = new Rtnl(kernel);
  rtnl.route.add({ dst: '10.10.0.0/16', gateway: '10.9.0.2', table: 100 });
  rtnl.neigh.set({ dev: 2, dst: '10.9.0.2', lladdr: '02:00:00:00:00:02' });
  assert.equal(
    kernel.sent.map((m) => m.type),
    [constants.RTM_NEWROUTE, constants.RTM_NEWNEIGH],
  );
  assert.is(rtnl.socket, kernel);
  rtnl.close(); // a transport without close() has nothing to close
});

test('a namespace that does not exist is a typed error', () => {
  throwsA(() => Rtnl.open({ netns: 'nbt-does-not-exist-h4' }), NetnsNotFoundError);
});

test('index exports the kernel constants as a namespace and the errors; @netboot/core/flock locks', () => {
  assert.is(constants.RTM_NEWLINK, 16);
  assert.is(constants.RTPROT_BOOT, 3);
  assert.is(typeof NetlinkError, 'function');
  assert.is(typeof SyscallError, 'function');

  return withTempDir((dir) => {
    const path = join(dir, 'lock');
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
    }
  }, 'nbt-flock-');
});

test.run();
