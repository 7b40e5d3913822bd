// Opening a netlink socket in a namespace that cannot be entered fails before any socket exists:
// pure, no privileges (the socket against the kernel is in socket.priv.test.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NetnsNotFoundError, NotANetnsError } from '../src/netns.js';
import { throwsA } from '../src/public/testing/pure.js';
import { openSocket } from '../src/rtnl.js';

test('openSocket({ netns }): a missing namespace is NetnsNotFoundError, a file that is none NotANetnsError', () => {
  throwsA(() => openSocket({ netns: 'nbt-not-there-s6' }), NetnsNotFoundError);
  assert.is(throwsA(() => openSocket({ netns: '/etc/hostname' }), NotANetnsError).kind, 'invalid');
});

test.run();
