// NeighApi without a kernel: what is sent and how a reply is read, through the RequestRecorder (the
// kernel side, checked with `ip -j neigh` and `bridge -j fdb`, is in neigh.priv.test.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeNeigh, NeighApi } from '../src/neigh.js';
import { AF_BRIDGE, NTF_MASTER, NTF_SELF, NUD_NOARP, NUD_PERMANENT, NUD_REACHABLE, RTM_DELNEIGH, RTM_NEWNEIGH } from '../src/netlink/generated/index.js';
import { RequestRecorder } from '../src/public/testing.js';

test('an FDB entry without a state is sent as `bridge fdb` sends it: noarp + permanent, self', () => {
  const kernel = new RequestRecorder();
  const neigh = new NeighApi(kernel);
  // What test/golden/fdb/append-vxlan.hex holds: `bridge fdb append … dev vx0 dst 10.0.0.2` (+ permanent).
  neigh.append({ family: 'bridge', dev: 2, lladdr: '00:11:22:33:44:55', dst: '10.0.0.2' });
  neigh.set({ family: 'bridge', dev: 2, lladdr: '00:11:22:33:44:55', dst: '10.0.0.2', state: ['noarp', 'reachable'] });
  neigh.set({ dev: 2, dst: '10.0.0.9', lladdr: '02:00:00:00:00:09' });
  assert.equal(
    kernel.sentOf(RTM_NEWNEIGH).map((m) => [m.header.ndm_state, m.header.ndm_flags]),
    [
      [NUD_NOARP | NUD_PERMANENT, NTF_SELF],
      [NUD_NOARP | NUD_REACHABLE, NTF_SELF], // `bridge fdb … static`
      [NUD_PERMANENT, 0], // `ip neigh replace` default
    ],
  );
});

test("an FDB entry of a bridge's own table (NDA_MASTER, no flags) reads back as master and deletes as one", () => {
  const entry = decodeNeigh({
    type: RTM_NEWNEIGH,
    flags: 0,
    seq: 0,
    pid: 0,
    header: { ndm_family: AF_BRIDGE, ndm_ifindex: 3, ndm_state: NUD_NOARP, ndm_flags: 0 },
    attrs: { NDA_LLADDR: '0a:00:00:00:00:51', NDA_MASTER: 4 },
  });
  assert.equal(entry, { family: 'bridge', dev: 3, state: ['noarp'], lladdr: '0a:00:00:00:00:51', master: true, bridge: 4 });
  const kernel = new RequestRecorder();
  new NeighApi(kernel).del(entry);
  assert.is(kernel.sentOf(RTM_DELNEIGH)[0]?.header.ndm_flags, NTF_MASTER);
});

test.run();
