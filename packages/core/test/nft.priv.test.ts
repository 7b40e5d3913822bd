// Nft against the kernel: elements added and removed over netlink are what `nft -j list set` shows in
// the test's namespace, and the kernel's refusals come back with their words and a kind.
import { test as uvuTest } from 'uvu';
import * as assert from 'uvu/assert';
import { NetlinkError } from '../src/netlink/errors.js';
import { Nft, type NftSetRef } from '../src/nft.js';
import { privileged, sh, throwsA, withNetns } from '../src/public/testing.js';

const test = privileged(uvuTest);

// One `nft` argument holds several commands separated by `;`.
const SETUP = [
  'add table inet t',
  'add set inet t pods4 { type ipv4_addr; }',
  'add set inet t pods6 { type ipv6_addr; }',
  'add set inet t nets4 { type ipv4_addr; flags interval; }',
].join('; ');
const set = (name: string): NftSetRef => ({ family: 'inet', table: 't', set: name });

/** `nft -j list set inet t NAME` elements: plain strings, or `{val, comment}` / `{prefix}` objects. */
function listed(ns: Parameters<typeof sh>[0], name: string): unknown[] {
  const out = JSON.parse(sh(ns, 'nft', '-j', 'list', 'set', 'inet', 't', name)) as { nftables: { set?: { elem?: unknown[] } }[] };
  return (out.nftables.find((i) => i.set)!.set!.elem ?? []).map((e) => {
    const w = (e as { elem?: { val: unknown; comment?: string } }).elem;
    return w ? { val: w.val, comment: w.comment } : e;
  });
}

test('elements added over netlink are listed by nft; deleted ones are gone', async () => {
  await withNetns(1, (ns) => {
    sh(ns, 'nft', SETUP);
    using nft = Nft.open({ netns: ns });
    nft.addElements(set('pods4'), [{ key: '10.244.1.5' }, { key: '10.244.1.6', comment: 'net1 veth1234' }]);
    nft.addElements(set('pods6'), [{ key: 'fd00::5' }]);
    nft.addElements(set('nets4'), [{ key: '10.244.1.0/24' }]);
    nft.addElements(set('nets4'), [{ key: '10.244.1.0/24' }]); // again: kept, not refused
    assert.equal(listed(ns, 'pods4'), ['10.244.1.5', { val: '10.244.1.6', comment: 'net1 veth1234' }]);
    assert.equal(listed(ns, 'pods6'), ['fd00::5']);
    assert.equal(listed(ns, 'nets4'), [{ prefix: { addr: '10.244.1.0', len: 24 } }]);
    nft.deleteElements(set('pods4'), [{ key: '10.244.1.5' }]);
    assert.equal(listed(ns, 'pods4'), [{ val: '10.244.1.6', comment: 'net1 veth1234' }]);
  });
});

test('a missing set or element is not-found with the errno; a wrong family is invalid; nothing half-done', async () => {
  await withNetns(1, (ns) => {
    using nft = Nft.open({ netns: ns });
    let e = throwsA(() => nft.addElements(set('pods4'), [{ key: '10.244.1.5' }]), NetlinkError, /ENOENT/);
    assert.is(e.kind, 'not-found');
    sh(ns, 'nft', SETUP);
    e = throwsA(() => nft.deleteElements(set('pods4'), [{ key: '10.244.1.9' }]), NetlinkError, /NFT_MSG_DELSETELEM: ENOENT/);
    assert.is(e.kind, 'not-found');
    // one bad element (IPv6 key in an ipv4_addr set) fails the whole transaction
    e = throwsA(() => nft.addElements(set('pods4'), [{ key: '10.244.1.7' }, { key: 'fd00::7' }]), NetlinkError);
    assert.is(e.kind, 'invalid');
    assert.equal(listed(ns, 'pods4'), []);
  });
});

test('apply changes several sets in one transaction, all or nothing; listElements reads them back with comments', async () => {
  await withNetns(1, (ns) => {
    using nft = Nft.open({ netns: ns });
    throwsA(() => nft.listElements(set('pods4')), NetlinkError, /ENOENT/);
    sh(ns, 'nft', SETUP);
    assert.equal(nft.listElements(set('pods4')), []);
    nft.apply([
      { verb: 'add', ref: set('nets4'), elements: [{ key: '10.244.1.0/24' }] },
      { verb: 'add', ref: set('pods4'), elements: [{ key: '10.244.1.5', comment: 'net1 veth1234' }, { key: '10.244.1.6' }] },
      { verb: 'add', ref: set('pods6'), elements: [] },
    ]);
    assert.equal(listed(ns, 'nets4'), [{ prefix: { addr: '10.244.1.0', len: 24 } }]);
    assert.equal(
      nft.listElements(set('pods4')).sort((a, b) => a.key.localeCompare(b.key)),
      [{ key: '10.244.1.5', comment: 'net1 veth1234' }, { key: '10.244.1.6' }],
    );
    // the second change fails (no such element), so the first is not applied either
    const e = throwsA(
      () =>
        nft.apply([
          { verb: 'delete', ref: set('pods4'), elements: [{ key: '10.244.1.5' }] },
          { verb: 'delete', ref: set('pods6'), elements: [{ key: 'fd00::9' }] },
        ]),
      NetlinkError,
      /ENOENT/,
    );
    assert.is(e.kind, 'not-found');
    assert.equal(listed(ns, 'pods4'), [{ val: '10.244.1.5', comment: 'net1 veth1234' }, '10.244.1.6']);
    nft.addElements(set('pods6'), [{ key: 'fd00::5', comment: 'x' }]);
    assert.equal(nft.listElements(set('pods6')), [{ key: 'fd00::5', comment: 'x' }]);
  });
});

test.run();
