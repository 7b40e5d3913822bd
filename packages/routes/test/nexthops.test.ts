// NexthopIds: a key's id is its FNV-1a hash in netboot's range, the same in every version (a peer
// keeps its nexthop ids across restarts and upgrades, so nothing is rewritten for a new number).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NEXTHOP_IDS, NexthopIds } from '../src/nexthops.js';

test('ids are pinned: the FNV-1a (32-bit) of the key, modulo the range', () => {
  const ids = new NexthopIds();
  const pinned: [string, number][] = [
    ['n2 4 0', 0x4edc2cb5],
    ['node-1 6 0', 0x4e448cf5],
    ['worker-17.example.com 4 1', 0x4ef6313e],
    ['', 0x4e1c9dc5],
    ['ü 4 0', 0x4e9ae697],
  ];
  for (const [key, id] of pinned) assert.is(ids.take(key).toString(16), id.toString(16), JSON.stringify(key));
  for (const [key, id] of pinned) assert.is(ids.peek(key), id, `${JSON.stringify(key)} keeps its id`);
});

test('a key hashing to a taken id gets the next free one, and keeps it until released', () => {
  const ids = new NexthopIds();
  // 'p21342284 4 0' hashes to the same offset as 'n2 4 0'.
  assert.is(ids.take('n2 4 0'), 0x4edc2cb5);
  assert.is(ids.take('p21342284 4 0'), 0x4edc2cb6);
  assert.is(ids.take('p21342284 4 0'), 0x4edc2cb6);
  ids.release('n2 4 0');
  assert.is(ids.peek('n2 4 0'), undefined);
  assert.is(ids.peek('p21342284 4 0'), 0x4edc2cb6);
  assert.is(ids.take('n2 4 0'), 0x4edc2cb5, 'the freed id is its again');
  for (const k of ['a', 'b', 'c']) {
    const id = ids.take(k);
    assert.ok(id >= NEXTHOP_IDS.first && id <= NEXTHOP_IDS.last);
  }
});

test.run();
