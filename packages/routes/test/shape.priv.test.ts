// 'auto' chooses the route shape by cluster size (nexthops.ts): plain `via` routes below nexthopPeers,
// routes through nexthop objects from it on, plain again below half of it. Against the real kernel in
// an nbt- namespace, a running Network whose cluster crosses the threshold up and down (upsertPeer,
// removePeer): after each step `ip -j route` shows every peer's route in the expected shape and
// nothing stale, and `ip monitor` shows that a switch never deleted a route that stays (replace swaps
// it in place) and deleted the unused nexthops only after the routes had moved off them; no owned
// nexthop is left once the routes are plain again.
import { spawn } from 'node:child_process';
import { test as uvuTest } from 'uvu';
import * as assert from 'uvu/assert';
import { Rtnl } from '@netboot/core';
import { ipJson, privileged, tempNetns, type TempNetns } from '@netboot/core/testing';
import { discoverNode, hostGw, NETBOOT_PROTOCOL, Network, Reconciler, vxlan, type LocalNode, type Mode, type Peer, type Report } from '../src/index.js';

const test = privileged(uvuTest);

const self: Peer = { name: 'self', nodeIPs: ['172.16.0.1'], podCIDRs: ['10.0.0.0/24'] };
const peer = (i: number): Peer => ({ name: `n${i}`, nodeIPs: [`172.16.0.${i}`], podCIDRs: [`10.0.${i}.0/24`] });

function withNode(fn: (ns: TempNetns, rtnl: Rtnl, node: LocalNode) => Promise<void>): Promise<void> {
  const ns = tempNetns('nbt-shape');
  const rtnl = Rtnl.open({ netns: ns });
  rtnl.link.set('lo', { up: true });
  rtnl.link.add({ kind: 'veth', name: 'veth0', up: true, peer: { name: 'veth1', up: true } });
  rtnl.addr.add('veth0', '172.16.0.1/16');
  return fn(ns, rtnl, discoverNode(rtnl, self)).finally(() => {
    rtnl.close();
    ns.delete();
  });
}

/** netboot's routes as `ip -j route` shows them: dst → 'via' or 'nhid'. */
function shapes(ns: TempNetns): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of ipJson(ns, 'route', 'show', 'proto', String(NETBOOT_PROTOCOL))) out[r.dst] = r.nhid === undefined ? 'via' : 'nhid';
  return out;
}

/** netboot's nexthop objects (`ip -j nexthop show`, protocol 78): their ids. */
function ownedNexthops(ns: TempNetns): number[] {
  return ipJson(ns, 'nexthop', 'show')
    .filter((n: { protocol: string }) => n.protocol === String(NETBOOT_PROTOCOL))
    .map((n: { id: number }) => n.id);
}

/** `ip monitor route nexthop` in the namespace while `fn` runs: its lines. */
async function monitored(ns: TempNetns, fn: () => Promise<unknown>): Promise<string[]> {
  const child = spawn('ip', ['-n', ns.name, 'monitor', 'route', 'nexthop'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => void (out += b.toString()));
  await sleep(300); // listening before the change
  try {
    await fn();
    await sleep(300); // the events read
  } finally {
    child.kill();
  }
  return out.split('\n').filter((l) => l !== '');
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 10 ms; fails after `ms`. */
async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) assert.unreachable(`${what}: not within ${ms} ms`);
    await sleep(10);
  }
}

const expect = (ids: number[], shape: string): Record<string, string> => Object.fromEntries(ids.map((i) => [`10.0.${i}.0/24`, shape]));
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

