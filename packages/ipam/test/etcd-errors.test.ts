// What EtcdKv throws when etcd answers with an error of its own (not a lost race, not an unreachable
// endpoint): a NetbootError naming etcd's complaint, so callers can classify every failure by kind.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { errorKind, NetbootError } from '@netboot/core/errors';
import { startEtcd } from '@netboot/core/testing';
import { rejectsA, skipIf } from '@netboot/core/testing/pure';
import { openEtcdKv } from '../src/store/etcd.js';
import { InvalidArgumentError } from '../src/validate.js';
import { missingEtcd } from './needs-etcd.js';

const etcdTest = skipIf(test, missingEtcd);

test('no endpoints is a configuration mistake (invalid), not an unavailable store a caller would retry', async () => {
  const e = await rejectsA(openEtcdKv({ endpoints: [] }), InvalidArgumentError, /endpoint/);
  assert.is(errorKind(e), 'invalid');
});

etcdTest("a transaction etcd refuses (more than --max-txn-ops operations) is an internal NetbootError carrying etcd's message", async () => {
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
