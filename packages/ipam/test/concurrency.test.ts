// Many processes, one store: 8 child processes start at the same instant and allocate 200 pod IPs each,
// first on one host-local directory (real flock), then through ClusterIpam on one real etcd (CAS).
// 1,600 distinct IPs, the store agreeing with what the workers were told, and an empty store after
// they all release concurrently.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startEtcd } from '@netboot/core/testing';
import { Cidr } from '../src/cidr.js';
import { ClusterIpam } from '../src/cluster.js';
import { openEtcdKv } from '../src/store/etcd.js';
import type { ChildResult } from './store-fixtures.js';
import { skipIf, withTempDir } from '@netboot/core/testing/pure';
import { missingEtcd } from './needs-etcd.js';
import { lastJson, readReservations, runTogether } from './store-fixtures.js';

const etcdTest = skipIf(test, missingEtcd);

const WORKERS = 8;
const EACH = 200;

interface WorkerReport {
  result: string[];
  startedAt: number;
  endedAt: number;
}

/** Per-worker IPs, after checking the workers really ran at the same time; prints the mean time per call. */
function collect(results: ChildResult[], what: string): string[][] {
  const reports = results.map((r) => lastJson<WorkerReport>(r));
  const lastStart = Math.max(...reports.map((r) => r.startedAt));
  const firstEnd = Math.min(...reports.map((r) => r.endedAt));
  assert.ok(lastStart < firstEnd, `workers did not overlap (last start ${lastStart}, first end ${firstEnd})`);
  const perCall = reports.reduce((sum, r) => sum + (r.endedAt - r.startedAt), 0) / reports.length / EACH;
  console.log(`  ${what}: ${perCall.toFixed(1)} ms per call per worker (${WORKERS} workers)`);
  return reports.map((r) => r.result);
}

test(`file store: ${WORKERS} processes × ${EACH} allocations from one /20 → ${WORKERS * EACH} distinct IPs, then all released`, () =>
  withTempDir(async (data) => {
    const args = (mode: string) => (i: number) => [data, 'conc', '10.30.0.0/20', `w${i}`, String(EACH), mode];
    const got = collect(await runTogether('file-alloc.ts', args('allocate'), WORKERS), 'file allocate');
    const all = got.flat();
    assert.is(all.length, WORKERS * EACH);
    assert.is(new Set(all).size, WORKERS * EACH, 'an IP was handed out twice');

    const onDisk = readReservations(join(data, 'conc'));
    assert.is(onDisk.size, WORKERS * EACH);
    got.forEach((ips, w) => {
      ips.forEach((ip, i) => {
        assert.is(onDisk.get(ip), `w${w}-${i}\r\neth0`, `file for ${ip}`);
      });
    });

    const released = collect(await runTogether('file-alloc.ts', args('release'), WORKERS), 'file release').flat();
    assert.equal(new Set(released), new Set(all));
    assert.is(readReservations(join(data, 'conc')).size, 0);
  }));

etcdTest(`etcd: ${WORKERS} ClusterIpam processes × ${EACH} allocations on 4 nodes → ${WORKERS * EACH} distinct IPs, then all released`, async () => {
  const etcd = await startEtcd();
  const prefix = '/conc';
  const kv = await openEtcdKv({ endpoints: etcd.endpoint, prefix });
  try {
    const ipam = new ClusterIpam(kv);
    // /26 blocks: each node needs several, so block claims race as well as allocations inside a block.
    await ipam.createPool({ name: 'conc', cidr: '10.40.0.0/16', blockSize: 26 });
    const args = (mode: string) => (i: number) => [etcd.endpoint, prefix, `node-${i % 4}`, `w${i}`, String(EACH), mode];
    const got = collect(await runTogether('cluster-alloc.ts', args('allocate'), WORKERS), 'etcd allocate');
    const all = got.flat();
    assert.is(all.length, WORKERS * EACH);
    assert.is(new Set(all).size, WORKERS * EACH, 'an IP was handed out twice');

    // Read the blocks back with etcdctl, independently of our client, and rebuild the IP set from them.
    const etcdctl = (...a: string[]) =>
      execFileSync('etcdctl', ['--endpoints', etcd.endpoint, ...a], { encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' } });
    const storedIps = () =>
      etcdctl('get', '--prefix', `${prefix}/netboot/ipam/blocks/`, '--print-value-only')
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .flatMap((l) => {
          const block = JSON.parse(l) as { cidr: string; allocations: Record<string, unknown> };
          return Object.keys(block.allocations).map((offset) => Cidr.parse(block.cidr).addressAt(BigInt(offset)));
        });
    assert.equal(new Set(storedIps()), new Set(all));
    assert.is(storedIps().length, WORKERS * EACH);
    assert.equal((await ipam.check()).problems, []);

    const released = collect(await runTogether('cluster-alloc.ts', args('release'), WORKERS), 'etcd release').flat();
    assert.equal(new Set(released), new Set(all));
    assert.is(storedIps().length, 0);
    assert.is(etcdctl('get', '--prefix', `${prefix}/netboot/ipam/handles/`, '--keys-only').trim(), '');
  } finally {
    await kv.close();
    await etcd.stop();
  }
});

test.run();
