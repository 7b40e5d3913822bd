// NeighApi.setMany/delMany against the RequestRecorder: one pipelined batch, the same messages the
// single calls send, one result per entry (a refusal is that entry's error, with the state explained).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as C from '../src/netlink/generated/index.js';
import { NeighApi } from '../src/neigh.js';
import { NetlinkError } from '../src/netlink/errors.js';
import { RequestRecorder } from '../src/testing/recorder.js';

const entries = [
  { dev: 5, dst: '10.244.2.0', lladdr: '02:00:00:00:00:02' },
  { family: 'bridge' as const, dev: 5, lladdr: '02:00:00:00:00:02', dst: '192.168.1.12', state: 'noarp' as const },
];

test('setMany sends what set sends, in one batch, one result per entry', () => {
  const single = new RequestRecorder();
  for (const n of entries) new NeighApi(single).set(n);
  const batched = new RequestRecorder().refuse((m) => m.header.ndm_family === C.AF_BRIDGE, 22);
  const results = new NeighApi(batched).setMany(entries);
  const strip = (m: { flags: number }) => ({ ...m, flags: m.flags & ~C.NLM_F_ACK });
  assert.equal(batched.sent.map(strip), single.sent.map(strip));
  assert.is(results[0], undefined);
  assert.instance(results[1], NetlinkError);
  assert.match(String(results[1]), /EINVAL.*probably the FDB entry's state noarp/);
});

test('delMany sends RTM_DELNEIGH for each entry', () => {
  const rec = new RequestRecorder();
  assert.equal(new NeighApi(rec).delMany(entries), [undefined, undefined]);
  assert.equal(
    rec.sent.map((m) => [m.type, m.flags & (C.NLM_F_CREATE | C.NLM_F_REPLACE)]),
    [
      [C.RTM_DELNEIGH, 0],
      [C.RTM_DELNEIGH, 0],
    ],
  );
});

test.run();
