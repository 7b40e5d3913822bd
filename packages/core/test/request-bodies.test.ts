// The batch calls' self-writing bodies (request-bodies.ts) against the schema-driven encoding the
// single calls use: for every spec, the same bytes after the netlink header's flags (the batch does
// not ask for an ACK); for specs outside the fast shapes, the same bytes or the same error anyway.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as C from '../src/netlink/generated/index.js';
import { NeighApi, type NeighSpec } from '../src/neigh.js';
import { NexthopApi, type NexthopObjectSpec } from '../src/nexthop.js';
import { RouteApi, type RouteSpec } from '../src/route.js';
import { encodeMessage, MessageWriter } from '../src/netlink/codec.js';
import { NetlinkEncodeError } from '../src/netlink/errors.js';
import { neighRequest, nexthopRequest, routeRequest } from '../src/request-bodies.js';
import { RequestRecorder } from '../src/testing/recorder.js';

// eth0 is ifindex 7: a device by name resolves through an RTM_GETLINK the recorder answers.
const recorder = (): RequestRecorder =>
  new RequestRecorder().on(
    (m) => m.type === C.RTM_GETLINK,
    () => [
      {
        type: C.RTM_NEWLINK,
        flags: 0,
        seq: 0,
        pid: 0,
        header: { ifi_family: 0, ifi_type: 1, ifi_index: 7, ifi_flags: 0, ifi_change: 0 },
        attrs: { IFLA_IFNAME: 'eth0' },
      },
    ],
  );

/** Each request's bytes with the flags word zeroed, RTM_GETLINK lookups left out. */
function wire(rec: RequestRecorder): string[] {
  return rec.wire
    .filter((b) => b.readUInt16LE(4) !== C.RTM_GETLINK)
    .map((b) => {
      const copy = Buffer.from(b);
      copy.writeUInt16LE(0, 6);
      return copy.toString('hex');
    });
}

function sameAsSingle<T>(specs: T[], single: (rec: RequestRecorder, spec: T) => void, many: (rec: RequestRecorder, specs: T[]) => void): void {
  const one = recorder();
  for (const s of specs) single(one, s);
  const batched = recorder();
  many(batched, specs);
  assert.equal(wire(batched), wire(one));
}

const routes: RouteSpec[] = [
  { dst: '10.244.2.0/24', gateway: '192.168.1.12', dev: 7, table: 254, protocol: 78 },
  { dst: '10.244.3.0/24', gateway: '10.244.3.0', dev: 7, onlink: true, protocol: 78 },
  { dst: '10.244.4.0/24', nhid: 0x4e000001, table: 1000, protocol: 78 },
  { dst: '10.244.5.0/24', nhid: 7, gateway: '192.168.1.15', dev: 7, onlink: true },
  { dst: '10.244.6.128/25', dev: 'eth0' },
  { dst: '192.168.9.9/32', gateway: '192.168.1.1', onlink: false, table: 255 },
];

test('route addMany/replaceMany: the fast bodies write what encodeRoute does', () => {
  for (const s of routes) assert.ok(routeRequest(s, 0, () => 7) !== undefined, `${s.dst} takes the fast path`);
  sameAsSingle(
    routes,
    (rec, s) => new RouteApi(rec).replace(s),
    (rec, s) => new RouteApi(rec).replaceMany(s),
  );
  sameAsSingle(
    routes,
    (rec, s) => new RouteApi(rec).add(s),
    (rec, s) => new RouteApi(rec).addMany(s),
  );
});

