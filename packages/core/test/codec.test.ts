// Codec behaviour the golden fixtures do not pin down: address formatting, wire details kept for
// exact round trips, and the typed errors for bad input and bad bytes.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeMessages, encodeMessage, MessageWriter, WIRE, type Attrs, type NlMessage } from '../src/netlink/codec.js';
import { formatIPv6, writeIp } from '../src/base/ip.js';
import { NetlinkDecodeError, NetlinkEncodeError } from '../src/netlink/errors.js';
import * as C from '../src/netlink/generated/index.js';
import { throwsA } from '../src/public/testing/pure.js';

const route = (attrs: Attrs, header: Record<string, number> = {}): NlMessage => ({
  type: C.RTM_NEWROUTE,
  flags: C.NLM_F_REQUEST,
  seq: 1,
  pid: 0,
  header: { rtm_family: C.AF_INET, rtm_dst_len: 24, rtm_table: C.RT_TABLE_MAIN, ...header },
  attrs,
});

// ---------------------------------------------------------------------------------------------
const addresses = suite('addresses');

addresses('IPv6 text matches inet_ntop (what `ip` prints)', () => {
  const cases: [string, string][] = [
    ['00000000000000000000000000000000', '::'],
    ['00000000000000000000000000000001', '::1'],
    ['fe800000000000000000000000000001', 'fe80::1'],
    ['20010db8000000000001000000000001', '2001:db8::1:0:0:1'], // first of two equal runs
    ['20010db8000000010000000000000001', '2001:db8:0:1::1'],
    ['00010000000200030004000500060007', '1:0:2:3:4:5:6:7'], // a single zero group stays
    ['00010000000000000000000000000000', '1::'],
    ['00000000000000000000ffff01020304', '::ffff:1.2.3.4'], // IPv4-mapped
    ['00000000000000000000000001020304', '::1.2.3.4'], // IPv4-compatible (glibc still dots it)
    ['fd00abcd00000000000000000000ffff', 'fd00:abcd::ffff'],
  ];
  for (const [hex, text] of cases) {
    assert.is(formatIPv6(Buffer.from(hex, 'hex'), 0), text, hex);
    const back = Buffer.alloc(16);
    assert.is(writeIp(text, back, 0), 16, text);
    assert.is(back.toString('hex'), hex, `${text} parses back`);
  }
});

addresses('rejects what is not an address', () => {
  const b = Buffer.alloc(16);
  for (const bad of [
    '',
    '10.0.0',
    '10.0.0.256',
    '10.0.0.1.2',
    '010.0.0.1',
    '1.2.3.x',
    ':::',
    '1::2::3',
    '12345::',
    'g::1',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7',
  ]) {
    assert.is(writeIp(bad, b, 0), -1, JSON.stringify(bad));
  }
});

addresses.run();

// ---------------------------------------------------------------------------------------------
const wire = suite('wire details survive a round trip');

wire('unknown attributes are kept as #<type> with their bytes', () => {
  const raw = encodeMessage(route({ RTA_DST: '10.1.0.0', '#200': Buffer.from('abcdef', 'hex'), RTA_OIF: 3 }));
  const [m] = decodeMessages(raw);
  assert.equal(Object.keys(m!.attrs), ['RTA_DST', '#200', 'RTA_OIF'], 'wire order kept');
  assert.equal(m!.attrs['#200'], Buffer.from('abcdef', 'hex'));
  assert.is(encodeMessage(m!).toString('hex'), raw.toString('hex'));
});

wire('NLA_F_NESTED is reproduced where the wire had it, and noted out of sight', () => {
  const plain = encodeMessage({
    type: C.RTM_NEWLINK,
    flags: C.NLM_F_REQUEST,
    seq: 0,
    pid: 0,
    header: {},
    attrs: { IFLA_IFNAME: 'x', IFLA_LINKINFO: { IFLA_INFO_KIND: 'bridge' } },
  });
  // Set NLA_F_NESTED on IFLA_LINKINFO by hand: it is the attribute after IFLA_IFNAME ("x\0" → 8 bytes).
  const flagged = Buffer.from(plain);
  const at = 16 + 16 + 8 + 2;
  flagged.writeUInt16LE(flagged.readUInt16LE(at) | C.NLA_F_NESTED, at);
  const [m] = decodeMessages(flagged);
  assert.equal(m!.attrs.IFLA_LINKINFO, { IFLA_INFO_KIND: 'bridge' }, 'the flag does not show in values');
  assert.equal((m!.attrs as Attrs & { [WIRE]?: unknown })[WIRE], { IFLA_LINKINFO: { flags: C.NLA_F_NESTED } });
  assert.is(encodeMessage(m!).toString('hex'), flagged.toString('hex'));
  assert.is(JSON.stringify(m!.attrs).includes('flags'), false);
});

