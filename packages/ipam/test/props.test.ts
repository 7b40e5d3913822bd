// Property tests: random interleavings of allocate / release / gc must never hand out one IP twice, never
// hand out a network, gateway or broadcast address, and never leave a reservation outside a block.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { ipToValue } from '@netboot/core/ip';
import { Cidr } from '../src/cidr.js';
import { RangeAllocator, RangeExhaustedError } from '../src/allocator.js';
import { blockReservations } from '../src/block.js';
import { IpamKeys } from '../src/keys.js';
import { decodeBlock } from '../src/records.js';
import { ClusterIpam, IpExhaustedError } from '../src/cluster.js';
import { MemoryKv } from '../src/store/memory.js';

const forbidden = (cidr: Cidr) => new Set([cidr.network, cidr.gateway(), cidr.broadcast()].filter((v) => v !== undefined));

const range = suite('RangeAllocator properties');

type RangeOp = { op: 'allocate' } | { op: 'release'; pick: number } | { op: 'reserve'; offset: number } | { op: 'gc'; keepEvery: number };
const rangeOp: fc.Arbitrary<RangeOp> = fc.oneof(
  { weight: 5, arbitrary: fc.constant({ op: 'allocate' as const }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('release' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('reserve' as const), offset: fc.nat({ max: 70 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('gc' as const), keepEvery: fc.integer({ min: 1, max: 4 }) }) },
);

range('never hands out an IP twice or outside the usable range', () => {
  fc.assert(
    fc.property(fc.constantFrom('10.0.0.0/26', '10.0.0.0/29', '10.0.0.0/30', 'fd00::/122'), fc.array(rangeOp, { maxLength: 200 }), (subnet, ops) => {
      const cidr = Cidr.parse(subnet);
      const a = new RangeAllocator<number>({ subnet: cidr });
      const live = new Map<string, number>();
      let owner = 0;
      // Round-robin, exactly: the next free usable address after the last one reserved, wrapping once.
      const usable = [...Array(Number(cidr.size())).keys()].map((i) => cidr.addressAt(BigInt(i))).filter((ip) => !forbidden(cidr).has(ipToValue(ip).value));
      let cursor = -1;
      const expectedNext = () => [...usable.slice(cursor + 1), ...usable.slice(0, cursor + 1)].find((ip) => !live.has(ip));
      for (const op of ops) {
        if (op.op === 'allocate') {
          try {
            const expected = expectedNext();
            const got = a.allocate(++owner);
            assert.not.ok(live.has(got.ip), `${got.ip} handed out twice`);
            assert.is(got.ip, expected, 'round-robin order');
            live.set(got.ip, owner);
            cursor = usable.indexOf(got.ip);
          } catch (err) {
            if (!(err instanceof RangeExhaustedError)) throw err;
            assert.is(BigInt(live.size), a.size(), 'exhausted while addresses were free');
          }
        } else if (op.op === 'release' && live.size > 0) {
          const ip = [...live.keys()][op.pick % live.size]!;
          assert.ok(a.release(ip));
          live.delete(ip);
        } else if (op.op === 'reserve') {
          const ip = cidr.addressAt(BigInt(op.offset) % cidr.size());
          let ok = false;
          try {
            a.reserve(ip, ++owner);
            ok = true;
          } catch {
            // taken, gateway or outside: fine, as long as the model agrees below
          }
          const allowed = !live.has(ip) && !forbidden(cidr).has(ipToValue(ip).value);
          assert.is(ok, allowed, `reserve(${ip})`);
          if (ok) {
            live.set(ip, owner);
            cursor = usable.indexOf(ip);
          }
        } else if (op.op === 'gc') {
          [...live.keys()].forEach((ip, i) => {
            if (i % op.keepEvery !== 0) {
              a.release(ip);
              live.delete(ip);
            }
          });
        }
        const entries = [...a.entries()];
        assert.is(entries.length, live.size);
        for (const e of entries) {
          assert.is(live.get(e.ip), e.owner);
          assert.ok(cidr.contains(e.ip));
          assert.not.ok(forbidden(cidr).has(ipToValue(e.ip).value), `${e.ip} is network/gateway/broadcast`);
        }
        assert.is(a.allocated() + a.free(), a.size());
      }
    }),
    { numRuns: 300 },
  );
});

range.run();

const cluster = suite('ClusterIpam(MemoryKv) properties');

type ClusterOp =
  | { op: 'allocate'; node: number; pod: number }
  | { op: 'release'; pod: number }
  | { op: 'releaseIp'; pod: number }
  | { op: 'gc'; keepEvery: number };
const clusterOp: fc.Arbitrary<ClusterOp> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('allocate' as const), node: fc.nat({ max: 3 }), pod: fc.nat({ max: 30 }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('release' as const), pod: fc.nat({ max: 30 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('releaseIp' as const), pod: fc.nat({ max: 30 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('gc' as const), keepEvery: fc.integer({ min: 1, max: 3 }) }) },
);
const podOf = (n: number) => ({ containerId: `pod${n}`, ifname: 'eth0' });

cluster('concurrent allocate/release/gc from several clients keep the store consistent', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.array(clusterOp, { minLength: 1, maxLength: 6 }), { maxLength: 12 }), fc.boolean(), async (batches, strictAffinity) => {
      const kv = new MemoryKv();
      const clients = Array.from({ length: 4 }, () => new ClusterIpam(kv, { strictAffinity }));
      // 8 blocks of 5 usable addresses, at most 2 per node: exhaustion, second blocks and borrowing all happen.
      await clients[0]!.createPool({ name: 'p', cidr: '10.0.0.0/26', blockSize: 29, maxBlocksPerNode: 2 });
      const pool = Cidr.parse('10.0.0.0/26');
      const model = new Map<number, string>(); // pod → ip
      for (const batch of batches) {
        // One op per pod within a batch, so the model knows the outcome whatever the interleaving.
        const seen = new Set<number>();
        const ops = batch.filter((o) => o.op === 'gc' || (!seen.has(o.pod) && seen.add(o.pod)));
        const gc = ops.find((o) => o.op === 'gc');
        const run = gc ? [gc] : ops;
        const results = await Promise.allSettled(
          run.map((o, i) => {
            const c = clients[i % clients.length]!;
            switch (o.op) {
              case 'allocate':
                return c.allocate(`n${o.node}`, podOf(o.pod));
              case 'release':
                return c.releaseAttachment(podOf(o.pod));
              case 'releaseIp':
                return model.has(o.pod) ? c.releaseIp(model.get(o.pod)!) : Promise.resolve(undefined);
              default: // 'gc'
                return c.gc([...model.keys()].filter((_, k) => k % o.keepEvery === 0).map(podOf));
            }
          }),
        );
        run.forEach((o, i) => {
          const r = results[i]!;
          if (r.status === 'rejected') {
            assert.ok(o.op === 'allocate' && r.reason instanceof IpExhaustedError, `unexpected ${String(r.reason)}`);
            return;
          }
          if (o.op === 'allocate') {
            const ip = (r.value as { ip: string }).ip;
            if (model.has(o.pod)) assert.is(ip, model.get(o.pod), 'allocate is idempotent');
            model.set(o.pod, ip);
          } else if (o.op === 'gc') {
            const keep = new Set([...model.keys()].filter((_, k) => k % o.keepEvery === 0));
            for (const p of [...model.keys()]) if (!keep.has(p)) model.delete(p);
          } else {
            model.delete(o.pod);
          }
        });
        // The store must hold exactly the model: no IP twice, none forbidden, all inside their block and pool.
        const stored = new Map<string, string>();
        for (const entry of await kv.list(new IpamKeys().blocks)) {
          const block = decodeBlock(entry).value;
          const cidr = Cidr.parse(block.cidr);
          assert.ok(pool.contains(cidr));
          for (const r of blockReservations(block)) {
            assert.ok(cidr.contains(r.ip));
            assert.not.ok(forbidden(cidr).has(ipToValue(r.ip).value), `${r.ip} is network/gateway/broadcast of ${cidr}`);
            assert.not.ok(stored.has(r.ip), `${r.ip} handed out twice`);
            stored.set(r.ip, r.containerId);
          }
        }
        assert.equal(stored, new Map([...model].map(([p, ip]) => [ip, podOf(p).containerId])));
      }
      assert.equal((await clients[0]!.check()).problems, []);
    }),
    { numRuns: 150 },
  );
});

cluster.run();
