// NexthopIds: a key's id is its FNV-1a hash in netboot's range, the same in every version (a peer
// keeps its nexthop ids across restarts and upgrades, so nothing is rewritten for a new number).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NEXTHOP_IDS, NexthopIds } from '../src/nexthops.js';

test('ids are pinned: the FNV-1a (32-bit) of the key "PEER FAMILY SLOT", modulo the range', () => {
  const ids = new NexthopIds();
  const pinned: [string, 4 | 6, number, number][] = [
    ['n2', 4, 0, 0x4edc2cb5],
    ['node-1', 6, 0, 0x4e448cf5],
    ['worker-17.example.com', 4, 1, 0x4ef6313e],
    ['ü', 4, 0, 0x4e9ae697],
    // A slot of two digits: the key's text is 'n2 4 12'.
    ['n2', 4, 12, NEXTHOP_IDS.first + (fnv1a('n2 4 12') % 0x1000000)],
  ];
  for (const [peer, family, slot, id] of pinned) assert.is(ids.take(peer, family, slot).toString(16), id.toString(16), `${peer} ${family} ${slot}`);
});

test('a key hashing to a taken id gets the next free one; a released id is free again', () => {
  const ids = new NexthopIds();
  // 'p21342284 4 0' hashes to the same offset as 'n2 4 0'.
  assert.is(ids.take('n2', 4, 0), 0x4edc2cb5);
  assert.is(ids.take('p21342284', 4, 0), 0x4edc2cb6);
  ids.release(0x4edc2cb5);
  assert.is(ids.take('n2', 4, 0), 0x4edc2cb5, 'the freed id is its again');
  assert.is(ids.take('p21342284', 4, 0), 0x4edc2cb7, 'held ids are skipped');
  ids.clear();
  assert.is(ids.take('p21342284', 4, 0), 0x4edc2cb5, 'after clear() its hash is free');
  for (const peer of ['a', 'b', 'c']) {
    const id = ids.take(peer, 6, 3);
    assert.ok(id >= NEXTHOP_IDS.first && id <= NEXTHOP_IDS.last);
  }
});

/** FNV-1a (32-bit) of a string's UTF-16 code units, written out here to check the ids against. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

test.run();