/** One attribute on the wire, padded. */
function nla(type: number, payload: Buffer): Buffer {
  const b = Buffer.alloc((4 + payload.length + 3) & ~3);
  b.writeUInt16LE(4 + payload.length, 0);
  b.writeUInt16LE(type, 2);
  payload.copy(b, 4);
  return b;
}
/** One message on the wire: nlmsghdr + fixed header bytes + attributes. */
function wireMsg(type: number, header: Buffer, ...attrs: Buffer[]): Buffer {
  const b = Buffer.concat([Buffer.alloc(16), header, ...attrs]);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt16LE(type, 4);
  return b;
}
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};

wire('attributes newer than the headers decode by name (newer-attrs.ts); one nobody named stays #<n>', () => {
  const raw = wireMsg(
    C.RTM_NEWLINK,
    Buffer.alloc(16),
    nla(67, Buffer.from([1])), // IFLA_NETNS_IMMUTABLE (6.13)
    nla(68, Buffer.from([32, 0])), // IFLA_HEADROOM (6.14)
    nla(C.NLA_F_NESTED | 65, Buffer.alloc(0)), // IFLA_DPLL_PIN (6.7), an empty nest
    nla(0x7f00, u32(7)), // a number no kernel has used yet
  );
  const [m] = decodeMessages(raw);
  assert.is(m!.attrs.IFLA_NETNS_IMMUTABLE, 1);
  assert.is(m!.attrs.IFLA_HEADROOM, 32);
  assert.equal(m!.attrs.IFLA_DPLL_PIN, Buffer.alloc(0));
  assert.equal(m!.attrs['#32512'], u32(7));
  assert.is(encodeMessage(m!).toString('hex'), raw.toString('hex'));
});

wire('a string sent without its NUL comes back without it', () => {
  // iproute2 writes IFLA_INFO_KIND without the NUL.
  const raw = wireMsg(C.RTM_NEWLINK, Buffer.alloc(16), nla(C.IFLA_LINKINFO, nla(C.IFLA_INFO_KIND, Buffer.from('veth'))));
  const [m] = decodeMessages(raw);
  assert.is((m!.attrs.IFLA_LINKINFO as Attrs).IFLA_INFO_KIND, 'veth');
  assert.is(encodeMessage(m!).toString('hex'), raw.toString('hex'));
});

wire('a non-repeating attribute that repeats becomes an array, and repeats again on encode', () => {
  const raw = wireMsg(C.RTM_NEWROUTE, Buffer.alloc(12), nla(C.RTA_OIF, u32(3)), nla(C.RTA_DST, Buffer.from([10, 0, 0, 0])), nla(C.RTA_OIF, u32(4)));
  const [m] = decodeMessages(raw);
  assert.equal(m!.attrs.RTA_OIF, [3, 4]);
  assert.is(m!.attrs.RTA_DST, '10.0.0.0');
  // Re-encoded, the repeats sit together (the object keeps one key per name): same attributes, same values.
  const [again] = decodeMessages(encodeMessage(m!));
  assert.equal(again!.attrs, m!.attrs);
});

wire('several messages in one datagram', () => {
  const a = encodeMessage(route({ RTA_DST: '10.1.0.0' }));
  const b = encodeMessage(route({ RTA_DST: '10.2.0.0' }));
  const msgs = decodeMessages(Buffer.concat([a, b]));
  assert.equal(
    msgs.map((m) => m.attrs.RTA_DST),
    ['10.1.0.0', '10.2.0.0'],
  );
});

