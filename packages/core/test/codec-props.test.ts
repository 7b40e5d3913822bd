// Properties: random valid messages of every family survive encode → decode; random, truncated and
// mutated bytes only ever raise NetlinkDecodeError, and never hang.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeMessages, encodeMessage, type AttrValue, type Attrs, type NlMessage } from '../src/netlink/codec.js';
import { formatIPv6, writeIp } from '../src/base/ip.js';
import { NetlinkDecodeError } from '../src/netlink/errors.js';
import { decodeNeigh, isNeigh, readNeigh } from '../src/neigh.js';
import { decodeNexthop, isNexthop, readNexthop } from '../src/nexthop.js';
import { decodeRoute, isRoute, readRoute } from '../src/route.js';
import { decodeLink, readLink } from '../src/link.js';
import * as C from '../src/netlink/generated/index.js';
import { families, linkKinds, T, type AttrSpec, type AttrTable, type StructLayout } from '../src/netlink/schema.js';

const RUNS = 300;
/** Plain objects, like the decoder's (uvu's equality compares prototypes). */
const plain = { noNullPrototype: true } as const;

// ---------------------------------------------------------------------------------------------
// Arbitraries built from the schema itself, so every attribute the schema knows gets exercised.

const fieldArb = (type: string): fc.Arbitrary<number | bigint> => {
  switch (type) {
    case 'u8':
      return fc.integer({ min: 0, max: 0xff });
    case 'u16':
    case 'be16':
      return fc.integer({ min: 0, max: 0xffff });
    case 's32':
      return fc.integer({ min: -0x80000000, max: 0x7fffffff });
    case 'u64':
      return fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
    default:
      return fc.integer({ min: 0, max: 0xffffffff });
  }
};

const structArb = (layout: StructLayout): fc.Arbitrary<Record<string, number | bigint>> =>
  fc.record(Object.fromEntries(layout.fields.map((f) => [f.name, fieldArb(f.type)])), plain);

const ipArb: fc.Arbitrary<string> = fc.oneof(
  fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => b.join('.')),
  fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => formatIPv6(Buffer.from(b), 0)),
);
const macArb = fc.uint8Array({ minLength: 6, maxLength: 6 }).map((b) =>
  Buffer.from(b)
    .toString('hex')
    .replace(/(..)(?!$)/g, '$1:'),
);
const stringArb = fc.string({ maxLength: 20 }).filter((s) => !s.includes('\0'));
const bytesArb = fc.uint8Array({ maxLength: 24 }).map((b) => Buffer.from(b));

function valueArb(spec: AttrSpec, depth: number): fc.Arbitrary<AttrValue> | undefined {
  switch (spec.wire) {
    case T.u8:
    case T.u16:
    case T.u32:
    case T.s32:
    case T.u64:
    case T.be16:
    case T.be32:
      return fieldArb(Object.entries(T).find(([, v]) => v === spec.wire)![0]);
    case T.string:
      return stringArb;
    case T.ipaddr:
      return ipArb;
    case T.mac:
      return macArb;
    case T.flag:
      return fc.constant(true);
    case T.binary:
      return bytesArb;
    case T.struct:
      return structArb(spec.struct!);
    case T.nested:
      return depth > 0 ? attrsArb(spec.table!, depth - 1) : undefined;
    case T.headerNest:
      return depth > 0
        ? fc.record({ header: structArb(spec.struct!) as fc.Arbitrary<Record<string, number>>, attrs: attrsArb(spec.table!, depth - 1) }, plain)
        : undefined;
    case T.multipath:
      return depth > 0
        ? fc.array(fc.record({ header: structArb(spec.struct!) as fc.Arbitrary<Record<string, number>>, attrs: attrsArb(spec.table!, 0) }, plain), {
            maxLength: 3,
          })
        : undefined;
    default:
      return undefined; // byKind: generated with its kind below
  }
}

