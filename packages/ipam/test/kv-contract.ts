// The KvStore contract: what ClusterIpam relies on from any store, as one suite that runs against every
// implementation (MemoryKv in kv.test.ts, EtcdKv in etcd.test.ts; in bootstrap ConfigMapKv and the
// agent's EtcdHttpKv), like libp2p's interface-compliance tests. Each test gets a fresh, empty store from `open` and closes it afterwards.
import * as assert from 'uvu/assert';
import { NetbootError } from '@netboot/core/errors';
import { rejectsA } from '@netboot/core/testing/pure';
import { KvConflictError } from '../src/store/kv.js';
import type { KvStore } from '../src/store/kv.js';
import { closing, contractSuite } from './contract.js';
import type { ContractHooks } from './contract.js';

export function kvContract(name: string, open: () => Promise<KvStore>, hooks: ContractHooks = {}): void {
  const { test, withFixture: withKv } = contractSuite(`KvStore contract: ${name}`, closing(open), hooks);

  test(
    'create-if-absent, get at the revision commit returned, CAS on the revision read, delete',
    withKv(async (kv) => {
      assert.is(await kv.get('/a'), undefined);
      const rev = await kv.commit([{ op: 'put', key: '/a', value: 'one', expectRevision: 0n }]);
      assert.equal(await kv.get('/a'), { key: '/a', value: 'one', revision: rev });
      const err = await rejectsA(kv.commit([{ op: 'put', key: '/a', value: 'two', expectRevision: 0n }]), KvConflictError);
      assert.is(err.key, '/a');
      assert.is(err.kind, 'conflict');
      assert.ok(err instanceof NetbootError);
      const next = await kv.commit([{ op: 'put', key: '/a', value: 'two', expectRevision: rev }]);
      assert.ok(next > rev, 'every commit moves the store revision forward');
      await rejectsA(kv.commit([{ op: 'put', key: '/a', value: 'stale', expectRevision: rev }]), KvConflictError);
      await rejectsA(kv.commit([{ op: 'delete', key: '/a', expectRevision: rev }]), KvConflictError, undefined, 'a stale delete');
      assert.equal(await kv.get('/a'), { key: '/a', value: 'two', revision: next });
      await kv.commit([{ op: 'delete', key: '/a', expectRevision: next }]);
      assert.is(await kv.get('/a'), undefined);
      await kv.commit([{ op: 'put', key: '/a', value: 'again', expectRevision: 0n }]);
      assert.is((await kv.get('/a'))?.value, 'again', 'a deleted key can be created anew');
    }),
  );

  test(
    'unguarded ops always apply; deleting a missing key is not an error',
    withKv(async (kv) => {
      await kv.commit([{ op: 'put', key: '/u', value: '1' }]);
      await kv.commit([{ op: 'put', key: '/u', value: '2' }]);
      assert.is((await kv.get('/u'))?.value, '2');
      await kv.commit([
        { op: 'delete', key: '/u' },
        { op: 'delete', key: '/never' },
      ]);
      assert.is(await kv.get('/u'), undefined);
    }),
  );

  test(
    'a commit is all or nothing: one stale guard and no op applies; the conflict names the key that moved',
    withKv(async (kv) => {
      const first = await kv.commit([
        { op: 'put', key: '/t/x', value: '1' },
        { op: 'put', key: '/t/y', value: '1' },
      ]);
      assert.equal(
        (await kv.list('/t/')).map((e) => e.revision),
        [first, first],
        'one commit, one revision for all its keys',
      );
      await kv.commit([{ op: 'put', key: '/t/y', value: '2' }]);
      const err = await rejectsA(
        kv.commit([
          { op: 'put', key: '/t/x', value: 'changed', expectRevision: first },
          { op: 'put', key: '/t/y', value: 'changed', expectRevision: first },
          { op: 'put', key: '/t/z', value: 'new', expectRevision: 0n },
        ]),
        KvConflictError,
      );
      assert.is(err.key, '/t/y');
      assert.equal(
        (await kv.list('/t/')).map((e) => [e.key, e.value]),
        [
          ['/t/x', '1'],
          ['/t/y', '2'],
        ],
      );
    }),
  );

  test(
    'list returns exactly a prefix, sorted by key',
    withKv(async (kv) => {
      for (const k of ['/l/b', '/l/a', '/l/c/d', '/lz', '/k', '/l']) await kv.commit([{ op: 'put', key: k, value: k }]);
      assert.equal(
        (await kv.list('/l/')).map((e) => e.key),
        ['/l/a', '/l/b', '/l/c/d'],
      );
      assert.equal(
        (await kv.list('/l')).map((e) => e.key),
        ['/l', '/l/a', '/l/b', '/l/c/d', '/lz'],
      );
      assert.equal(await kv.list('/none/'), []);
      await kv.commit([{ op: 'delete', key: '/l/b' }]);
      assert.equal(
        (await kv.list('/l/')).map((e) => e.key),
        ['/l/a', '/l/c/d'],
        'a deleted key leaves the prefix',
      );
    }),
  );

  test(
    "readMany answers keys and prefixes in order, also past etcd's 128-op transaction limit",
    withKv(async (kv) => {
      for (const k of ['/r/a', '/r/b', '/r/c/1', '/r/c/2']) await kv.commit([{ op: 'put', key: k, value: k }]);
      const [a, missing, c, none] = await kv.readMany([{ key: '/r/a' }, { key: '/r/zz' }, { prefix: '/r/c/' }, { prefix: '/r/none/' }]);
      assert.equal(a, [await kv.get('/r/a')]);
      assert.equal(missing, []);
      assert.equal(c, await kv.list('/r/c/'));
      assert.equal(none, []);
      const many = Array.from({ length: 250 }, (_, i) => ({ key: i % 2 ? '/r/a' : '/r/b' }));
      assert.equal(
        (await kv.readMany(many)).map(([e]) => e?.value),
        many.map((r) => r.key),
      );
      assert.equal(await kv.readMany([]), []);
    }),
  );

  test(
    'a refused commit hands back its onConflict reads, taken from the snapshot that refused it',
    withKv(async (kv) => {
      await kv.commit([{ op: 'put', key: '/oc/a', value: '1' }]);
      const stale = await kv.get('/oc/a');
      await kv.commit([
        { op: 'put', key: '/oc/a', value: '2' },
        { op: 'put', key: '/oc/b', value: 'x' },
      ]);
      const err = await rejectsA(
        kv.commit([{ op: 'put', key: '/oc/a', value: '3', expectRevision: stale!.revision }], {
          onConflict: [{ key: '/oc/a' }, { prefix: '/oc/' }, { key: '/oc/none' }],
        }),
        KvConflictError,
      );
      assert.is(err.key, '/oc/a');
      assert.equal(err.reads, [[await kv.get('/oc/a')], await kv.list('/oc/'), []]);
      assert.is((await kv.get('/oc/a'))?.value, '2');
      const plain = await rejectsA(kv.commit([{ op: 'put', key: '/oc/a', value: '3', expectRevision: stale!.revision }]), KvConflictError);
      assert.is(plain.reads, undefined, 'no reads asked, none returned');
    }),
  );

  test(
    'CAS holds under concurrency: 25 racing read-increment-write loops lose nothing',
    withKv(async (kv) => {
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
    }),
  );

  test.run();
}
