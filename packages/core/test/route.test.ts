// RouteApi over a RequestRecorder: what it makes of replies the kernel should not send, with no
// privileges (the kernel side is in route.priv.test.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { InvalidLinkSpecError } from '../src/link.js';
import { NetlinkDecodeError } from '../src/netlink/errors.js';
import { RTM_GETLINK, RTM_NEWLINK, RTM_NEWROUTE } from '../src/netlink/generated/index.js';
import { RouteApi, RouteSpecError } from '../src/route.js';
import { RequestRecorder, throwsA } from '../src/public/testing.js';

test('route.get: an acknowledgement without a route is an internal error, not bad input', () => {
  const recorder = new RequestRecorder(); // acknowledges RTM_GETROUTE with no RTM_NEWROUTE
  const e = throwsA(() => new RouteApi(recorder).get('10.0.0.1'), NetlinkDecodeError, /without a route/);
  assert.is(e.kind, 'internal');
});

test('route.add: a device by name costs one RTM_GETLINK, whose header ifindex is used; the spec is checked once', () => {
  const recorder = new RequestRecorder().on(RTM_GETLINK, [{ type: RTM_NEWLINK, header: { ifi_index: 7 } }]);
  const route = new RouteApi(recorder);
  route.add({ dst: 'fd00:1::/64', gateway: 'FD00::1', dev: 'veth0' });
  assert.is(recorder.sentOf(RTM_GETLINK).length, 1);
  const [sent] = recorder.sentOf(RTM_NEWROUTE);
  assert.equal([sent!.attrs.RTA_DST, sent!.attrs.RTA_GATEWAY, sent!.attrs.RTA_OIF], ['fd00:1::', 'fd00::1', 7]);
  throwsA(() => route.add({ dst: 'fd00:1::1/64', dev: 'veth0' }), RouteSpecError, /host bits set \(the network is fd00:1::\/64\)/);
  throwsA(() => route.add({ dst: 'default', gateway: '10.0.0.1', family: 6 }), RouteSpecError, /family/);
  throwsA(() => route.add({ dst: '10.0.0.0/8', dev: 'a b' }), InvalidLinkSpecError, /dev/);
  throwsA(() => route.add({ dst: '10.0.0.0/8', dev: 0 }), InvalidLinkSpecError, /dev/);
});

test.run();
