// EtcdKv against a real etcd (Debian's etcd-server, started by the shared fixture), checked with etcdctl.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startEtcd } from '@netboot/core/testing';
import type { EtcdFixture } from '@netboot/core/testing';
import { openEtcdKv } from '../src/store/etcd.js';
import type { EtcdKv } from '../src/store/etcd.js';
import { KvConflictError, KvUnavailableError } from '../src/store/kv.js';
import { rejectsWith } from './store-fixtures.js';

let etcd: EtcdFixture;
let kv: EtcdKv;
const prefix = `/nbt-test-${process.pid}`;

test.before(async () => {
  etcd = await startEtcd();
  kv = await openEtcdKv({ endpoints: etcd.endpoint, prefix });
});
test.after(async () => {
  await kv?.close();
  await etcd?.stop();
});

const etcdctl = (...args: string[]) =>
  execFileSync('etcdctl', ['--endpoints', etcd.endpoint, ...args], { encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' } });

test('create-if-absent, get, CAS on the revision read, delete — as etcdctl sees them', async () => {
  const rev = await kv.commit([{ op: 'put', key: '/a', value: 'one', expectRevision: 0n }]);
  assert.equal(etcdctl('get', `${prefix}/a`, '--print-value-only').trim(), 'one');
  const a = await kv.get('/a');
  assert.equal(a, { key: '/a', value: 'one', revision: rev });
  const err = await rejectsWith(kv.commit([{ op: 'put', key: '/a', value: 'two', expectRevision: 0n }]), KvConflictError);
  assert.is((err as KvConflictError).key, '/a');
  await kv.commit([{ op: 'put', key: '/a', value: 'two', expectRevision: a!.revision }]);
  await rejectsWith(kv.commit([{ op: 'put', key: '/a', value: 'stale', expectRevision: a!.revision }]), KvConflictError);
  assert.equal((await kv.get('/a'))?.value, 'two');
  const b = await kv.get('/a');
  await kv.commit([{ op: 'delete', key: '/a', expectRevision: b!.revision }]);
  assert.is(await kv.get('/a'), undefined);
  assert.equal(etcdctl('get', `${prefix}/a`), '');
});

test('a commit is all or nothing: one stale guard and no op applies; the conflict names the key that moved', async () => {
  await kv.commit([{ op: 'put', key: '/t/x', value: '1' }, { op: 'put', key: '/t/y', value: '1' }]);
  const x = await kv.get('/t/x');
  await kv.commit([{ op: 'put', key: '/t/y', value: '2' }]);
  const err = await rejectsWith(
    kv.commit([
      { op: 'put', key: '/t/x', value: 'changed', expectRevision: x!.revision },
      { op: 'put', key: '/t/y', value: 'changed', expectRevision: x!.revision },
      { op: 'put', key: '/t/z', value: 'new', expectRevision: 0n },
    ]),
    KvConflictError,
  );
  assert.is((err as KvConflictError).key, '/t/y');
  assert.equal((await kv.list('/t/')).map((e) => [e.key, e.value]), [['/t/x', '1'], ['/t/y', '2']]);
});

test('list returns a prefix sorted by key, and prefixes keep stores apart', async () => {
  for (const k of ['/l/b', '/l/a', '/l/c', '/lz', '/k']) await kv.commit([{ op: 'put', key: k, value: k }]);
  assert.equal((await kv.list('/l/')).map((e) => e.key), ['/l/a', '/l/b', '/l/c']);
  const other = await openEtcdKv({ endpoints: etcd.endpoint, prefix: `${prefix}-other` });
  try {
    assert.equal(await other.list('/'), []);
    await other.commit([{ op: 'put', key: '/l/a', value: 'theirs' }]);
    assert.equal((await kv.get('/l/a'))?.value, '/l/a');
  } finally {
    await other.close();
  }
});

test('readMany answers keys and prefixes in order, from one snapshot, also past the 128-op transaction limit', async () => {
  for (const k of ['/r/a', '/r/b', '/r/c/1', '/r/c/2']) await kv.commit([{ op: 'put', key: k, value: k }]);
  const [a, missing, c, none] = await kv.readMany([{ key: '/r/a' }, { key: '/r/zz' }, { prefix: '/r/c/' }, { prefix: '/r/none/' }]);
  assert.equal(a, [await kv.get('/r/a')]);
  assert.equal(missing, []);
  assert.equal(c!.map((e) => e.value), ['/r/c/1', '/r/c/2']);
  assert.equal(none, []);
  const many = Array.from({ length: 250 }, (_, i) => ({ key: i % 2 ? '/r/a' : '/r/b' }));
  assert.equal((await kv.readMany(many)).map(([e]) => e?.value), many.map((r) => r.key));
  assert.equal(await kv.readMany([]), []);
});

test('a refused commit hands back its onConflict reads, taken in the same transaction', async () => {
  await kv.commit([{ op: 'put', key: '/oc/a', value: '1' }]);
  const stale = await kv.get('/oc/a');
  await kv.commit([{ op: 'put', key: '/oc/a', value: '2' }, { op: 'put', key: '/oc/b', value: 'x' }]);
  const err = (await rejectsWith(
    kv.commit([{ op: 'put', key: '/oc/a', value: '3', expectRevision: stale!.revision }], { onConflict: [{ key: '/oc/a' }, { prefix: '/oc/' }, { key: '/oc/none' }] }),
    KvConflictError,
  )) as KvConflictError;
  assert.is(err.key, '/oc/a');
  assert.equal(err.reads, [[await kv.get('/oc/a')], await kv.list('/oc/'), []]);
  assert.is((await kv.get('/oc/a'))?.value, '2');
});

test('CAS holds under concurrency: 25 racing read-increment-write loops lose nothing', async () => {
  await kv.commit([{ op: 'put', key: '/counter', value: '0' }]);
  let conflicts = 0;
  const increment = async () => {
    for (;;) {
      const cur = await kv.get('/counter');
      try {
        await kv.commit([{ op: 'put', key: '/counter', value: String(Number(cur!.value) + 1), expectRevision: cur!.revision }]);
        return;
      } catch (e) {
        if (!(e instanceof KvConflictError)) throw e;
        conflicts++;
      }
    }
  };
  await Promise.all(Array.from({ length: 25 }, increment));
  assert.is((await kv.get('/counter'))?.value, '25');
  assert.ok(conflicts > 0, 'the race must actually have happened');
});

test('an endpoint nobody listens on gives KvUnavailableError naming it', async () => {
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const err = await rejectsWith(openEtcdKv({ endpoints: endpoint, dialTimeoutMs: 500 }), KvUnavailableError);
  assert.match(err.message, endpoint);
});

test('the fixture stops etcd and removes its data dir; a client then sees KvUnavailableError', async () => {
  const second = await startEtcd();
  const client = await openEtcdKv({ endpoints: second.endpoint, dialTimeoutMs: 500, callTimeoutMs: 2000 });
  try {
    assert.ok(existsSync(second.dataDir));
    await second.stop();
    assert.not.ok(existsSync(second.dataDir));
    await rejectsWith(client.get('/x'), KvUnavailableError);
  } finally {
    await client.close();
    await second.stop();
  }
});

test.run();
