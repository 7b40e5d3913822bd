// MemoryKv's prefix reads cost O(log n + matches), not a scan of every key: ClusterIpam reads a block's
// or a node's prefix on every allocation, so a scan made a /16 quadratic. Keys visited are counted, not time.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { errorKind, NetbootError } from '@netboot/core/errors';
import { MemoryKv } from '../src/store/memory.js';

const PREFIXES = 200;
const EACH = 50; // 10 000 keys

async function filled(): Promise<MemoryKv> {
  const kv = new MemoryKv();
  // Written in an order unlike the sorted one, so the index has to sort.
  for (let i = EACH - 1; i >= 0; i--) {
    await kv.commit(Array.from({ length: PREFIXES }, (_, p) => ({ op: 'put' as const, key: `/blocks/${(p * 7919) % PREFIXES}/${i}`, value: `${i}` })));
  }
  return kv;
}

test(`a prefix read among ${PREFIXES * EACH} keys visits about log2(n) + its matches`, async () => {
  const kv = await filled();
  const bound = EACH + Math.ceil(Math.log2(PREFIXES * EACH)) + 2;
  const visits = async (read: () => Promise<unknown>) => {
    const before = kv.keysVisited;
    await read();
    return kv.keysVisited - before;
  };
  let got: string[] = [];
  const listed = await visits(async () => (got = (await kv.list('/blocks/17/')).map((e) => e.key)));
  assert.is(got.length, EACH);
  assert.equal(got, [...got].sort(), 'sorted by key');
  assert.ok(got.every((k) => k.startsWith('/blocks/17/')));
  assert.ok(listed <= bound, `list visited ${listed} keys (bound ${bound})`);
  const batched = await visits(() => kv.readMany([{ prefix: '/blocks/199/' }, { key: '/blocks/3/4' }, { prefix: '/nothing/' }]));
  assert.ok(batched <= bound + Math.ceil(Math.log2(PREFIXES * EACH)) + 2, `readMany visited ${batched} keys`);
});

test('the index follows puts and deletes: reads match a plain filter of the live keys', async () => {
  const kv = await filled();
  const live = new Set<string>();
  for (let p = 0; p < PREFIXES; p++) for (let i = 0; i < EACH; i++) live.add(`/blocks/${p}/${i}`);
  // Delete every third key (one commit), overwrite some (no new key), add keys that sort between others.
  const dead = [...live].filter((_, n) => n % 3 === 0);
  await kv.commit(dead.map((key) => ({ op: 'delete' as const, key })));
  for (const key of dead) live.delete(key);
  await kv.commit([
    { op: 'put', key: '/blocks/1/1', value: 'again' },
    { op: 'put', key: '/blocks/1/', value: 'edge' },
    { op: 'put', key: '/blocks/10', value: 'x' },
  ]);
  live.add('/blocks/1/1').add('/blocks/1/').add('/blocks/10');
  for (const prefix of ['/blocks/1', '/blocks/1/', '/blocks/10', '/', '', '/blocks/199/4', '/zzz']) {
    const want = [...live].filter((k) => k.startsWith(prefix)).sort();
    assert.equal(
      (await kv.list(prefix)).map((e) => e.key),
      want,
      `prefix ${JSON.stringify(prefix)}`,
    );
  }
  assert.is((await kv.get('/blocks/1/1'))?.value, 'again');
});

test('a closed MemoryKv refuses every call with a NetbootError (kind internal: using it is a bug)', async () => {
  const kv = new MemoryKv();
  await kv.close();
  for (const call of [() => kv.get('/a'), () => kv.list('/'), () => kv.readMany([{ key: '/a' }]), () => kv.commit([])]) {
    const e = await call().then(
      () => undefined,
      (err: unknown) => err,
    );
    assert.ok(e instanceof NetbootError, String(e));
    assert.is(errorKind(e), 'internal');
  }
});

test.run();
