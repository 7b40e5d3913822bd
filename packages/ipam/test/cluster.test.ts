import { suite } from 'uvu';
import { InvalidInputError, NetbootError } from '@netboot/core/errors';
import { rejectsA } from '@netboot/core/testing/pure';
import * as assert from 'uvu/assert';
import { Cidr } from '../src/cidr.js';
import { IpInUseError } from '../src/allocator.js';
import { BlockAffinityError } from '../src/block.js';
import { BlockInUseError, ClusterIpam, IpExhaustedError } from '../src/cluster.js';
import { IpamKeys } from '../src/keys.js';
import { PoolInUseError, PoolNotFoundError, PoolOverlapError, ServiceCidrOverlapError } from '../src/pool.js';
import { CorruptEntryError } from '../src/records.js';
import type { KvOp, KvRead } from '../src/store/kv.js';
import { MemoryKv } from '../src/store/memory.js';
import { InvalidArgumentError } from '../src/validate.js';

const pod = (n: number | string, ifname = 'eth0') => ({ containerId: `c${n}`, ifname });
const keys = new IpamKeys();

/** A MemoryKv that counts store calls (one etcd round trip each) and can run a hook before a commit. */
class ProbeKv extends MemoryKv {
  calls = 0;
  beforeCommit: ((ops: KvOp[]) => Promise<void>) | undefined;
  override get(key: string) {
    this.calls++;
    return super.get(key);
  }
  override list(prefix: string) {
    this.calls++;
    return super.list(prefix);
  }
  override readMany(reads: readonly KvRead[]) {
    this.calls++;
    return super.readMany(reads);
  }
  override async commit(ops: KvOp[], opts?: { onConflict?: readonly KvRead[] }) {
    this.calls++;
    const hook = this.beforeCommit;
    if (hook) {
      this.beforeCommit = undefined;
      await hook(ops);
    }
    return super.commit(ops, opts);
  }
}

/** A hook that, the first time a commit deletes a block, first allocates `pod` on `node` through another client. */
function allocateBeforeBlockDelete(kv: ProbeKv, node: string, attachment: { containerId: string; ifname: string }) {
  const other = new ClusterIpam(kv);
  const hook = async (ops: KvOp[]) => {
    if (ops.some((op) => op.op === 'delete' && op.key.includes('/blocks/'))) await other.allocate(node, attachment);
    else kv.beforeCommit = hook; // not yet: wait for the block delete
  };
  kv.beforeCommit = hook;
}

const setup = async (opts: ConstructorParameters<typeof ClusterIpam>[1] = {}) => {
  const kv = new MemoryKv();
  return { kv, ipam: new ClusterIpam(kv, opts) };
};

const pools = suite('pools');

pools('create, list, get, update, overlap and service-CIDR refusal', async () => {
  const { ipam, kv } = await setup({ serviceCidr: '10.96.0.0/12' });
  await ipam.createPool({ name: 'a', cidr: '10.244.0.0/16' });
  assert.equal(
    (await ipam.listPools()).map((p) => p.name),
    ['a'],
  );
  const revision = kv.currentRevision();
  await rejectsA(ipam.createPool({ name: 'b', cidr: '10.244.3.0/24' }), PoolOverlapError);
  await rejectsA(ipam.createPool({ name: 'svc', cidr: '10.96.0.0/16' }), ServiceCidrOverlapError, /service CIDR/);
  await rejectsA(ipam.createPool({ name: 'bad', cidr: '10.244.1.7/16' }), Error, /10\.244\.1\.7\/16/);
  assert.is(kv.currentRevision(), revision, 'refusals change nothing');
  assert.is((await ipam.disablePool('a')).disabled, true);
  assert.is((await ipam.getPool('a'))?.disabled, true);
  await rejectsA(ipam.updatePool('nope', { disabled: true }), PoolNotFoundError);
  await rejectsA(ipam.updatePool('a', { blockSize: 26 } as never), InvalidArgumentError);
});

pools('concurrent creation of overlapping pools lets exactly one win', async () => {
  const kv = new MemoryKv();
  const clients = Array.from({ length: 8 }, () => new ClusterIpam(kv));
  const results = await Promise.allSettled(clients.map((c, i) => c.createPool({ name: `p${i}`, cidr: '10.244.0.0/16' })));
  assert.is(results.filter((r) => r.status === 'fulfilled').length, 1);
  assert.ok(results.filter((r) => r.status === 'rejected').every((r) => (r as PromiseRejectedResult).reason instanceof PoolOverlapError));
  assert.is((await clients[0]!.listPools()).length, 1);
});