wire('a value of the wrong size is kept as bytes, not lost', () => {
  const raw = encodeMessage(route({ RTA_OIF: Buffer.from([1, 2]) }));
  const [m] = decodeMessages(raw);
  assert.equal(m!.attrs.RTA_OIF, Buffer.from([1, 2]));
  assert.is(encodeMessage(m!).toString('hex'), raw.toString('hex'));
});

wire('u64 values are bigints; multipath hops are { header, attrs }', () => {
  const msg: NlMessage = {
    ...route({}),
    attrs: {
      RTA_DST: '10.3.0.0',
      RTA_MULTIPATH: [
        { header: { rtnh_flags: 0, rtnh_hops: 0, rtnh_ifindex: 2 }, attrs: { RTA_GATEWAY: '10.0.0.2' } },
        { header: { rtnh_flags: C.RTNH_F_ONLINK, rtnh_hops: 4, rtnh_ifindex: 3 }, attrs: { RTA_GATEWAY: 'fe80::2' } },
      ],
    },
  };
  const [m] = decodeMessages(encodeMessage(msg));
  assert.equal(m!.attrs.RTA_MULTIPATH, msg.attrs.RTA_MULTIPATH);
  const br: NlMessage = {
    type: C.RTM_NEWLINK,
    flags: 0,
    seq: 0,
    pid: 0,
    header: {},
    attrs: { IFLA_LINKINFO: { IFLA_INFO_KIND: 'bridge', IFLA_INFO_DATA: { IFLA_BR_HELLO_TIMER: 2n ** 63n + 5n } } },
  };
  const [b] = decodeMessages(encodeMessage(br));
  assert.is(((b!.attrs.IFLA_LINKINFO as Attrs).IFLA_INFO_DATA as Attrs).IFLA_BR_HELLO_TIMER, 2n ** 63n + 5n);
});

wire.run();

// ---------------------------------------------------------------------------------------------
const encodeErrors = suite('bad input: NetlinkEncodeError naming the input');

encodeErrors('an address that is not one', () => {
  const e = throwsA(() => encodeMessage(route({ RTA_DST: '10.0.0.256' })), NetlinkEncodeError, /10\.0\.0\.256/);
  assert.equal(e.path, ['RTM_NEWROUTE', 'RTA_DST']);
});

encodeErrors('an attribute the family does not have', () => {
  throwsA(() => encodeMessage(route({ RTA_DSTT: '10.0.0.0' })), NetlinkEncodeError, /RTA_DSTT/);
});

encodeErrors('a header field the struct does not have', () => {
  throwsA(() => encodeMessage(route({}, { rtm_tabel: 5 })), NetlinkEncodeError, /rtm_tabel/);
});

encodeErrors('numbers out of range, of the wrong type', () => {
  throwsA(() => encodeMessage(route({}, { rtm_dst_len: 300 })), NetlinkEncodeError, /rtm_dst_len/);
  assert.equal(throwsA(() => encodeMessage(route({ RTA_OIF: -1 })), NetlinkEncodeError).path, ['RTM_NEWROUTE', 'RTA_OIF']);
  throwsA(() => encodeMessage(route({ RTA_OIF: '3' })), NetlinkEncodeError);
  throwsA(() => encodeMessage(route({ RTA_OIF: 1.5 })), NetlinkEncodeError);
});

encodeErrors('strings with NUL, MACs that are not', () => {
  const link = (attrs: Attrs): NlMessage => ({ type: C.RTM_NEWLINK, flags: 0, seq: 0, pid: 0, header: {}, attrs });
  throwsA(() => encodeMessage(link({ IFLA_IFNAME: 'a\0b' })), NetlinkEncodeError);
  assert.equal(throwsA(() => encodeMessage(link({ IFLA_ADDRESS: '02:00:00:00:00:zz' })), NetlinkEncodeError).path, ['RTM_NEWLINK', 'IFLA_ADDRESS']);
  throwsA(() => encodeMessage(link({ IFLA_LINKINFO: { IFLA_INFO_KIND: 'nosuchkind', IFLA_INFO_DATA: { X: 1 } } })), NetlinkEncodeError, /nosuchkind/);
});

encodeErrors('a failed append leaves the writer as it was', () => {
  const w = new MessageWriter(64);
  w.append(route({ RTA_DST: '10.1.0.0' }), 1, 1, 0);
  const before = Buffer.from(w.bytes());
  throwsA(() => w.append(route({ RTA_DST: '10.1.0.0', RTA_GATEWAY: 'nope' }), 1, 2, 0), NetlinkEncodeError, /nope/);
  assert.is(w.bytes().toString('hex'), before.toString('hex'));
});