function attrsArb(table: AttrTable, depth: number): fc.Arbitrary<Attrs> {
  const entries: [string, fc.Arbitrary<AttrValue>][] = [];
  for (const spec of table.byName.values()) {
    const arb = valueArb(spec, depth);
    if (arb) entries.push([spec.name, spec.multi ? fc.array(arb, { minLength: 1, maxLength: 3 }) : arb]);
  }
  return fc.record(Object.fromEntries(entries), { requiredKeys: [], noNullPrototype: true }) as fc.Arbitrary<Attrs>;
}

const linkInfoArb: fc.Arbitrary<Attrs> = fc
  .constantFrom(...Object.keys(linkKinds))
  .chain((kind) => attrsArb(linkKinds[kind]!, 1).map((data): Attrs => ({ IFLA_INFO_KIND: kind, IFLA_INFO_DATA: data })));

const typesOf = {
  link: [C.RTM_NEWLINK, C.RTM_DELLINK, C.RTM_GETLINK, C.RTM_SETLINK],
  addr: [C.RTM_NEWADDR, C.RTM_DELADDR, C.RTM_GETADDR],
  route: [C.RTM_NEWROUTE, C.RTM_DELROUTE, C.RTM_GETROUTE],
  neigh: [C.RTM_NEWNEIGH, C.RTM_DELNEIGH, C.RTM_GETNEIGH],
  rule: [C.RTM_NEWRULE, C.RTM_DELRULE, C.RTM_GETRULE],
  setelem: [C.NFT_MSG_NEWSETELEM, C.NFT_MSG_DELSETELEM, C.NFT_MSG_GETSETELEM].map((m) => (C.NFNL_SUBSYS_NFTABLES << 8) | m),
  nexthop: [C.RTM_NEWNEXTHOP, C.RTM_DELNEXTHOP, C.RTM_GETNEXTHOP],
};

const messageArb: fc.Arbitrary<NlMessage> = fc.oneof(
  ...Object.values(families).map((fam) =>
    fc.record(
      {
        type: fc.constantFrom(...typesOf[fam.name]),
        flags: fc.integer({ min: 0, max: 0xffff }),
        seq: fc.integer({ min: 0, max: 0xffffffff }),
        pid: fc.integer({ min: 0, max: 0xffffffff }),
        header: structArb(fam.header) as fc.Arbitrary<Record<string, number>>,
        attrs:
          fam.name === 'link'
            ? fc.tuple(attrsArb(fam.attrs, 1), fc.option(linkInfoArb, { nil: undefined })).map(([a, info]) => (info ? { ...a, IFLA_LINKINFO: info } : a))
            : attrsArb(fam.attrs, 1),
      },
      plain,
    ),
  ),
);

test('random valid messages of every family round-trip', () => {
  fc.assert(
    fc.property(messageArb, (msg) => {
      const bytes = encodeMessage(msg);
      const [back, ...rest] = decodeMessages(bytes);
      assert.is(rest.length, 0);
      assert.equal(back, msg);
      assert.is(encodeMessage(back!).toString('hex'), bytes.toString('hex'));
    }),
    { numRuns: RUNS * 3 },
  );
});

test('IPv6 text agrees with the URL parser, and parses back to the same bytes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (arr) => {
      const bytes = Buffer.from(arr);
      const text = formatIPv6(bytes, 0);
      const back = Buffer.alloc(16);
      assert.is(writeIp(text, back, 0), 16);
      assert.ok(back.equals(bytes), text);
      // WHATWG's serializer is RFC 5952 like glibc's, except it never prints dotted IPv4 tails.
      if (!text.includes('.')) assert.is(new URL(`http://[${text}]/`).hostname, `[${text}]`);
    }),
    { numRuns: RUNS * 3 },
  );
});

// ---------------------------------------------------------------------------------------------
// Robustness: whatever the bytes, NetlinkDecodeError or a result; and what decodes, encodes.

function onlyDecodeErrors(bytes: Buffer): void {
  let msgs: NlMessage[];
  try {
    msgs = decodeMessages(bytes);
  } catch (e) {
    if (!(e instanceof NetlinkDecodeError)) throw new Error(`not a NetlinkDecodeError on ${bytes.toString('hex')}: ${String(e)}`);
    return;
  }
  for (const m of msgs) encodeMessage(m);
}

