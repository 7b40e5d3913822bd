// The nf_tables set-element encoder against what nft itself sends (golden/nft/*.hex, from
// golden/capture-nft.sh), and its refusals of elements nft would refuse too.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeMessages, encodeMessage, type Attrs, type NlMessage } from '../src/netlink/codec.js';
import * as C from '../src/netlink/generated/index.js';
import { NftElementError, setElementRequests, type NftElement } from '../src/nft.js';
import { throwsA } from '../src/public/testing.js';

const golden = (slug: string): Buffer =>
  Buffer.from(
    readFileSync(join(import.meta.dirname, 'golden', 'nft', `${slug}.hex`), 'utf8')
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .join(''),
    'hex',
  );

/** nft's message without NFTA_SET_ELEM_LIST_SET_ID (its transaction handle; an existing set is found by name). */
function withoutSetId(bytes: Buffer): string {
  const [m] = decodeMessages(bytes) as [NlMessage];
  const { NFTA_SET_ELEM_LIST_SET_ID: _, ...attrs } = m.attrs;
  return encodeMessage({ ...m, attrs: attrs as Attrs }).toString('hex');
}

const ours = (verb: 'add' | 'delete', set: string, elements: NftElement[]): string[] =>
  setElementRequests(verb, { family: 'inet', table: 'netboot-cni', set }, elements).map((r, seq) =>
    encodeMessage({ ...r, flags: C.NLM_F_REQUEST | (r.flags ?? 0), seq, pid: 0 }).toString('hex'),
  );

const cases: [string, 'add' | 'delete', string, NftElement[]][] = [
  ['add-element-v4', 'add', 'pods4', [{ key: '10.244.1.5' }]],
  ['add-element-v6', 'add', 'pods6', [{ key: 'fd00::5' }]],
  ['add-element-comment', 'add', 'pods4', [{ key: '10.244.1.6', comment: 'net1 veth1234' }]],
  ['delete-element-v4', 'delete', 'pods4', [{ key: '10.244.1.5' }]],
  ['add-element-interval', 'add', 'nets4', [{ key: '10.244.1.0/24' }]],
];
for (const [slug, verb, set, elements] of cases) {
  test(`${slug}: the change is nft's bytes`, () => {
    const [, change] = ours(verb, set, elements);
    const zeroSeq = (hex: string) => `${hex.slice(0, 16)}00000000${hex.slice(24)}`;
    // nft numbers the element nests 1, 2, …; the kernel reads every nest whatever its type
    // (nla_for_each_nested), and netboot sends NFTA_LIST_ELEM (1) for each.
    const expected = withoutSetId(golden(slug)).replace('1800028008000300', '1800018008000300');
    assert.is(zeroSeq(change!), expected);
  });
}

test('the change is wrapped in BATCH_BEGIN / BATCH_END addressed to nf_tables, as nft sends them', () => {
  const [begin, , end] = ours('add', 'pods4', [{ key: '10.244.1.5' }]);
  // nlmsghdr (len 20, type 16/17, NLM_F_REQUEST, seq) + nfgenmsg { AF_UNSPEC, NFNETLINK_V0, htons(10) }
  assert.is(begin, '14000000100001000000000000000000' + '0000000a');
  assert.is(end, '14000000110001000200000000000000' + '0000000a');
});

test('several elements go in one message; a prefix reaching the end of the space has no end element', () => {
  const [req] = setElementRequests('add', { family: 'ip', table: 't', set: 's' }, [{ key: '10.0.0.1' }, { key: '224.0.0.0/3' }]).slice(1);
  const elems = (req!.attrs.NFTA_SET_ELEM_LIST_ELEMENTS as Attrs).NFTA_LIST_ELEM as Attrs[];
  assert.is(elems.length, 2);
  assert.is(req!.header.nfgen_family, C.NFPROTO_IPV4);
});

test('bad keys and over-long comments are refused before anything is sent', () => {
  throwsA(() => setElementRequests('add', { family: 'inet', table: 't', set: 's' }, [{ key: '10.0.0.300' }]), NftElementError, /10\.0\.0\.300/);
  throwsA(() => setElementRequests('add', { family: 'inet', table: 't', set: 's' }, [{ key: '10.0.0.0/40' }]), NftElementError);
  throwsA(() => setElementRequests('add', { family: 'inet', table: 't', set: 's' }, [{ key: '10.0.0.1', comment: 'x'.repeat(255) }]), NftElementError, /254/);
});

test.run();
