// EtcdKv against a real etcd (Debian's etcd-server, started by the shared fixture): the KvStore contract
// (kv-contract.ts, the suite MemoryKv passes too), the PodIpam contract for a ClusterIpam node on etcd,
// then what only etcd has — its own view through etcdctl, key prefixes, an unreachable endpoint. Without
// an `etcd` binary every test is skipped, saying why; under CI=true they fail instead (needs-etcd.ts).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { rejectsA, skipIf, startEtcd } from '@netboot/core/testing';
import type { EtcdFixture } from '@netboot/core/testing';
import { openEtcdKv } from '../src/store/etcd.js';
import type { EtcdKv } from '../src/store/etcd.js';
import { KvUnavailableError } from '../src/store/kv.js';
import { clusterPodIpam } from './cluster-pod-ipam.js';
import { kvContract } from './kv-contract.js';
import { missingEtcd } from './needs-etcd.js';
import { podIpamContract } from './pod-ipam-contract.js';

let etcd: EtcdFixture;
let stores = 0;
// Each contract suite starts its own etcd and stops it when done.
const etcdPerSuite = {
  skip: missingEtcd,
  before: async () => {
    etcd = await startEtcd();
  },
  after: async () => {
    await etcd?.stop();
  },
};
// Every contract test gets its own prefix on one etcd: an empty store of its own.
kvContract('EtcdKv', () => openEtcdKv({ endpoints: etcd.endpoint, prefix: `/nbt-contract-${process.pid}-${stores++}` }), etcdPerSuite);

podIpamContract(
  'ClusterIpam.forNode on etcd',
  async (shape, fn) => {
    const prefix = `/nbt-pod-ipam-${process.pid}-${stores++}`;
    const kv = await openEtcdKv({ endpoints: etcd.endpoint, prefix });
    const second = await openEtcdKv({ endpoints: etcd.endpoint, prefix }); // another client, as another process would have
    try {
      await fn(await clusterPodIpam(kv, second, shape));
    } finally {
      await Promise.all([kv.close(), second.close()]);
    }
  },
  etcdPerSuite,
);

const test = skipIf(suite('EtcdKv on etcd'), missingEtcd);
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

test('what a commit writes is what etcdctl sees, under the store prefix; a delete removes it there too', async () => {
  const rev = await kv.commit([{ op: 'put', key: '/a', value: 'one', expectRevision: 0n }]);
  assert.equal(etcdctl('get', `${prefix}/a`, '--print-value-only').trim(), 'one');
  const json = JSON.parse(etcdctl('get', `${prefix}/a`, '-w', 'json')) as { kvs: { mod_revision: number }[] };
  assert.is(BigInt(json.kvs[0]!.mod_revision), rev, "revisions are etcd's mod_revision");
  await kv.commit([{ op: 'delete', key: '/a', expectRevision: rev }]);
  assert.equal(etcdctl('get', `${prefix}/a`), '');
});

test('prefixes keep stores apart', async () => {
  await kv.commit([{ op: 'put', key: '/l/a', value: 'ours' }]);
  const other = await openEtcdKv({ endpoints: etcd.endpoint, prefix: `${prefix}-other` });
  try {
    assert.equal(await other.list('/'), []);
    await other.commit([{ op: 'put', key: '/l/a', value: 'theirs' }]);
    assert.equal((await kv.get('/l/a'))?.value, 'ours');
  } finally {
    await other.close();
  }
});

test('an endpoint nobody listens on gives KvUnavailableError naming it', async () => {
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const err = await rejectsA(openEtcdKv({ endpoints: endpoint, dialTimeoutMs: 500 }), KvUnavailableError);
  assert.match(err.message, endpoint);
  assert.is(err.kind, 'unavailable');
});

test('the fixture stops etcd and removes its data dir; a client then sees KvUnavailableError', async () => {
  const second = await startEtcd();
  const client = await openEtcdKv({ endpoints: second.endpoint, dialTimeoutMs: 500, callTimeoutMs: 2000 });
  try {
    assert.ok(existsSync(second.dataDir));
    await second.stop();
    assert.not.ok(existsSync(second.dataDir));
    await rejectsA(client.get('/x'), KvUnavailableError);
  } finally {
    await client.close();
    await second.stop();
  }
});

test.run();