test('route batches outside the fast shape: the schema path, its bytes and its errors', () => {
  const others: RouteSpec[] = [
    { dst: 'fd00:244:2::/64', gateway: 'fd00:1::12', dev: 7 },
    { dst: '10.244.2.0/24', gateway: '192.168.1.12', metric: 100 },
    { dst: '0.0.0.0/0', gateway: '192.168.1.1' },
    { dst: '10.244.2.0/24', gateway: '192.168.1.12', type: 'unicast', scope: 'universe' },
  ];
  for (const s of others)
    assert.is(
      routeRequest(s, 0, () => 7),
      undefined,
      s.dst,
    );
  sameAsSingle(
    others,
    (rec, s) => new RouteApi(rec).replace(s),
    (rec, s) => new RouteApi(rec).replaceMany(s),
  );
  for (const bad of [
    { dst: '10.244.2.1/24' },
    { dst: '10.244.2.0/24', table: 0 },
    { dst: '10.244.2.0/24', protocol: 256 },
    { dst: '10.244.2.0/24', gateway: 'fd00::1' },
  ]) {
    const single = (() => {
      try {
        new RouteApi(recorder()).replace(bad);
      } catch (e) {
        return String(e);
      }
    })();
    assert.throws(
      () => new RouteApi(recorder()).replaceMany([routes[0]!, bad]),
      (e: Error) => String(e) === single,
    );
  }
});

test('parsed forms (dstParsed, gatewayParsed): the batch writes them instead of parsing, only while their text is the field', () => {
  const dst = { text: '10.244.2.0/24', value: 0x0af40200, prefixLen: 24 };
  const gw = { text: '192.168.1.12', value: 0xc0a8010c };
  const withParsed: RouteSpec[] = [
    { dst: dst.text, gateway: gw.text, dev: 7, table: 254, protocol: 78, dstParsed: dst, gatewayParsed: gw },
    { dst: dst.text, nhid: 0x4e000001, protocol: 78, dstParsed: dst },
    // A copy given another dst and gateway: their old parsed forms are not theirs, so not used.
    { dst: '10.244.3.0/24', gateway: '192.168.1.13', dev: 7, protocol: 78, dstParsed: dst, gatewayParsed: gw },
  ];
  sameAsSingle(
    withParsed,
    (rec, s) => new RouteApi(rec).replace(s),
    (rec, s) => new RouteApi(rec).replaceMany(s),
  );
  sameAsSingle(
    [
      { id: 0x4e000001, gateway: gw.text, dev: 7, protocol: 78, gatewayParsed: gw },
      { id: 2, gateway: '192.168.1.13', dev: 7, gatewayParsed: gw },
    ],
    (rec, n) => new NexthopApi(rec).replace(n),
    (rec, n) => new NexthopApi(rec).replaceMany(n),
  );
  // Used, not parsed again: a parsed form with the field's text is written as it is (the caller's word).
  const told = recorder();
  new RouteApi(told).replaceMany([{ dst: dst.text, nhid: 1, dstParsed: { ...dst, value: 0x0af40300 } }]);
  const written = recorder();
  new RouteApi(written).replace({ dst: '10.244.3.0/24', nhid: 1 });
  assert.equal(wire(told), wire(written));
  const toldNh = recorder();
  new NexthopApi(toldNh).replaceMany([{ id: 1, gateway: gw.text, dev: 7, gatewayParsed: { text: gw.text, value: 0xc0a8010d } }]);
  const writtenNh = recorder();
  new NexthopApi(writtenNh).replace({ id: 1, gateway: '192.168.1.13', dev: 7 });
  assert.equal(wire(toldNh), wire(writtenNh));
});

test('nexthop replaceMany: the fast bodies write what the single call does', () => {
  const nexthops: NexthopObjectSpec[] = [
    { id: 0x4e000001, gateway: '192.168.1.12', dev: 7, protocol: 78 },
    { id: 1, gateway: '10.244.3.0', dev: 'eth0', onlink: true },
  ];
  for (const n of nexthops) assert.ok(nexthopRequest(n, 0, () => 7) !== undefined);
  const others: NexthopObjectSpec[] = [
    { id: 2, gateway: 'fd00:1::12', dev: 7 },
    { id: 3, dev: 7 },
    { id: 4, gateway: '192.168.1.4', dev: 7, family: 4 },
  ];
  for (const n of others)
    assert.is(
      nexthopRequest(n, 0, () => 7),
      undefined,
    );
  sameAsSingle(
    [...nexthops, ...others],
    (rec, n) => new NexthopApi(rec).replace(n),
    (rec, n) => new NexthopApi(rec).replaceMany(n),
  );
  assert.throws(() => new NexthopApi(recorder()).replaceMany([{ id: 0, gateway: '192.168.1.12', dev: 7 }]), /id/);
});