encodeErrors.run();

// ---------------------------------------------------------------------------------------------
const decodeErrors = suite('bad bytes: NetlinkDecodeError with context');

decodeErrors('an attribute overrunning its nest names the path, message type and offset', () => {
  const raw = encodeMessage({
    type: C.RTM_NEWLINK,
    flags: 0,
    seq: 0,
    pid: 0,
    header: {},
    attrs: { IFLA_LINKINFO: { IFLA_INFO_KIND: 'vxlan', IFLA_INFO_DATA: { IFLA_VXLAN_ID: 7 } } },
  });
  // IFLA_LINKINFO @32, IFLA_INFO_KIND @36 (12 bytes), IFLA_INFO_DATA @48, IFLA_VXLAN_ID @52: claim 200 bytes.
  const bad = Buffer.from(raw);
  bad.writeUInt16LE(200, 52);
  const e = throwsA(() => decodeMessages(bad), NetlinkDecodeError, /RTM_NEWLINK > IFLA_LINKINFO > IFLA_INFO_DATA at offset 52/);
  assert.is(e.context.messageType, 'RTM_NEWLINK');
  assert.equal(e.context.path, ['IFLA_LINKINFO', 'IFLA_INFO_DATA']);
  assert.is(e.context.offset, 52);
});

decodeErrors('nlmsg_len beyond the datagram, too short a header, trailing bytes', () => {
  const raw = encodeMessage(route({ RTA_DST: '10.1.0.0' }));
  const long = Buffer.from(raw);
  long.writeUInt32LE(raw.length + 4, 0);
  assert.is(throwsA(() => decodeMessages(long), NetlinkDecodeError).context.messageType, undefined);
  throwsA(() => decodeMessages(raw.subarray(0, 20)), NetlinkDecodeError);
  assert.match(throwsA(() => decodeMessages(Buffer.concat([raw, Buffer.alloc(3)])), NetlinkDecodeError).reason, /trailing/);
  const shortHeader = Buffer.from(raw.subarray(0, 24));
  shortHeader.writeUInt32LE(24, 0);
  assert.match(throwsA(() => decodeMessages(shortHeader), NetlinkDecodeError).reason, /rtmsg needs 12 bytes/);
});

decodeErrors.run();

// ---------------------------------------------------------------------------------------------
const structs = suite('fixed structs: the same before and after a layout is compiled');

structs('a struct encodes, decodes and refuses bad fields alike over its first 80 uses (it is compiled at the 32nd)', () => {
  const link = (ifmap: Record<string, unknown>): NlMessage => ({
    type: C.RTM_NEWLINK,
    flags: C.NLM_F_REQUEST,
    seq: 1,
    pid: 0,
    header: { ifi_family: 0, ifi_index: 7, ifi_flags: 1, ifi_change: 1 },
    attrs: { IFLA_MAP: ifmap as Attrs },
  });
  const good = { mem_start: 2n ** 40n, mem_end: 5n, base_addr: 7, irq: 3, dma: 1, port: 2 };
  const bad = [
    { ...good, irq: 70000 },
    { ...good, mem_end: -1n },
    { ...good, extra: 1 },
    { ...good, dma: '1' },
    { ...good, port: undefined },
  ];
  const message = (e: unknown): string => (e instanceof Error ? e.message : 'encoded');
  let first: unknown;
  for (let use = 0; use < 80; use++) {
    const bytes = encodeMessage(link(good));
    const now = {
      bytes: bytes.toString('hex'),
      decoded: decodeMessages(bytes)[0]!.attrs.IFLA_MAP,
      errors: bad.map((b) => {
        try {
          return message(encodeMessage(link(b)));
        } catch (e) {
          return message(e);
        }
      }),
    };
    if (use === 0) first = now;
    else assert.equal(now, first, `use ${use}`);
  }
  assert.equal((first as { decoded: unknown }).decoded, { mem_start: 2n ** 40n, mem_end: 5n, base_addr: 7n, irq: 3, dma: 1, port: 2 });
});

structs.run();
