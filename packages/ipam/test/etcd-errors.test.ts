// What EtcdKv throws when etcd answers with an error of its own (not a lost race, not an unreachable
// endpoint): a NetbootError naming etcd's complaint, so callers can classify every failure by kind.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { errorKind, NetbootError } from '@netboot/core/errors';
import { startEtcd } from '@netboot/core/testing';
import { openEtcdKv } from '../src/store/etcd.js';

test("a transaction etcd refuses (more than --max-txn-ops operations) is an internal NetbootError carrying etcd's message", async () => {
  const etcd = await startEtcd();
  const kv = await openEtcdKv({ endpoints: etcd.endpoint, prefix: '/nbt-errors' });
  try {
    const ops = Array.from({ length: 200 }, (_, i) => ({ op: 'put' as const, key: `/k${i}`, value: 'v' }));
    const e = await kv.commit(ops).then(
      () => undefined,
      (err: unknown) => err,
    );
    assert.ok(e instanceof NetbootError, `not a NetbootError: ${String(e)}`);
    assert.is(errorKind(e), 'internal');
    assert.match((e as Error).message, /too many operations/);
    assert.ok((e as Error).cause instanceof Error, "the etcd client's error is kept as the cause");
  } finally {
    await kv.close();
    await etcd.stop();
  }
});

test.run();
