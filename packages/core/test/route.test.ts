// RouteApi over a RequestRecorder: what it makes of replies the kernel should not send, with no
// privileges (the kernel side is in route.priv.test.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NetlinkDecodeError } from '../src/netlink/errors.js';
import { RouteApi } from '../src/route.js';
import { RequestRecorder, throwsA } from '../src/public/testing.js';

test('route.get: an acknowledgement without a route is an internal error, not bad input', () => {
  const recorder = new RequestRecorder(); // acknowledges RTM_GETROUTE with no RTM_NEWROUTE
  const e = throwsA(() => new RouteApi(recorder).get('10.0.0.1'), NetlinkDecodeError, /without a route/);
  assert.is(e.kind, 'internal');
});

test.run();