pools('every error says what the caller can do about it: its kind', async () => {
  const { ipam } = await setup({ serviceCidr: '10.96.0.0/12' });
  await ipam.createPool({ name: 'a', cidr: '10.244.0.0/30', blockSize: 30 }); // one block, one address
  const kinds = async (p: Promise<unknown>) =>
    p.then(
      () => 'resolved',
      (e: unknown) => `${(e as Error).name}:${(e as NetbootError).kind}`,
    );
  assert.is(await kinds(ipam.createPool({ name: 'b', cidr: '10.96.0.0/16' })), 'ServiceCidrOverlapError:invalid');
  assert.is(await kinds(ipam.createPool({ name: 'b', cidr: '10.244.0.0/16' })), 'PoolOverlapError:conflict', 'an existing pool is in the way');
  assert.is(await kinds(ipam.createPool({ name: 'a', cidr: '10.1.0.0/16' })), 'PoolExistsError:exists');
  assert.is(await kinds(ipam.updatePool('nope', {})), 'PoolNotFoundError:not-found');
  await ipam.allocate('n1', pod(1));
  assert.is(await kinds(ipam.allocate('n1', pod(2))), 'IpExhaustedError:exhausted');
  assert.is(await kinds(ipam.allocate('n2', pod(2), { ip: '10.244.0.2' })), 'BlockAffinityError:conflict');
  assert.is(await kinds(ipam.releaseNode('n1')), 'BlockInUseError:conflict');
  assert.is(await kinds(ipam.deletePool('a')), 'PoolInUseError:conflict');
  assert.ok(
    [PoolOverlapError, PoolNotFoundError, PoolInUseError, IpExhaustedError, BlockInUseError, BlockAffinityError, CorruptEntryError].every(
      (cls) => cls.prototype instanceof NetbootError,
    ),
  );
  assert.ok(ServiceCidrOverlapError.prototype instanceof InvalidInputError, 'bad input is an InvalidInputError');
});

pools.run();

const blocks = suite('blocks and pod IPs');

blocks('a node claims a block and gets IPs from it, never network/gateway/broadcast', async () => {
  const { ipam } = await setup();
  await ipam.createPool({ name: 'a', cidr: '10.244.0.0/16' });
  const block = await ipam.claimBlock('node-1');
  assert.is(block.node, 'node-1');
  assert.is(block.size, 253);
  const r = await ipam.allocate('node-1', pod(1));
  assert.is(r.block, block.cidr);
  const cidr = Cidr.parse(block.cidr);
  assert.is(r.ip, cidr.addressAt(2n)); // .0 network, .1 gateway (the node bridge)
  assert.equal({ pool: r.pool, node: r.node, containerId: r.containerId, ifname: r.ifname }, { pool: 'a', node: 'node-1', containerId: 'c1', ifname: 'eth0' });
  assert.equal(await ipam.allocate('node-1', pod(1)), r, 'idempotent for the same attachment');
  assert.is.not((await ipam.allocate('node-1', pod(1, 'net1'))).ip, r.ip);
  assert.equal((await ipam.claimBlock('node-1')).cidr, block.cidr, 'claim is stable');
});

blocks('different nodes get different blocks; a node that rejoins gets its old block back', async () => {
  const { ipam } = await setup();
  await ipam.createPool({ name: 'a', cidr: '10.244.0.0/16' });
  const names = Array.from({ length: 10 }, (_, i) => `node-${i}`);
  const claimed = await Promise.all(names.map((n) => ipam.claimBlock(n)));
  assert.is(new Set(claimed.map((b) => b.cidr)).size, 10);
  assert.equal(
    (await ipam.listBlocks({ node: 'node-3' })).map((b) => b.cidr),
    [claimed[3]!.cidr],
  );
  await ipam.releaseNode('node-3');
  assert.equal(await ipam.listBlocks({ node: 'node-3' }), []);
  assert.is((await ipam.claimBlock('node-3')).cidr, claimed[3]!.cidr);
});

blocks('a block record left without its affinity (a crash, a hand edit) is not claimed again: the node takes the next free block', async () => {
  const { ipam, kv } = await setup({ maxRetries: 5 });
  await ipam.createPool({ name: 'a', cidr: '10.244.0.0/16' });
  const first = await ipam.claimBlock('node-3');
  await kv.commit([{ op: 'delete', key: keys.affinity('node-3', first.cidr) }]);
  const again = await ipam.claimBlock('node-3');
  assert.is.not(again.cidr, first.cidr);
  assert.ok(await kv.get(keys.block(first.cidr)), 'the orphan block is left for ipam check, not overwritten');
});