for (const [name, mode] of [
  ['host-gw', hostGw()],
  ['vxlan', vxlan()],
] as [string, Mode][]) {
  test(`${name}: a Network crossing nexthopPeers up and down — every route present throughout, the expected shape after each step, no owned nexthop left`, () =>
    withNode(async (ns, rtnl, node) => {
      const reports: Report[] = [];
      const net = new Network({ rtnl, netns: ns, mode, node, peers: range(2, 6).map(peer), nexthopPeers: 6, debounceMs: 10, onReport: (r) => reports.push(r) });
      const abort = new AbortController();
      const running = net.run(abort.signal);
      /** Waits for the pass after `n` reports, and for `ip -j route` to show `want`. */
      const settled = async (n: number, want: Record<string, string>, what: string): Promise<void> => {
        await waitFor(() => reports.length > n, 2000, `${what}: a pass`);
        await waitFor(() => JSON.stringify(shapes(ns)) === JSON.stringify(want), 2000, `${what}: ${JSON.stringify(shapes(ns))}`);
        assert.equal(
          reports.flatMap((r) => r.failures),
          [],
          what,
        );
      };
      try {
        await settled(0, expect(range(2, 6), 'via'), '5 peers: plain');
        assert.equal(ownedNexthops(ns), []);

        // Up: the 6th peer switches every route to its nexthop, in place.
        let n = reports.length;
        const up = await monitored(ns, async () => {
          net.upsertPeer(peer(7));
          await settled(n, expect(range(2, 7), 'nhid'), '6 peers: through nexthops');
        });
        assert.is(ownedNexthops(ns).length, 6);
        assert.is(up.filter((l) => / nhid /.test(l) && !l.startsWith('Deleted')).length, 6, 'six routes (re)written with their nhid');
        assert.equal(
          up.filter((l) => l.startsWith('Deleted')),
          [],
          'nothing deleted on the way up',
        );

        // Down to half (3 peers): still nexthops (hysteresis).
        n = reports.length;
        for (const i of [7, 6, 5]) net.removePeer(`n${i}`);
        await settled(n, expect(range(2, 4), 'nhid'), '3 peers: still through nexthops');
        assert.is(ownedNexthops(ns).length, 3);

        // Below half: plain again, the routes first, then the nexthops no route names.
        n = reports.length;
        const down = await monitored(ns, async () => {
          net.removePeer('n4');
          await settled(n, expect(range(2, 3), 'via'), '2 peers: plain');
        });
        assert.equal(ownedNexthops(ns), [], 'no owned nexthop left');
        const deleted = down.filter((l) => l.startsWith('Deleted'));
        assert.equal(
          deleted.filter((l) => /^Deleted 10\.0\.[23]\.0\/24 /.test(l)),
          [],
          'no route that stays was deleted',
        );
        assert.ok(
          deleted.some((l) => l.startsWith('Deleted 10.0.4.0/24 ')),
          "the leaving peer's route was",
        );
        const lastRoute = down.findLastIndex((l) => /^10\.0\.[23]\.0\/24 via /.test(l));
        const firstNexthopGone = down.findIndex((l) => l.startsWith('Deleted id '));
        assert.ok(lastRoute >= 0 && firstNexthopGone > lastRoute, `routes moved before the nexthops went:\n${down.join('\n')}`);
      } finally {
        abort.abort();
        await running;
      }
    }));

  test(`${name}: a Reconciler keeps its shape through resyncs inside the band, and a full pass switches when the count crossed`, () =>
    withNode(async (ns, rtnl, node) => {
      const rec = new Reconciler(rtnl, { nexthopPeers: 6 });
      assert.equal(rec.full(mode.desired(node, range(2, 7).map(peer))).failures, []);
      assert.equal(shapes(ns), expect(range(2, 7), 'nhid'));
      assert.is(rec.resync().operations, 0, 'a resync finds it as wanted');
      assert.equal(rec.full(mode.desired(node, range(2, 4).map(peer))).failures, []);
      assert.equal(shapes(ns), expect(range(2, 4), 'nhid'), '3 peers (half): still through nexthops');
      assert.is(rec.resync().operations, 0);
      assert.equal(rec.full(mode.desired(node, range(2, 3).map(peer))).failures, []);
      assert.equal(shapes(ns), expect(range(2, 3), 'via'), '2 peers: plain');
      assert.equal(ownedNexthops(ns), []);
      assert.is(rec.resync().operations, 0);
    }));
}

test.run();