const golden: Buffer[] = (() => {
  const dir = join(import.meta.dirname, 'golden');
  const out: Buffer[] = [];
  for (const obj of readdirSync(dir, { withFileTypes: true })) {
    if (!obj.isDirectory()) continue;
    for (const f of readdirSync(join(dir, obj.name))) {
      if (!f.endsWith('.hex')) continue;
      const text = readFileSync(join(dir, obj.name, f), 'utf8');
      out.push(
        Buffer.from(
          text
            .split('\n')
            .filter((l) => !l.startsWith('#'))
            .join('')
            .trim(),
          'hex',
        ),
      );
    }
  }
  return out;
})();

test('random bytes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 512 }), (b) => onlyDecodeErrors(Buffer.from(b))),
    { numRuns: RUNS * 3 },
  );
});

test('random attributes after a valid header of each family', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(C.RTM_NEWLINK, C.RTM_NEWADDR, C.RTM_NEWROUTE, C.RTM_NEWNEIGH, C.NLMSG_ERROR, C.NLMSG_DONE, 99),
      fc.uint8Array({ maxLength: 400 }),
      (type, body) => {
        const b = Buffer.concat([Buffer.alloc(16), Buffer.from(body)]);
        b.writeUInt32LE(b.length, 0);
        b.writeUInt16LE(type, 4);
        onlyDecodeErrors(b);
      },
    ),
    { numRuns: RUNS * 3 },
  );
});

test('every truncation of every golden message', () => {
  assert.ok(golden.length > 0);
  let n = 0;
  for (const g of golden) {
    for (let len = 0; len < g.length; len++) {
      onlyDecodeErrors(g.subarray(0, len));
      // Also with nlmsg_len fixed up, so the truncation reaches the attribute parser.
      if (len >= 16) {
        const fixed = Buffer.from(g.subarray(0, len));
        fixed.writeUInt32LE(len, 0);
        onlyDecodeErrors(fixed);
      }
      n++;
    }
  }
  assert.ok(n > 1000, `${n} truncations`);
});

test('mutated golden messages', () => {
  fc.assert(
    fc.property(fc.constantFrom(...golden), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), (g, edits) => {
      const b = Buffer.from(g);
      for (const [pos, byte] of edits) b[pos % b.length] = byte;
      onlyDecodeErrors(b);
    }),
    { numRuns: RUNS * 5 },
  );
});

test('never hangs: 64 KiB of empty attributes, deep nesting, zero lengths', () => {
  const started = Date.now();
  // 16,380 zero-length attributes in one message.
  const flat = Buffer.alloc(16 + 16 + 4 * 16380);
  flat.writeUInt32LE(flat.length, 0);
  flat.writeUInt16LE(C.RTM_NEWLINK, 4);
  for (let p = 32; p < flat.length; p += 4) {
    flat.writeUInt16LE(4, p);
    flat.writeUInt16LE(200, p + 2);
  }
  onlyDecodeErrors(flat);
  // A zero nla_len must not loop forever.
  const zero = Buffer.alloc(16 + 16 + 8);
  zero.writeUInt32LE(zero.length, 0);
  zero.writeUInt16LE(C.RTM_NEWLINK, 4);
  onlyDecodeErrors(zero);
  // A zero nlmsg_len must not loop forever either.
  onlyDecodeErrors(Buffer.alloc(64));
  assert.ok(Date.now() - started < 5000, 'finished quickly');
});

// ---------------------------------------------------------------------------------------------
// The dump fast paths (readRoute, readNeigh, readNexthop) read a message straight from its bytes or
// leave it to the generic decode (undefined): whatever they read equals decodeX of the generic decode,
// and a message the generic decoder refuses they never read.

const fastPaths = [
  { family: families.route, read: readRoute, decode: decodeRoute, is: isRoute as (r: object, b: Buffer, off: number, end: number) => boolean, af: [C.AF_INET] },
  {
    family: families.neigh,
    read: readNeigh,
    decode: decodeNeigh,
    is: isNeigh as (r: object, b: Buffer, off: number, end: number) => boolean,
    af: [C.AF_INET, C.AF_BRIDGE],
  },
  {
    family: families.nexthop,
    read: readNexthop,
    decode: decodeNexthop,
    is: isNexthop as (r: object, b: Buffer, off: number, end: number) => boolean,
    af: [C.AF_INET],
  },
] as const;