blocks('a full block leads to a second block, up to maxBlocksPerNode, then IpExhaustedError naming pool and node', async () => {
  const { ipam } = await setup();
  await ipam.createPool({ name: 'small', cidr: '10.244.0.0/24', blockSize: 29, maxBlocksPerNode: 2 }); // 5 usable per block
  const ips = [];
  for (let i = 0; i < 10; i++) ips.push((await ipam.allocate('n1', pod(i))).ip);
  assert.is(new Set(ips).size, 10);
  const mine = await ipam.listBlocks({ node: 'n1' });
  assert.is(mine.length, 2);
  assert.ok(mine.every((b) => b.allocated === 5 && b.free === 0));
  const err = await rejectsA(ipam.allocate('n1', pod(10)), IpExhaustedError);
  assert.match((err as Error).message, /small/);
  assert.match((err as Error).message, /n1/);
  // Another node still has room: exhaustion is per node.
  assert.ok((await ipam.allocate('n2', pod(11))).ip);
});

blocks('strict affinity: no borrowing; with strictAffinity false a node borrows from others', async () => {
  for (const strictAffinity of [true, false]) {
    const { ipam, kv } = await setup({ strictAffinity });
    await ipam.createPool({ name: 'tiny', cidr: '10.0.0.0/28', blockSize: 29 }); // two blocks of 5
    await ipam.allocate('n1', pod('a'));
    await ipam.allocate('n2', pod('b'));
    const other = new ClusterIpam(kv, { strictAffinity });
    for (let i = 0; i < 4; i++) await other.allocate('n2', pod(`b${i}`));
    if (strictAffinity) {
      await rejectsA(ipam.allocate('n3', pod('c')), IpExhaustedError);
      const n1Block = (await ipam.listBlocks({ node: 'n1' }))[0]!;
      await rejectsA(ipam.allocate('n3', pod('c'), { ip: Cidr.parse(n1Block.cidr).addressAt(5n) }), BlockAffinityError);
    } else {
      const borrowed = await ipam.allocate('n3', pod('c'));
      assert.is(borrowed.node, 'n3');
      assert.is(borrowed.block, (await ipam.listBlocks({ node: 'n1' }))[0]!.cidr);
    }
  }
});

blocks('static IP requests: taken, gateway and outside-pool IPs are refused', async () => {
  const { ipam } = await setup();
  await ipam.createPool({ name: 'a', cidr: '10.244.0.0/16' });
  const r = await ipam.allocate('n1', pod(1), { ip: '10.244.77.10' });
  assert.equal([r.ip, r.block, r.node], ['10.244.77.10', '10.244.77.0/24', 'n1']);
  await rejectsA(ipam.allocate('n1', pod(2), { ip: '10.244.77.10' }), IpInUseError);
  await rejectsA(ipam.allocate('n1', pod(3), { ip: '10.244.77.1' }), InvalidArgumentError, /gateway/);
  await rejectsA(ipam.allocate('n1', pod(4), { ip: '10.245.0.5' }), InvalidArgumentError, /not inside an enabled pool/);
  await rejectsA(ipam.allocate('n1', pod(1), { ip: '10.244.77.11' }), IpInUseError); // c1 already holds .10
  assert.is((await ipam.allocate('n1', pod(5))).ip, '10.244.77.11', 'round-robin continues after the static IP');
});

blocks('bad input is refused before anything is written', async () => {
  const { ipam, kv } = await setup();
  await ipam.createPool({ name: 'a', cidr: '10.244.0.0/16' });
  const revision = kv.currentRevision();
  await rejectsA(ipam.allocate('n1', { containerId: '../x', ifname: 'eth0' }), InvalidArgumentError);
  await rejectsA(ipam.allocate('n1', { containerId: 'ok', ifname: 'a/b' }), InvalidArgumentError);
  await rejectsA(ipam.allocate('bad node', pod(1)), InvalidArgumentError);
  await rejectsA(ipam.allocate('n1', pod(1), { ip: 'fd00::1', family: 4 }), InvalidArgumentError);
  assert.is(kv.currentRevision(), revision);
});

