// Message types and the schema: policy-routing rules (RTM_*RULE: fib_rule_hdr + FRA_*) encode and
// decode like the other families; a type the schema does not know is refused before anything is
// written, instead of going out as a bare 16-byte header the kernel would acknowledge; attributes
// newer than the headers are named from newer-attrs.ts, and the rest stay `#<n>`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeMessages, encodeMessage, MessageWriter, type NlMessage } from '../src/netlink/codec.js';
import { NetlinkEncodeError } from '../src/netlink/errors.js';
import * as C from '../src/netlink/generated/index.js';
import { NEWER_ATTRS } from '../src/netlink/newer-attrs.js';
import { throwsA } from '../src/public/testing/pure.js';
import { linkAttrs } from '../src/netlink/schema.js';

const msg = (m: Partial<NlMessage> & Pick<NlMessage, 'type'>): NlMessage => ({ flags: 0, seq: 0, pid: 0, header: {}, attrs: {}, ...m });

const rule = msg({
  type: C.RTM_NEWRULE,
  flags: C.NLM_F_REQUEST | C.NLM_F_ACK | C.NLM_F_CREATE | C.NLM_F_EXCL,
  header: { family: C.AF_INET, src_len: 16, table: 100, action: C.FR_ACT_TO_TBL },
  attrs: {
    FRA_SRC: '10.244.0.0',
    FRA_PRIORITY: 1000,
    FRA_FWMARK: 0x10,
    FRA_FWMASK: 0xff,
    FRA_IIFNAME: 'cni0',
    FRA_UID_RANGE: { start: 1000, end: 2000 },
    FRA_DPORT_RANGE: { start: 80, end: 443 },
    FRA_PROTOCOL: 200,
  },
});

test('RTM_NEWRULE: fib_rule_hdr and FRA_* attributes go on the wire and come back', () => {
  const bytes = encodeMessage(rule);
  assert.ok(bytes.length > 16 + C.fib_rule_hdr.size, `header and attributes were written (${bytes.length} bytes)`);
  assert.is(bytes[16 + C.fib_rule_hdr.fields.table.offset], 100);
  assert.is(bytes[16 + C.fib_rule_hdr.fields.action.offset], C.FR_ACT_TO_TBL);
  const [back] = decodeMessages(bytes);
  assert.is(back!.header.src_len, 16);
  assert.equal(back!.attrs, rule.attrs);
  assert.ok(encodeMessage(back!).equals(bytes), 'and re-encode to the same bytes');
});

test('`ip rule add from 10.244.0.0/16 table 100 priority 1000`: the same bytes iproute2 sent (golden/rule/add-from)', () => {
  const text = readFileSync(join(import.meta.dirname, 'golden', 'rule', 'add-from.hex'), 'utf8');
  const golden = Buffer.from(
    text
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .join(''),
    'hex',
  );
  const ours = encodeMessage(
    msg({
      type: C.RTM_NEWRULE,
      flags: C.NLM_F_REQUEST | C.NLM_F_ACK | C.NLM_F_CREATE | C.NLM_F_EXCL,
      header: { family: C.AF_INET, src_len: 16, table: 100, action: C.FR_ACT_TO_TBL },
      attrs: { FRA_SRC: '10.244.0.0', FRA_PRIORITY: 1000 },
    }),
  );
  assert.is(ours.toString('hex'), golden.toString('hex'));
});

test('every rule message type has the schema: DEL and GET too', () => {
  for (const type of [C.RTM_DELRULE, C.RTM_GETRULE]) {
    const [back] = decodeMessages(encodeMessage({ ...rule, type }));
    assert.is(back!.attrs.FRA_PRIORITY, 1000);
  }
});

test('an attribute rules do not have is an error naming it', () => {
  const e = throwsA(() => encodeMessage({ ...rule, attrs: { RTA_DST: '10.0.0.0' } }), NetlinkEncodeError, /RTA_DST/);
  assert.match(e.message, /FRA/);
});

test('a type without a schema is refused (NetlinkEncodeError, kind invalid) and nothing is written', () => {
  const w = new MessageWriter(64);
  for (const m of [
    msg({ type: C.RTM_NEWQDISC, header: { tcm_family: 0 } }),
    msg({ type: C.RTM_NEWQDISC, attrs: { TCA_KIND: 'fq' } }),
    msg({ type: C.RTM_GETQDISC }), // a bare header: exactly what the kernel would have acknowledged
    msg({ type: 0x1234 }),
  ]) {
    assert.is(throwsA(() => w.append(m, C.NLM_F_REQUEST, 1, 0), NetlinkEncodeError, /no schema/, `type ${m.type}`).kind, 'invalid');
    assert.is(w.length, 0);
  }
});

test('the escape hatch stays: a body given as raw `payload`, and control messages, still encode', () => {
  const payload = Buffer.from([0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  const bytes = encodeMessage(msg({ type: C.RTM_GETQDISC, payload }));
  assert.is(bytes.length, 16 + payload.length);
  assert.equal(decodeMessages(bytes)[0]!.payload, payload, 'and decodes back to the same payload');
  assert.is(encodeMessage(msg({ type: C.NLMSG_NOOP })).length, 16, 'NLMSG_NOOP (the batch fence) has no body');
});

test('newer-attrs.ts: every entry sits in its table under its number, none clashes with the headers', () => {
  assert.ok(NEWER_ATTRS.IFLA, 'the link table has newer attributes');
  for (const [attr, newer] of Object.entries(NEWER_ATTRS.IFLA!)) {
    assert.is(linkAttrs.byName.get(attr)?.type, newer.type, attr);
    assert.is(linkAttrs.byType[newer.type]?.name, attr, `${attr}: nothing else holds ${newer.type}`);
    assert.match(newer.since, /^\d+\.\d+$/);
  }
  const generated = C as unknown as Record<string, unknown>;
  for (const table of Object.values(NEWER_ATTRS)) {
    for (const [attr, newer] of Object.entries(table)) {
      if (attr in generated) assert.is(generated[attr], newer.type, `${attr}: the headers agree`);
    }
  }
});

test.run();