/** Whether the fast path of `type`'s family read `bytes` (one message) as the generic decode does. */
function fastAgrees(bytes: Buffer, path: { read(b: Buffer, off: number, end: number): object | undefined; decode(m: NlMessage): object }): boolean {
  const fast = path.read(bytes, 0, bytes.length);
  let generic: NlMessage;
  try {
    [generic] = decodeMessages(bytes) as [NlMessage];
  } catch (e) {
    if (!(e instanceof NetlinkDecodeError)) throw e;
    assert.is(fast, undefined, `read a message the decoder refuses: ${bytes.toString('hex')}`);
    return false;
  }
  if (fast === undefined) return false;
  assert.equal(fast, path.decode(generic), bytes.toString('hex'));
  return true;
}

test('fast readers agree with the generic decode on random valid messages', () => {
  let read = 0;
  for (const path of fastPaths) {
    // Depth 0 leaves nests out (what dumps of routes, neighbours and nexthops hold); depth 1 adds them.
    for (const depth of [0, 1]) {
      fc.assert(
        fc.property(
          fc.record({ flags: fc.integer({ min: 0, max: 0xffff }), header: structArb(path.family.header), attrs: attrsArb(path.family.attrs, depth) }, plain),
          ({ flags, header, attrs }) => {
            const type = typesOf[path.family.name][0]!;
            const bytes = encodeMessage({ type, flags, seq: 1, pid: 2, header: header as Record<string, number>, attrs });
            if (fastAgrees(bytes, path)) read++;
          },
        ),
        { numRuns: RUNS },
      );
    }
  }
  assert.ok(read > RUNS, `the fast paths read ${read} messages`);
});

// readLink (a veth's echo) reads a few attributes and skips the rest unchecked: it agrees with the
// generic decode on valid messages, with and without nests, and leaves kind-specific data to it.
test('readLink agrees with decodeLink of the generic decode on random valid links', () => {
  let read = 0;
  for (const depth of [0, 1]) {
    fc.assert(
      fc.property(
        fc.record({ flags: fc.integer({ min: 0, max: 0xffff }), header: structArb(families.link.header), attrs: attrsArb(families.link.attrs, depth) }, plain),
        ({ flags, header, attrs }) => {
          const bytes = encodeMessage({ type: C.RTM_NEWLINK, flags, seq: 1, pid: 2, header: header as Record<string, number>, attrs });
          if (fastAgrees(bytes, { read: readLink, decode: decodeLink })) read++;
        },
      ),
      { numRuns: RUNS },
    );
  }
  assert.ok(read > RUNS / 2, `readLink read ${read} messages`);
  const veth = { IFLA_IFNAME: 'nbv0', IFLA_MTU: 1500, IFLA_LINK: 7, IFLA_LINKINFO: { IFLA_INFO_KIND: 'veth' } };
  const header = { ifi_family: 0, ifi_type: 1, ifi_index: 9, ifi_flags: C.IFF_UP, ifi_change: 0 };
  const bytes = encodeMessage({ type: C.RTM_NEWLINK, flags: 0, seq: 1, pid: 2, header, attrs: { ...veth, IFLA_ADDRESS: '02:00:00:00:00:01' } });
  assert.equal(readLink(bytes, 0, bytes.length), {
    index: 9,
    name: 'nbv0',
    mtu: 1500,
    flags: C.IFF_UP,
    up: true,
    operstate: 'UNKNOWN',
    address: '02:00:00:00:00:01',
    kind: 'veth',
    parent: 7,
  });
  const vxlan = encodeMessage({
    type: C.RTM_NEWLINK,
    flags: 0,
    seq: 1,
    pid: 2,
    header,
    attrs: { IFLA_LINKINFO: { IFLA_INFO_KIND: 'vxlan', IFLA_INFO_DATA: { IFLA_VXLAN_ID: 42 } } },
  });
  assert.is(readLink(vxlan, 0, vxlan.length), undefined, 'kind-specific data is left to the generic decode');
});