blocks('dual-stack: one IP per family per attachment; nodeSelector picks pools', async () => {
  const { ipam } = await setup();
  await ipam.createPool({ name: 'v4', cidr: '10.244.0.0/16' });
  await ipam.createPool({ name: 'v6', cidr: 'fd00:10:244::/56' });
  await ipam.createPool({ name: 'edge', cidr: '10.250.0.0/16', nodeSelector: { zone: 'edge' } });
  const v4 = await ipam.allocate('n1', pod(1));
  const v6 = await ipam.allocate('n1', pod(1), { family: 6 });
  assert.is(v4.pool, 'v4');
  assert.is(v6.pool, 'v6');
  assert.match(v6.ip, /^fd00:10:244:[0-9a-f]+::2$/);
  assert.equal((await ipam.releaseAttachment(pod(1))).released, [v4, v6]);
  assert.equal(await ipam.listBlocks({ pool: 'v6' }).then((b) => b.map((x) => x.allocated)), [0]);
  await ipam.updatePool('v4', { disabled: true });
  await ipam.setNode('edge-1', { zone: 'edge' });
  assert.is((await ipam.allocate('edge-1', pod(2))).pool, 'edge', 'stored labels select the edge pool');
  assert.is((await ipam.allocate('n9', pod(3), { labels: { zone: 'edge' } })).pool, 'edge');
  await rejectsA(ipam.allocate('n9', pod(4), { family: 4 }), IpExhaustedError, /no enabled IPv4 pool selects node n9/);
  assert.is((await ipam.allocate('n9', pod(4))).pool, 'v6', 'with no IPv4 pool left, the default family is IPv6');
});

blocks('release by attachment and by IP; unknown is not an error; no immediate reuse', async () => {
  const { ipam } = await setup();
  await ipam.createPool({ name: 'a', cidr: '10.244.0.0/16' });
  const r1 = await ipam.allocate('n1', pod(1));
  const r2 = await ipam.allocate('n1', pod(2));
  assert.equal((await ipam.releaseAttachment(pod(1))).released, [r1]);
  assert.equal((await ipam.releaseAttachment(pod(1))).released, []);
  assert.equal(await ipam.releaseIp(r2.ip), r2);
  assert.is(await ipam.releaseIp(r2.ip), undefined);
  assert.is(await ipam.releaseIp('192.0.2.1'), undefined);
  const r3 = await ipam.allocate('n1', pod(1));
  assert.not.ok([r1.ip, r2.ip].includes(r3.ip));
  assert.equal((await ipam.check()).problems, []);
});

blocks('a node leaving with pods is refused unless forced', async () => {
  const { ipam } = await setup();
  await ipam.createPool({ name: 'a', cidr: '10.244.0.0/16' });
  const r = await ipam.allocate('n1', pod(1));
  await rejectsA(ipam.releaseNode('n1'), BlockInUseError);
  assert.equal((await ipam.releaseNode('n1', { force: true })).released, [r]);
  assert.equal(await ipam.listBlocks(), []);
  assert.equal((await ipam.releaseAttachment(pod(1))).released, [], 'the handle went with the block');
  assert.equal((await ipam.check()).problems, []);
});

blocks('a pod allocated while its node is being released keeps its IP (refused), or is reported (force)', async () => {
  for (const force of [false, true]) {
    const kv = new ProbeKv();
    const ipam = new ClusterIpam(kv);
    await ipam.createPool({ name: 'a', cidr: '10.244.0.0/16' });
    const block = await ipam.claimBlock('n1'); // empty: releaseNode's first check passes
    allocateBeforeBlockDelete(kv, 'n1', pod(1));
    if (force) {
      const { released } = await ipam.releaseNode('n1', { force: true });
      assert.equal(
        released.map((r) => [r.containerId, r.block]),
        [['c1', block.cidr]],
        'the racing pod is reported',
      );
      assert.equal(await ipam.listBlocks(), []);
      assert.equal((await ipam.check()).problems, []);
    } else {
      assert.is((await rejectsA(ipam.releaseNode('n1'), BlockInUseError)).allocations.length, 1);
      assert.equal(
        (await ipam.listBlocks({ node: 'n1' })).map((b) => [b.cidr, b.allocated]),
        [[block.cidr, 1]],
      );
      assert.is((await ipam.allocate('n1', pod(1))).block, block.cidr, 'the pod still holds its IP');
      assert.equal((await ipam.check()).problems, []);
    }
  }
});

blocks('release by IP and static requests accept any spelling of an IPv6 address', async () => {
  const { ipam } = await setup();
  await ipam.createPool({ name: 'v6', cidr: 'fd00:10:244::/56' });
  const r = await ipam.allocate('n1', pod(1), { ip: 'FD00:10:244:0:0:0:0:0A', family: 6 });
  assert.is(r.ip, 'fd00:10:244::a');
  assert.equal(await ipam.allocate('n1', pod(1), { ip: 'fd00:10:244:0::a' }), r, 'the same static request is idempotent');
  assert.equal(await ipam.releaseIp('FD00:10:244::A'), r);
  assert.equal(await ipam.listBlocks().then((b) => b.map((x) => x.allocated)), [0]);
});

