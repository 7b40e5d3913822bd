// RequestRecorder (`@netboot/core/testing`): the typed APIs run against it as against a socket; it
// records what they send, as the kernel would receive it, and answers with canned replies or errors.
import { constants } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AddrApi } from '../src/addr.js';
import { LinkApi, LinkNotFoundError } from '../src/link.js';
import { NetlinkEncodeError, NetlinkError } from '../src/netlink/errors.js';
import * as C from '../src/netlink/generated/index.js';
import { RouteApi } from '../src/route.js';
import { RequestRecorder, throwsA } from '../src/public/testing.js';

const { ENODEV, EEXIST } = constants.errno;

test('records each request with the flags the socket adds, as bytes and decoded', () => {
  const rec = new RequestRecorder();
  new LinkApi(rec).add({ kind: 'bridge', name: 'br0' });
  assert.is(rec.sent.length, 1);
  const [m] = rec.sent;
  assert.is(m!.type, C.RTM_NEWLINK);
  assert.is(m!.flags, C.NLM_F_REQUEST | C.NLM_F_ACK | C.NLM_F_CREATE | C.NLM_F_EXCL);
  assert.is(m!.attrs.IFLA_IFNAME, 'br0');
  assert.equal(m!.attrs.IFLA_LINKINFO, { IFLA_INFO_KIND: 'bridge' });
  assert.is(rec.wire[0]!.readUInt32LE(0), rec.wire[0]!.length, 'nlmsg_len covers the whole message');
});

test('canned replies answer by message type; the latest rule wins', () => {
  const rec = new RequestRecorder()
    .on(C.RTM_GETLINK, [{ type: C.RTM_NEWLINK, header: { ifi_index: 7 }, attrs: { IFLA_IFNAME: 'old' } }])
    .on(C.RTM_GETLINK, (req) => [{ type: C.RTM_NEWLINK, header: { ifi_index: 3 }, attrs: { IFLA_IFNAME: req.attrs.IFLA_IFNAME! } }]);
  new AddrApi(rec).add('vA', '10.0.0.1/24');
  assert.equal(
    rec.sent.map((m) => m.type),
    [C.RTM_GETLINK, C.RTM_NEWADDR],
  );
  assert.is(rec.sentOf(C.RTM_NEWADDR)[0]!.header.ifa_index, 3, 'the lookup answer was used');
});

test('dumps get their flags and their canned replies', () => {
  const rec = new RequestRecorder().on(C.RTM_GETROUTE, [
    {
      type: C.RTM_NEWROUTE,
      header: { rtm_family: C.AF_INET, rtm_dst_len: 16, rtm_table: 100, rtm_protocol: 200, rtm_scope: 0, rtm_type: C.RTN_UNICAST },
      attrs: { RTA_TABLE: 100, RTA_DST: '10.10.0.0', RTA_GATEWAY: '10.0.0.2', RTA_OIF: 3 },
    },
  ]);
  const routes = new RouteApi(rec).list({ table: 100 });
  assert.is(rec.sent[0]!.flags & C.NLM_F_DUMP, C.NLM_F_DUMP);
  assert.is(routes.length, 1);
  assert.is(routes[0]!.dst, '10.10.0.0/16');
});

test('refusals: thrown from request(), returned in place from batch()', () => {
  const rec = new RequestRecorder().refuse(C.RTM_GETLINK, ENODEV);
  const missing = throwsA(() => new LinkApi(rec).get('nope0'), LinkNotFoundError);
  assert.is(missing.code, 'ENODEV');
  assert.is(missing.op, 'RTM_GETLINK');
  const route = (dst: string) => ({ dst, dev: 3 });
  const rec2 = new RequestRecorder().refuse((m) => m.attrs.RTA_DST === '10.2.0.0', EEXIST, 'route exists');
  const results = new RouteApi(rec2).addMany([route('10.1.0.0/16'), route('10.2.0.0/16'), route('10.3.0.0/16')]);
  assert.is(results[0], undefined);
  assert.ok(results[1] instanceof NetlinkError && results[1].kind === 'exists');
  assert.match(results[1]!.message, 'route exists');
  assert.is(results[2], undefined);
  assert.is(rec2.sent.length, 3);
  assert.is(rec2.sent[0]!.flags & C.NLM_F_ACK, 0, 'batched requests go without NLM_F_ACK, like the socket sends them');
});

test('a request the codec cannot encode fails before anything is recorded, in a batch too', () => {
  const rec = new RequestRecorder();
  throwsA(() => rec.request({ type: C.RTM_NEWLINK, header: {}, attrs: { IFLA_NOPE: 1 } }), NetlinkEncodeError);
  throwsA(
    () =>
      rec.batch([
        { type: C.RTM_NEWLINK, header: {}, attrs: {} },
        { type: C.RTM_NEWLINK, header: { ifi_nope: 1 }, attrs: {} },
      ]),
    NetlinkEncodeError,
  );
  assert.equal(rec.sent, []);
});

test.run();