test('neigh setMany: the fast bodies write what set does', () => {
  const entries: NeighSpec[] = [
    { dev: 5, dst: '10.244.2.0', lladdr: '02:00:00:00:00:02', state: 'permanent' },
    { dev: 5, dst: '10.244.3.0', lladdr: '0A:B:c:00:00:03' },
    { family: 'bridge', dev: 5, lladdr: '02:00:00:00:00:02', dst: '192.168.1.12', state: 'permanent' },
    { family: 'bridge', dev: 5, lladdr: '02:00:00:00:00:03', dst: '192.168.1.13', self: true },
    { family: 'bridge', dev: 5, lladdr: '02:00:00:00:00:04', self: false },
  ];
  for (const n of entries) assert.ok(neighRequest(n, 0) !== undefined, JSON.stringify(n));
  const others: NeighSpec[] = [
    { dev: 5, dst: 'fd00::2', lladdr: '02:00:00:00:00:02' },
    { dev: 'eth0', dst: '10.244.2.0', lladdr: '02:00:00:00:00:02' },
    { family: 'bridge', dev: 5, lladdr: '02:00:00:00:00:02', dst: '192.168.1.12', state: 'reachable' },
    { family: 'bridge', dev: 5, lladdr: '02:00:00:00:00:02', dst: '192.168.1.12', vni: 7 },
    { dev: 5, dst: '10.244.2.0', lladdr: '02:00:00:00:00:02', router: true },
  ];
  for (const n of others) assert.is(neighRequest(n, 0), undefined, JSON.stringify(n));
  sameAsSingle(
    [...entries, ...others],
    (rec, n) => new NeighApi(rec).set(n),
    (rec, n) => new NeighApi(rec).setMany(n),
  );
  assert.throws(() => new NeighApi(recorder()).setMany([{ dev: 5, dst: '10.244.2.0', lladdr: 'zz' }]), /MAC/);
});

test("bodies appended past the writer's buffer: each message as encodeMessage writes it alone", () => {
  // A writer of 32 bytes grows several times under 200 bodies; each body writes through the word
  // view of the buffer it is given, which must follow the buffer as it grows.
  const w = new MessageWriter(32);
  const reqs = Array.from({ length: 200 }, (_, i) => {
    const spec: RouteSpec =
      i % 2 === 0 ? { dst: `10.${i >> 8}.${i & 255}.0/24`, nhid: 0x4e000000 + i, protocol: 78 } : { dst: `10.9.${i}.0/24`, gateway: '192.168.1.12', dev: 7 };
    return routeRequest(spec, C.NLM_F_CREATE, () => 7)!;
  });
  const starts = reqs.map((r, i) => w.appendBody(r.body!, r.type, C.NLM_F_REQUEST | r.flags!, 1000 + i, 0));
  starts.push(w.length);
  reqs.forEach((r, i) => {
    const alone = encodeMessage({ ...r, flags: C.NLM_F_REQUEST | r.flags!, seq: 1000 + i, pid: 0 });
    assert.is(w.bytes(starts[i], starts[i + 1]).toString('hex'), alone.toString('hex'), `request ${i}`);
  });
});

test('appendBody refuses a header field out of range, as append does', () => {
  const body = routeRequest({ dst: '10.1.0.0/24', nhid: 9 }, 0, () => 7)!.body!;
  const w = new MessageWriter(64);
  assert.throws(
    () => w.appendBody(body, C.RTM_NEWROUTE, 0x10000, 1, 0),
    (e: unknown) => e instanceof NetlinkEncodeError && /flags/.test((e as Error).message),
  );
  assert.throws(
    () => w.appendBody(body, C.RTM_NEWROUTE, 1, -1, 0),
    (e: unknown) => e instanceof NetlinkEncodeError && /seq/.test((e as Error).message),
  );
  assert.is(w.length, 0);
});

test.run();