blocks('releaseAttachment refuses a bad attachment before touching the store', async () => {
  const { ipam, kv } = await setup();
  await ipam.createPool({ name: 'a', cidr: '10.244.0.0/16' });
  await ipam.allocate('n1', pod(1));
  const revision = kv.currentRevision();
  await rejectsA(ipam.releaseAttachment({ containerId: '../c1', ifname: 'eth0' }), InvalidArgumentError, /\.\.\/c1/);
  await rejectsA(ipam.releaseAttachment({ containerId: 'c1', ifname: 'eth0/..' }), InvalidArgumentError, /eth0\/\.\./);
  assert.is(kv.currentRevision(), revision);
});

blocks('gc, check and setNode refuse malformed input naming it, and change nothing', async () => {
  const { ipam, kv } = await setup();
  await ipam.createPool({ name: 'a', cidr: '10.244.0.0/16' });
  await ipam.allocate('n1', pod(1));
  const revision = kv.currentRevision();
  const noIfname = { containerId: 'c1' } as never;
  await rejectsA(ipam.gc([noIfname]), InvalidArgumentError, /ifname/);
  await rejectsA(ipam.check({ valid: [noIfname] }), InvalidArgumentError);
  await rejectsA(ipam.setNode('n1', { zone: 5 } as never), InvalidArgumentError, /"zone":5/);
  assert.is(kv.currentRevision(), revision);
  assert.equal((await ipam.gc([pod(1)])).released, []);
});

blocks('store round trips: a warm allocate is one read + one commit, a repeat one read, a release three', async () => {
  const kv = new ProbeKv();
  const ipam = new ClusterIpam(kv);
  await ipam.createPool({ name: 'a', cidr: '10.244.0.0/16' });
  await ipam.allocate('n1', pod(0)); // claims the block, learns where the node's blocks are
  const cost = async (op: () => Promise<unknown>) => {
    const before = kv.calls;
    await op();
    return kv.calls - before;
  };
  assert.is(await cost(() => ipam.allocate('n1', pod(1))), 2);
  assert.is(await cost(() => ipam.allocate('n1', pod(1))), 1);
  assert.is(await cost(() => ipam.releaseAttachment(pod(1))), 3);
  // A second client that has never seen the node needs one more read to find its blocks.
  assert.is(await cost(() => new ClusterIpam(kv).allocate('n1', pod(2))), 3);
  // A lost race costs one more commit and no read: the refused commit re-read what the retry needs.
  let racer = 0;
  kv.beforeCommit = async () => {
    const before = kv.calls;
    await new ClusterIpam(kv).allocate('n1', pod('racer'));
    racer = kv.calls - before;
  };
  const conflicts = kv.conflicts;
  const raced = await cost(() => ipam.allocate('n1', pod(3)));
  assert.is(kv.conflicts, conflicts + 1, 'the race happened');
  assert.is(raced - racer, 3);
  assert.equal((await ipam.check()).problems, []);
});

blocks('8 concurrent clients never hand out one IP twice', async () => {
  const kv = new MemoryKv();
  await new ClusterIpam(kv).createPool({ name: 'a', cidr: '10.244.0.0/22', blockSize: 27 });
  const clients = Array.from({ length: 8 }, () => new ClusterIpam(kv));
  const results = await Promise.all(clients.flatMap((c, i) => Array.from({ length: 20 }, (_, j) => c.allocate(`n${i % 3}`, pod(`${i}-${j}`)))));
  assert.is(new Set(results.map((r) => r.ip)).size, 160);
  assert.ok(kv.conflicts > 0, 'the clients really raced');
  assert.equal((await clients[0]!.check({ nodes: ['n0', 'n1', 'n2'] })).problems, []);
});

blocks.run();

const lifecycle = suite('migration, gc, check, usage');

