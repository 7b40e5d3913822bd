// NeighApi against the real kernel: ARP/NDP entries checked with `ip -j neigh`, VXLAN FDB entries
// checked with `bridge -j fdb`. Each test runs in its own namespace. What is sent and how a reply is
// read, without a kernel, is in neigh.test.ts.
import { test as uvuTest } from 'uvu';
import * as assert from 'uvu/assert';
import { ipJson, privileged, sh, throwsA, withNetns, withRtnl, type TempNetns } from '../src/public/testing.js';
import type { Rtnl } from '../src/rtnl.js';
import { NeighSpecError } from '../src/neigh.js';
import { InvalidLinkSpecError } from '../src/link.js';
import { NetlinkError } from '../src/netlink/errors.js';
import { InvalidAddressError } from '../src/base/ip.js';

const test = privileged(uvuTest);
const ZERO_MAC = '00:00:00:00:00:00';

/** A namespace with veth0 (10.1.0.1/24) up, a VXLAN vx0 (VNI 42, learning off) and an Rtnl in it. */
async function withNeighNs(fn: (ns: TempNetns, rtnl: Rtnl) => void | Promise<void>): Promise<void> {
  await withNetns(1, async (ns) => {
    sh(ns, 'ip', 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth1');
    sh(ns, 'ip', 'link', 'set', 'veth0', 'up');
    sh(ns, 'ip', 'addr', 'add', '10.1.0.1/24', 'dev', 'veth0');
    sh(ns, 'ip', 'link', 'add', 'vx0', 'type', 'vxlan', 'id', '42', 'dstport', '4789', 'local', '10.1.0.1', 'nolearning');
    await withRtnl(ns, (rtnl) => fn(ns, rtnl));
  });
}

function fdb(ns: TempNetns): any[] {
  return JSON.parse(sh(ns, 'bridge', '-j', 'fdb', 'show', 'dev', 'vx0') || '[]');
}

test('set a permanent neighbour, then del it', () =>
  withNeighNs((ns, rtnl) => {
    rtnl.neigh.set({ dev: 'veth0', dst: '10.1.0.9', lladdr: '02:00:00:00:00:09' });
    assert.equal(ipJson(ns, 'neigh', 'show', 'dev', 'veth0'), [{ dst: '10.1.0.9', lladdr: '02:00:00:00:00:09', state: ['PERMANENT'] }]);
    const [n] = rtnl.neigh.list({ dev: 'veth0' });
    assert.equal(
      { dst: n!.dst, lladdr: n!.lladdr, state: n!.state, family: n!.family },
      { dst: '10.1.0.9', lladdr: '02:00:00:00:00:09', state: ['permanent'], family: 4 },
    );

    // set is `ip neigh replace`: a second set rewrites the MAC instead of failing
    rtnl.neigh.set({ dev: 'veth0', dst: '10.1.0.9', lladdr: '02:00:00:00:00:0a' });
    assert.is(ipJson(ns, 'neigh', 'show', 'dev', 'veth0')[0].lladdr, '02:00:00:00:00:0a');

    rtnl.neigh.del(n!);
    assert.equal(ipJson(ns, 'neigh', 'show', 'dev', 'veth0'), []);
  }));

test('add refuses an existing entry (EEXIST); IPv6 neighbours; list filters by family and state', () =>
  withNeighNs((ns, rtnl) => {
    rtnl.neigh.add({ dev: 'veth0', dst: '10.1.0.7', lladdr: '02:00:00:00:00:07' });
    const exists = throwsA(() => rtnl.neigh.add({ dev: 'veth0', dst: '10.1.0.7', lladdr: '02:00:00:00:00:08' }), NetlinkError, undefined, 'second add');
    assert.is(exists.code, 'EEXIST');
    rtnl.neigh.add({ dev: 'veth0', dst: 'fd00:1::7', lladdr: '02:00:00:00:00:17', state: 'noarp' });
    rtnl.neigh.add({ dev: 'veth0', dst: '10.1.0.8', lladdr: '02:00:00:00:00:18', state: 'stale' });
    // `ip neigh show` hides NOARP entries unless asked for `nud all`
    const v6 = ipJson(ns, '-6', 'neigh', 'show', 'dev', 'veth0', 'nud', 'all').filter((n: any) => n.dst.startsWith('fd00:'));
    assert.equal(v6, [{ dst: 'fd00:1::7', lladdr: '02:00:00:00:00:17', state: ['NOARP'] }]);

    // (the kernel may add its own ff02:: multicast entries, so only ours are compared)
    const dsts = (f: Parameters<typeof rtnl.neigh.list>[0]): string[] =>
      rtnl.neigh
        .list(f)
        .map((n) => n.dst!)
        .filter((d) => !d.startsWith('ff02:'))
        .sort();
    assert.equal(dsts({ dev: 'veth0', family: 6 }), ['fd00:1::7']);
    assert.equal(dsts({ dev: 'veth0', family: 4 }), ['10.1.0.7', '10.1.0.8']);
    assert.equal(dsts({ dev: 'veth0', state: 'permanent' }), ['10.1.0.7']);
    assert.equal(dsts({ dev: 'veth0', state: ['stale', 'noarp'] }), ['10.1.0.8', 'fd00:1::7']);
    assert.equal(dsts({ dev: 'vx0' }), [], 'the kernel filters by device');
  }));

test('FDB entries on a VXLAN device: append several remotes for the all-zeros MAC, replace, del', () =>
  withNeighNs((ns, rtnl) => {
    rtnl.neigh.append({ family: 'bridge', dev: 'vx0', lladdr: ZERO_MAC, dst: '10.1.0.2', state: 'permanent' });
    rtnl.neigh.append({ family: 'bridge', dev: 'vx0', lladdr: ZERO_MAC, dst: '10.1.0.3', state: 'permanent' });
    rtnl.neigh.set({ family: 'bridge', dev: 'vx0', lladdr: '0a:00:00:00:00:02', dst: '10.1.0.2', state: 'permanent' });

    const entries = fdb(ns);
    assert.equal(entries.map((e) => [e.mac, e.dst, e.flags, e.state]).sort(), [
      ['00:00:00:00:00:00', '10.1.0.2', ['self'], 'permanent'],
      ['00:00:00:00:00:00', '10.1.0.3', ['self'], 'permanent'],
      ['0a:00:00:00:00:02', '10.1.0.2', ['self'], 'permanent'],
    ]);

    const listed = rtnl.neigh.list({ family: 'bridge', dev: 'vx0' });
    assert.equal(listed.map((n) => [n.lladdr, n.dst, n.self, n.family]).sort(), [
      [ZERO_MAC, '10.1.0.2', true, 'bridge'],
      [ZERO_MAC, '10.1.0.3', true, 'bridge'],
      ['0a:00:00:00:00:02', '10.1.0.2', true, 'bridge'],
    ]);

    // replace moves the MAC to another VTEP
    rtnl.neigh.set({ family: 'bridge', dev: 'vx0', lladdr: '0a:00:00:00:00:02', dst: '10.1.0.4', state: 'permanent' });
    assert.equal(
      fdb(ns)
        .filter((e) => e.mac === '0a:00:00:00:00:02')
        .map((e) => e.dst),
      ['10.1.0.4'],
    );

    // del with a dst removes only that remote of the all-zeros entry
    rtnl.neigh.del({ family: 'bridge', dev: 'vx0', lladdr: ZERO_MAC, dst: '10.1.0.3' });
    assert.equal(
      fdb(ns)
        .filter((e) => e.mac === ZERO_MAC)
        .map((e) => e.dst),
      ['10.1.0.2'],
    );
    const missing = throwsA(
      () => rtnl.neigh.del({ family: 'bridge', dev: 'vx0', lladdr: '0a:00:00:00:00:99' }),
      NetlinkError,
      undefined,
      'deleting a missing FDB entry',
    );
    assert.is(missing.code, 'ENOENT');
  }));

test("FDB default state is `bridge fdb`'s (noarp + permanent), accepted by a VXLAN device", () =>
  withNeighNs((ns, rtnl) => {
    rtnl.neigh.append({ family: 'bridge', dev: 'vx0', lladdr: ZERO_MAC, dst: '10.1.0.2' });
    rtnl.neigh.set({ family: 'bridge', dev: 'vx0', lladdr: '0a:00:00:00:00:05', dst: '10.1.0.5' });
    rtnl.neigh.add({ family: 'bridge', dev: 'vx0', lladdr: '0a:00:00:00:00:06', dst: '10.1.0.6', state: ['noarp', 'reachable'] });
    assert.equal(
      fdb(ns)
        .map((e) => [e.mac, e.dst, e.flags, e.state])
        .sort(),
      [
        [ZERO_MAC, '10.1.0.2', ['self'], 'permanent'],
        ['0a:00:00:00:00:05', '10.1.0.5', ['self'], 'permanent'],
        // `bridge fdb … static`
        ['0a:00:00:00:00:06', '10.1.0.6', ['self'], 'static'],
      ],
    );
    assert.equal(rtnl.neigh.list({ family: 'bridge', dev: 'vx0' }).find((n) => n.lladdr === '0a:00:00:00:00:05')?.state, ['noarp', 'permanent']);
  }));

test('a state the kernel refuses for an FDB entry: the error names the state', () =>
  withNeighNs((ns, rtnl) => {
    const refused = throwsA(
      () => rtnl.neigh.add({ family: 'bridge', dev: 'vx0', lladdr: '0a:00:00:00:00:07', dst: '10.1.0.7', state: 'noarp' }),
      NetlinkError,
      /state noarp/,
      'a VXLAN FDB entry in state noarp alone',
    );
    assert.is(refused.code, 'EINVAL');
    assert.match(refused.message, /permanent/);
    assert.equal(fdb(ns), []);
  }));

test('FDB entries read back from a bridge are valid specs: list, then del each one', () =>
  withNetns(1, (ns) => {
    // A port whose peer stays down: no traffic, so nothing is learnt while the test runs.
    sh(ns, 'ip', 'link', 'add', 'br0', 'type', 'bridge');
    sh(ns, 'ip', 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'p1');
    sh(ns, 'ip', 'link', 'set', 'p0', 'master', 'br0');
    sh(ns, 'bridge', 'fdb', 'add', '0a:00:00:00:00:51', 'dev', 'p0', 'master', 'static');
    sh(ns, 'bridge', 'fdb', 'add', '0a:00:00:00:00:52', 'dev', 'p0', 'master');
    const show = (): any[] => JSON.parse(sh(ns, 'bridge', '-j', 'fdb', 'show', 'dev', 'p0') || '[]');
    assert.ok(show().some((e) => e.mac === '0a:00:00:00:00:51' && e.master === 'br0' && e.state === 'static'));
    withRtnl(ns, (rtnl) => {
      const listed = rtnl.neigh.list({ family: 'bridge', dev: 'p0' });
      const ours = listed.filter((n) => n.lladdr?.startsWith('0a:00:00:00:00:5'));
      assert.equal(ours.map((n) => [n.lladdr, n.master, n.self, n.state]).sort(), [
        ['0a:00:00:00:00:51', true, undefined, ['noarp']],
        ['0a:00:00:00:00:52', true, undefined, ['permanent']],
      ]);
      for (const n of listed) rtnl.neigh.del(n);
    });
    assert.equal(show(), []);
  }));

test('FDB entries in a bridge (master) and bad input', () =>
  withNeighNs((ns, rtnl) => {
    sh(ns, 'ip', 'link', 'add', 'br0', 'type', 'bridge');
    sh(ns, 'ip', 'link', 'set', 'veth1', 'master', 'br0');
    rtnl.neigh.add({ family: 'bridge', dev: 'veth1', lladdr: '0a:00:00:00:00:31', master: true, state: 'permanent' });
    const entry = JSON.parse(sh(ns, 'bridge', '-j', 'fdb', 'show', 'dev', 'veth1')).find((e: any) => e.mac === '0a:00:00:00:00:31');
    assert.ok(entry, 'entry is in the bridge FDB');
    assert.is(entry.master, 'br0');
    assert.is(entry.state, 'permanent');

    throwsA(() => rtnl.neigh.set({ dev: 'veth0', lladdr: '02:00:00:00:00:01' }), NeighSpecError);
    throwsA(() => rtnl.neigh.set({ family: 'bridge', dev: 'vx0' }), NeighSpecError);
    throwsA(() => rtnl.neigh.set({ dev: 'veth0', dst: '10.1.0.9', lladdr: 'zz' }), InvalidAddressError);
    throwsA(() => rtnl.neigh.set({ dev: 'veth0', dst: '10.1.0.9', state: 'bogus' as never }), NeighSpecError);
    throwsA(() => rtnl.neigh.set({ family: 6, dev: 'veth0', dst: '10.1.0.9' }), NeighSpecError);
    // ifindex 0 is no device: the kernel would act on whatever it makes of that, so it is refused here.
    for (const dev of [0, -1, 1.5]) {
      throwsA(() => rtnl.neigh.set({ dev, dst: '10.1.0.9', lladdr: '02:00:00:00:00:01' }), InvalidLinkSpecError);
      throwsA(() => rtnl.neigh.list({ dev }), InvalidLinkSpecError);
    }
    throwsA(() => rtnl.neigh.set({ dev: 'veth0', dst: '10.1.0.9', lladdr: '02:00:00:00:00:01', router: 'yes' as never }), NeighSpecError);
    assert.equal(ipJson(ns, 'neigh', 'show', 'dev', 'veth0'), [], 'nothing was added');
  }));

test.run();
