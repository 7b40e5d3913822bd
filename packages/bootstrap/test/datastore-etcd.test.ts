// The Datastore contract on etcd (a real one, from @netboot/core/testing), plus what only etcd does:
// a record held by a lease, gone when its node stops renewing it.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type EtcdFixture, startEtcd } from '@netboot/core/testing';
import { ClusterIpam, PoolExistsError } from '@netboot/ipam';
import { EtcdKv } from '@netboot/ipam/etcd';
import { EtcdDatastore } from '../src/datastore/index.js';
import { datastoreContract, firstLease, LeaseView, PeerView } from './datastore-contract.js';
import { startEtcdCluster } from './etcd-cluster.js';

const etcdctl = (endpoint: string, ...args: string[]) =>
  execFileSync('etcdctl', ['--endpoints', endpoint, ...args], { encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' } });

const pools = [{ name: 'default', cidr: '10.244.0.0/16' }];

datastoreContract('etcd', async () => {
  const etcd = await startEtcd();
  const prefix = `/nbt-${randomBytes(4).toString('hex')}`;
  return {
    clusterCIDR: '10.244.0.0/16',
    open: async (node) => new EtcdDatastore({ endpoints: [etcd.endpoint], node, prefix, pools, ttlSeconds: 5 }),
    addNode: async () => {},
    removeNode: async (node) => void etcdctl(etcd.endpoint, 'del', `${prefix}/nodes/${node}`),
    moveNode: async () => {
      // calicoctl create -f second-pool.yaml; calicoctl patch ippool default -p '{"spec":{"disabled":true}}'
      const kv = await EtcdKv.open({ endpoints: [etcd.endpoint], prefix });
      const ipam = new ClusterIpam(kv);
      await ipam.createPool({ name: 'second', cidr: '10.245.0.0/16' }).catch((e: unknown) => {
        if (!(e instanceof PoolExistsError)) throw e;
      });
      await ipam.disablePool('default');
      await kv.close();
    },
    close: () => etcd.stop(),
  };
});

let etcd: EtcdFixture | undefined;
test.after(async () => {
  await etcd?.stop();
});

test('etcd: a node that dies stops renewing its lease, and its record expires within the TTL', async () => {
  etcd = await startEtcd();
  const prefix = '/nbt-ttl';
  // The dying node is another process (it publishes, then is SIGKILLed: no revoke, no goodbye).
  const script = `
    import { EtcdDatastore } from './packages/bootstrap/src/datastore/index.ts';
    const ds = new EtcdDatastore({ endpoints: ['${etcd.endpoint}'], node: 'doomed', prefix: '${prefix}', pools: ${JSON.stringify(pools)}, ttlSeconds: 2 });
    const { podCIDRs } = await (await ds.leases(AbortSignal.timeout(30_000))[Symbol.asyncIterator]().next()).value;
    await ds.publish({ name: 'doomed', nodeIPs: ['192.168.1.13'], podCIDRs });
    console.log('published');
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: new URL('../../..', import.meta.url).pathname,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const watcher = new EtcdDatastore({ endpoints: [etcd.endpoint], node: 'observer', prefix });
  const view = new PeerView(watcher);
  try {
    await view.until('doomed published', () => view.peers.has('doomed'));
    await new Promise((r) => setTimeout(r, 3_000)); // kept alive past its TTL while it lives
    assert.ok(view.peers.has('doomed'), 'a live node keeps its record beyond the TTL');
    child.kill('SIGKILL');
    const killed = Date.now();
    await view.until('doomed expired', () => !view.peers.has('doomed'), 10_000);
    const after = Date.now() - killed;
    assert.ok(after < 4_500, `expired ${after} ms after the kill (TTL 2 s)`);
    assert.is(etcdctl(etcd.endpoint, 'get', '--prefix', `${prefix}/nodes/`).trim(), '', 'etcd holds no record for it');
  } finally {
    child.kill('SIGKILL');
    await view.stop();
    await watcher.close();
  }
});

test('etcd: close() revokes the lease, so a node that leaves cleanly is gone at once', async () => {
  etcd ??= await startEtcd();
  const prefix = '/nbt-revoke';
  const leaving = new EtcdDatastore({ endpoints: [etcd.endpoint], node: 'leaving', prefix, pools, ttlSeconds: 30 });
  const watcher = new EtcdDatastore({ endpoints: [etcd.endpoint], node: 'observer', prefix });
  const view = new PeerView(watcher);
  try {
    await leaving.publish({ name: 'leaving', nodeIPs: ['192.168.1.14'], podCIDRs: (await firstLease(leaving)).podCIDRs });
    await view.until('leaving published', () => view.peers.has('leaving'));
    await leaving.close();
    await view.until('leaving removed', () => !view.peers.has('leaving'), 3_000);
  } finally {
    await view.stop();
    await watcher.close();
  }
});

test('etcd with three members: the leader killed, the watch carries on (after a wait or a re-list) and publishing still works', async () => {
  const cluster = await startEtcdCluster();
  const prefix = '/nbt-leader';
  const a = new EtcdDatastore({ endpoints: cluster.endpoints, node: 'a', prefix, pools, ttlSeconds: 5 });
  const b = new EtcdDatastore({ endpoints: cluster.endpoints, node: 'b', prefix, pools, ttlSeconds: 5 });
  const view = new PeerView(b);
  try {
    const cidrs = (await firstLease(a, 30_000)).podCIDRs;
    await a.publish({ name: 'a', nodeIPs: ['192.168.1.11'], podCIDRs: cidrs });
    await view.until('a published', () => view.peers.has('a'));
    const leader = cluster.leader();
    await cluster.kill(leader);
    await a.publish({ name: 'a', nodeIPs: ['192.168.1.21'], podCIDRs: cidrs }, AbortSignal.timeout(30_000));
    await view.until('the update after the leader died', () => view.peers.get('a')?.nodeIPs[0] === '192.168.1.21', 30_000);
    assert.is.not(cluster.leader(), leader, 'a new leader was elected');
    assert.equal((await firstLease(a, 30_000)).podCIDRs, cidrs, 'the same block after the election');
    await new Promise((r) => setTimeout(r, 6_000)); // past the record's TTL: the lease is kept alive through the new leader
    assert.ok(view.peers.has('a'), 'the record outlives its TTL');
  } finally {
    await view.stop();
    await a.close();
    await b.close();
    await cluster.stop();
  }
});

test('etcd pool migration: a disabled pool keeps the node’s block (disabled) beside a new one from the next pool; deleted once empty, it leaves the lease; a restart does not re-create it', async () => {
  etcd ??= await startEtcd();
  const prefix = '/nbt-migrate';
  const ds = new EtcdDatastore({ endpoints: [etcd.endpoint], node: 'm1', prefix, pools });
  const kv = await EtcdKv.open({ endpoints: [etcd.endpoint], prefix });
  const ipam = new ClusterIpam(kv);
  const leases = new LeaseView(ds, 20_000);
  try {
    const first = await leases.until('the first lease');
    assert.equal(first.disabled, []);
    assert.equal(first.pools, [{ cidr: '10.244.0.0/16', disabled: false, natOutgoing: true }]);
    const [old] = first.podCIDRs as [string];
    await ipam.createPool({ name: 'new', cidr: '10.245.0.0/16', natOutgoing: false });
    await leases.until('the new pool seen', (l) => l.pools?.length === 2);
    await ipam.disablePool('default');
    const moved = await leases.until('a block from the new pool', (l) => l.disabled.length > 0);
    assert.match(moved.podCIDRs[0]!, /^10\.245\.\d+\.0\/24$/, 'the open block comes first');
    assert.equal(moved.podCIDRs.slice(1), [old]);
    assert.equal(moved.disabled, [old], 'the old block stays, disabled');
    assert.equal(
      moved.pools?.map((p) => [p.cidr, p.disabled, p.natOutgoing]),
      [
        ['10.244.0.0/16', true, true],
        ['10.245.0.0/16', false, false],
      ],
    );
    await ipam.deletePool('default');
    const after = await leases.until('the old pool deleted', (l) => l.pools?.length === 1);
    assert.equal(after.podCIDRs, [moved.podCIDRs[0]]);
    assert.equal(after.disabled, []);
    // Another agent starting with the same config: the cluster's pools were created once; not again.
    const late = new EtcdDatastore({ endpoints: [etcd.endpoint], node: 'm2', prefix, pools });
    const lease = await firstLease(late, 20_000);
    await late.close();
    assert.equal(
      lease.pools?.map((p) => p.cidr),
      ['10.245.0.0/16'],
    );
  } finally {
    await leases.stop();
    await ds.close();
    await kv.close();
  }
});

test.run();