lifecycle('pool migration: disable A, new pods come from B, A deletable once empty', async () => {
  const { ipam } = await setup();
  await ipam.createPool({ name: 'pool-a', cidr: '10.244.0.0/16' });
  const oldPods = [await ipam.allocate('n1', pod(1)), await ipam.allocate('n1', pod(2)), await ipam.allocate('n2', pod(3))];
  await ipam.createPool({ name: 'pool-b', cidr: '10.245.0.0/16' });
  await ipam.disablePool('pool-a');
  // Existing IPs stay valid (idempotent allocate returns them) and new ones come from B, even on nodes with an A block.
  assert.equal(await ipam.allocate('n1', pod(1)), oldPods[0]);
  const fresh = await ipam.allocate('n1', pod(4));
  assert.is(fresh.pool, 'pool-b');
  assert.equal((await ipam.listBlocks({ node: 'n1' })).map((b) => b.pool).sort(), ['pool-a', 'pool-b']);
  // Deleting A is refused, listing what is still allocated.
  const err = (await rejectsA(ipam.deletePool('pool-a'), PoolInUseError)) as PoolInUseError;
  assert.equal(err.allocations.map((a) => a.ip).sort(), oldPods.map((p) => p.ip).sort());
  assert.ok(await ipam.getPool('pool-a'), 'refusal changed nothing');
  // Pods move: old IPs release normally.
  await ipam.releaseAttachment(pod(1));
  await ipam.releaseIp(oldPods[1]!.ip);
  assert.is((await rejectsA(ipam.deletePool('pool-a'), PoolInUseError)).allocations.length, 1);
  await ipam.releaseAttachment(pod(3));
  const deleted = await ipam.deletePool('pool-a');
  assert.equal(deleted.released, []);
  assert.is(deleted.blocks.length, 2, 'its empty blocks went with it');
  assert.equal(
    (await ipam.listPools()).map((p) => p.name),
    ['pool-b'],
  );
  assert.equal(
    (await ipam.listBlocks()).map((b) => b.pool),
    ['pool-b'],
  );
  assert.equal((await ipam.check()).problems, []);
  await rejectsA(ipam.deletePool('pool-a'), PoolNotFoundError);
});

lifecycle('deletePool is refused when an IP is allocated in the pool while it deletes the empty blocks', async () => {
  const kv = new ProbeKv();
  const ipam = new ClusterIpam(kv);
  await ipam.createPool({ name: 'a', cidr: '10.244.0.0/16' });
  const block = await ipam.claimBlock('n1'); // enabled and empty: deletable when deletePool looks
  allocateBeforeBlockDelete(kv, 'n1', pod(1));
  assert.is((await rejectsA(ipam.deletePool('a'), PoolInUseError)).allocations.length, 1);
  assert.ok(await ipam.getPool('a'), 'the pool is still there');
  assert.equal(
    (await ipam.listBlocks()).map((b) => [b.cidr, b.allocated]),
    [[block.cidr, 1]],
  );
  assert.equal((await ipam.check()).problems, []);
});

lifecycle('a block value with an allocation on its network, gateway or broadcast address is reported corrupt', async () => {
  const { ipam, kv } = await setup();
  await ipam.createPool({ name: 'a', cidr: '10.244.0.0/16' });
  const block = await ipam.claimBlock('n1');
  for (const offset of ['0', '1', '255']) {
    const bad = { cidr: block.cidr, pool: 'a', node: 'n1', allocations: { [offset]: pod(9) }, cursor: null };
    await kv.commit([{ op: 'put', key: keys.block(block.cidr), value: JSON.stringify(bad) }]);
    assert.equal(
      (await ipam.check()).problems.map((p) => [p.kind, p.block, p.node]),
      [['corrupt-entry', block.cidr, 'n1']],
      `offset ${offset}`,
    );
    await rejectsA(ipam.allocate('n1', pod(1)), CorruptEntryError, new RegExp(block.cidr.replace('/', '_')));
  }
});

lifecycle('force-deleting a pool drops and returns its allocations', async () => {
  const { ipam } = await setup();
  await ipam.createPool({ name: 'a', cidr: '10.244.0.0/24', blockSize: 26 });
  const held = [];
  for (let i = 0; i < 70; i++) held.push(await ipam.allocate('n1', pod(i))); // > one commit's worth (60)
  const { released, blocks: gone } = await ipam.deletePool('a', { force: true });
  assert.equal(released.map((r) => r.ip).sort(), held.map((r) => r.ip).sort());
  assert.is(gone.length, 2);
  assert.equal(await ipam.listPools(), []);
  assert.equal((await ipam.releaseAttachment(pod(0))).released, []);
  assert.equal((await ipam.check()).problems, []);
});

lifecycle('gc releases everything not in the valid list (optionally per node)', async () => {
  const { ipam } = await setup();
  await ipam.createPool({ name: 'a', cidr: '10.244.0.0/16' });
  const n1 = [await ipam.allocate('n1', pod(1)), await ipam.allocate('n1', pod(2))];
  const n2 = [await ipam.allocate('n2', pod(3))];
  assert.equal((await ipam.gc([pod(1)], { node: 'n1' })).released, [n1[1]]);
  assert.equal((await ipam.gc([pod(1)])).released, n2);
  assert.equal((await ipam.gc([pod(1)])).released, []);
  assert.equal(await ipam.allocate('n1', pod(1)), n1[0]);
});