test('fast readers agree with the generic decode on mutated and truncated messages', () => {
  for (const path of fastPaths) {
    const type = typesOf[path.family.name][0]!;
    const valid = fc
      .record({ header: structArb(path.family.header), attrs: attrsArb(path.family.attrs, 0) }, plain)
      .map(({ header, attrs }) => encodeMessage({ type, flags: 0, seq: 1, pid: 2, header: header as Record<string, number>, attrs }));
    fc.assert(
      fc.property(valid, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.nat(), (bytes, edits, cut) => {
        const b = Buffer.from(bytes.subarray(0, 16 + (cut % (bytes.length - 15))));
        for (const [pos, byte] of edits) if (pos % b.length >= 16) b[pos % b.length] = byte;
        b.writeUInt32LE(b.length, 0);
        fastAgrees(b, path);
      }),
      { numRuns: RUNS * 3 },
    );
    // An attribute given twice decodes as a list of both, which the decoders do not take as the value.
    fc.assert(
      fc.property(valid, fc.nat(), (bytes, pick) => {
        const attrs: Buffer[] = [];
        for (let p = 16 + ((path.family.header.size + 3) & ~3); p + 4 <= bytes.length; p += (bytes.readUInt16LE(p) + 3) & ~3)
          attrs.push(bytes.subarray(p, p + ((bytes.readUInt16LE(p) + 3) & ~3)));
        if (attrs.length === 0) return;
        const b = Buffer.concat([bytes, attrs[pick % attrs.length]!]);
        b.writeUInt32LE(b.length, 0);
        assert.is(path.read(b, 0, b.length), undefined);
        fastAgrees(b, path);
      }),
      { numRuns: RUNS },
    );
  }
});

test('isRoute, isNeigh, isNexthop: true only for a record equal to what the bytes decode to', () => {
  let same = 0;
  let near = 0;
  for (const path of fastPaths) {
    const type = typesOf[path.family.name][0]!;
    // Mostly the families they compare (IPv4; bridge for FDB entries), with an IPv4 or IPv6 address in each ipaddr attribute.
    const valid = fc
      .record({ header: structArb(path.family.header), attrs: attrsArb(path.family.attrs, 0), af: fc.constantFrom(...path.af, C.AF_INET6) }, plain)
      .map(({ header, attrs, af }) => {
        const bytes = encodeMessage({ type, flags: 0, seq: 1, pid: 2, header: header as Record<string, number>, attrs });
        bytes[16] = af;
        return bytes;
      });
    const decodeOne = (b: Buffer): object | undefined => {
      try {
        return path.decode(decodeMessages(b)[0]!) as object;
      } catch {
        return undefined;
      }
    };
    fc.assert(
      fc.property(valid, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }), (bytes, edits) => {
        const want = decodeOne(bytes)!;
        // The record of these very bytes, of a near miss (a byte or two changed), and with a field more or less.
        const other = Buffer.from(bytes);
        for (const [pos, byte] of edits) if (pos % other.length >= 16) other[pos % other.length] = byte;
        const missing = { ...want } as Record<string, unknown>;
        delete missing[Object.keys(missing).at(-1)!];
        // And each field of the record changed alone: never taken for the bytes.
        const tweaked = Object.keys(want).map((k) => {
          const v = (want as Record<string, unknown>)[k];
          const changed = typeof v === 'number' ? v + 1 : typeof v === 'string' ? `${v}0` : Array.isArray(v) ? [...v, 'stale'] : !v;
          return { ...want, [k]: changed };
        });
        for (const t of tweaked) assert.not.ok(path.is(t, bytes, 0, bytes.length), `${JSON.stringify(t)} taken for ${bytes.toString('hex')}`);
        for (const record of [want, decodeOne(other), { ...want, extra: 1 }, missing]) {
          if (record === undefined || !path.is(record, bytes, 0, bytes.length)) continue;
          assert.equal(record, want, bytes.toString('hex'));
          if (record === want) same++;
          else near++;
        }
      }),
      { numRuns: RUNS * 2 },
    );
  }
  assert.ok(same > RUNS, `${same} records recognised`);
  assert.ok(near > 0, `${near} equal near misses recognised`);
});

test.run();