lifecycle('check finds orphan blocks, invalid attachments and corrupt entries; releaseReport fixes what it can', async () => {
  const { ipam, kv } = await setup();
  await ipam.createPool({ name: 'a', cidr: '10.244.0.0/16' });
  const live = await ipam.allocate('n1', pod(1));
  const leaked = await ipam.allocate('n1', pod(2));
  const orphan = await ipam.allocate('gone', pod(3));
  await kv.commit([{ op: 'put', key: `${keys.handles}zz/eth0`, value: 'not json' }]);
  const report = await ipam.check({ nodes: ['n1'], valid: [pod(1), pod(3)] });
  const kinds = report.problems.map((p) => `${p.kind}:${p.ip ?? p.block ?? ''}`).sort();
  assert.equal(kinds, [`corrupt-entry:`, `invalid-attachment:${leaked.ip}`, `orphan-block:${orphan.block}`].sort());
  const fixed = await ipam.releaseReport(report);
  assert.equal(fixed.released.map((r) => r.ip).sort(), [leaked.ip, orphan.ip].sort());
  assert.equal(
    fixed.skipped.map((p) => p.kind),
    ['corrupt-entry'],
  );
  assert.equal(await ipam.listBlocks({ node: 'gone' }), []);
  assert.equal(await ipam.allocate('n1', pod(1)), live);
  const after = await ipam.check({ nodes: ['n1'], valid: [pod(1)] });
  assert.equal(
    after.problems.map((p) => p.kind),
    ['corrupt-entry'],
  );
});

lifecycle('check reports blocks outside any pool and duplicate IPs', async () => {
  const { ipam, kv } = await setup();
  await ipam.createPool({ name: 'a', cidr: '10.244.0.0/16' });
  const r = await ipam.allocate('n1', pod(1));
  // Simulate a pool deleted behind our back and an overlapping block written by a broken client.
  await kv.commit([{ op: 'delete', key: keys.pool('a') }]);
  const dup = { cidr: '10.244.0.0/16', pool: 'x', node: 'n2', allocations: { [Cidr.parse('10.244.0.0/16').offsetOf(r.ip).toString()]: pod(9) }, cursor: null };
  await kv.commit([
    { op: 'put', key: keys.block(dup.cidr), value: JSON.stringify(dup) },
    { op: 'put', key: keys.affinity('n2', dup.cidr), value: 'x' },
  ]);
  const kinds = new Set((await ipam.check()).problems.map((p) => p.kind));
  assert.ok(kinds.has('outside-pools'));
  assert.ok(kinds.has('duplicate-ip'));
});

lifecycle('usage counts usable addresses per pool and block', async () => {
  const { ipam } = await setup();
  await ipam.createPool({ name: 'a', cidr: '10.244.0.0/24', blockSize: 26 });
  await ipam.createPool({ name: 'b', cidr: '10.245.0.0/16', disabled: true });
  for (let i = 0; i < 3; i++) await ipam.allocate('n1', pod(i));
  const usage = await ipam.usage();
  const a = usage.pools.find((p) => p.name === 'a')!;
  assert.equal({ size: a.size, allocated: a.allocated, free: a.free }, { size: 4 * 61, allocated: 3, free: 4 * 61 - 3 });
  assert.equal(
    a.blocks.map((b) => [b.node, b.size, b.allocated, b.free]),
    [['n1', 61, 3, 58]],
  );
  assert.equal(usage.pools.find((p) => p.name === 'b')?.allocated, 0);
});

lifecycle.run();

const corrupt = suite('one corrupt block does not stop the cluster');

/** Pods c1 on n1 and c2 on n2, then n2's block overwritten with something that is not a block. */
async function withCorruptBlock() {
  const { ipam, kv } = await setup();
  await ipam.createPool({ name: 'a', cidr: '10.244.0.0/16' });
  const good = await ipam.allocate('n1', pod(1));
  const bad = await ipam.allocate('n2', pod(2));
  await kv.commit([{ op: 'put', key: keys.block(bad.block!), value: '{not json' }]);
  const skipped = [['corrupt-entry', bad.block, 'n2']];
  const where = (problems: { kind: string; block?: string; node?: string }[]) => problems.map((p) => [p.kind, p.block, p.node]);
  return { ipam, kv, good, bad, skipped, where };
}

corrupt('gc, scoped to another node or not, releases what it can and reports the corrupt block', async () => {
  const { ipam, good, skipped, where } = await withCorruptBlock();
  const scoped = await ipam.gc([], { node: 'n1' });
  assert.equal(scoped.released, [good]);
  assert.equal(where(scoped.skipped), skipped);
  assert.equal(where((await ipam.gc([])).skipped), skipped);
});

corrupt('usage counts the readable blocks and reports the corrupt one', async () => {
  const { ipam, skipped, where } = await withCorruptBlock();
  const usage = await ipam.usage();
  assert.equal(
    usage.pools.map((p) => [p.allocated, p.blocks.length]),
    [[1, 1]],
  );
  assert.equal(where(usage.skipped), skipped);
});

corrupt('releaseAttachment releases nothing from a corrupt block, reports it, and keeps the handle entry for it', async () => {
  const { ipam, good, skipped, where } = await withCorruptBlock();
  const result = await ipam.releaseAttachment(pod(2));
  assert.equal(result.released, []);
  assert.equal(where(result.skipped), skipped);
  assert.equal((await ipam.releaseAttachment(pod(1))).released, [good], 'other attachments release normally');
});

corrupt('releaseNode and deletePool refuse with CorruptEntryError, and with force skip and report it', async () => {
  const { ipam, good, bad, skipped, where } = await withCorruptBlock();
  assert.is((await rejectsA(ipam.releaseNode('n2'), CorruptEntryError)).kind, 'internal');
  const node = await ipam.releaseNode('n2', { force: true });
  assert.equal([node.released, where(node.skipped)], [[], skipped]);
  await rejectsA(ipam.deletePool('a'), CorruptEntryError);
  const pool = await ipam.deletePool('a', { force: true });
  assert.equal([pool.released, where(pool.skipped), pool.blocks], [[good], skipped, [good.block]]);
  assert.equal(await ipam.listPools(), []);
  assert.equal(where((await ipam.check()).problems), [['corrupt-entry', bad.block, 'n2']], 'the block is still there for a human');
});

corrupt('check reports a corrupt block once, naming block and node, not its affinity or the handles into it', async () => {
  const { ipam, skipped, where } = await withCorruptBlock();
  assert.equal(where((await ipam.check()).problems), skipped);
});

corrupt.run();

const reads = suite('read API: who holds an address, which pods are in a block or on a node');

reads('holder and reservations, by block, by node, and for borrowed IPs', async () => {
  const { ipam } = await setup({ strictAffinity: false });
  await ipam.createPool({ name: 'tiny', cidr: '10.0.0.0/28', blockSize: 29 }); // two blocks of 5
  const n1 = [];
  for (let i = 0; i < 5; i++) n1.push(await ipam.allocate('n1', pod(`a${i}`)));
  const n2 = [];
  for (let i = 0; i < 4; i++) n2.push(await ipam.allocate('n2', pod(`b${i}`)));
  const borrowed = await ipam.allocate('n3', pod('c')); // no block left: borrows n2's last address
  assert.is(borrowed.block, n2[0]!.block);
  assert.equal(await ipam.holder(n1[2]!.ip), n1[2]);
  assert.equal(await ipam.holder(borrowed.ip), borrowed);
  assert.is(await ipam.holder('10.0.0.1'), undefined, 'a gateway is held by nobody');
  assert.is(await ipam.holder('192.0.2.1'), undefined, 'outside every block');
  assert.equal(await ipam.reservations({ cidr: n1[0]!.block }), n1);
  assert.equal(await ipam.reservations({ cidr: n2[0]!.block }), [...n2, borrowed]);
  assert.equal(await ipam.reservations({ node: 'n3' }), [borrowed]);
  assert.equal(await ipam.reservations({ node: 'n2', cidr: n1[0]!.block }), []);
  assert.is((await ipam.reservations()).length, 10);
});

reads.run();

const nodeView = suite("forNode: one node's PodIpam");

nodeView('dual-stack by families; a failed ADD gives back what it reserved and keeps what was held before', async () => {
  const { ipam } = await setup();
  await ipam.createPool({ name: 'v4', cidr: '10.244.0.0/16' });
  const node = ipam.forNode('n1', { families: [4, 6] });
  await rejectsA(node.allocate(pod(1)), IpExhaustedError); // no IPv6 pool yet
  assert.equal(await node.reservations(), [], 'the IPv4 address of the failed ADD was given back');
  const v4 = await ipam.allocate('n1', pod(2));
  await rejectsA(node.allocate(pod(2)), IpExhaustedError);
  assert.equal(await node.reservations(), [v4], 'an address held before the failed ADD stays');
  await ipam.createPool({ name: 'v6', cidr: 'fd00:10:244::/56' });
  const both = await node.allocate(pod(2));
  assert.equal(
    both.map((a) => [a.ip === v4.ip, a.prefixLen, a.gateway.includes(':')]),
    [
      [true, 24, false],
      [false, 64, true],
    ],
  );
});

nodeView.run();
