// Schema-driven encode/decode of rtnetlink messages (pure: Buffers in, values out).
// Attribute values by schema type:
//   u8/u16/u32/s32/be16/be32 → number · u64 → bigint · string → string (NUL stripped)
//   ipaddr → '10.0.0.1' | 'fe80::1' · mac → '0a:1b:…' · flag → true · binary → Buffer
//   nested → Attrs · a per-kind sub-message (IFLA_INFO_DATA by IFLA_INFO_KIND) → Attrs
//   a nest with its own fixed header (VETH_INFO_PEER: ifinfomsg + attrs) → { header, attrs }
//   a fixed C struct (RTA_CACHEINFO…) → { field: number } · RTA_MULTIPATH → [{ header, attrs }]
// Unknown attribute types are kept under the key `#<type>` (the raw 16-bit type, NLA_F_* bits
// included) with their bytes, so decode → encode loses nothing. Attributes newer than the generated
// headers are named where newer-attrs.ts lists them; the rest stay `#<type>`. A message type without
// a schema carries only raw `payload` bytes: header fields or attributes for one are refused. Attributes that may repeat are
// arrays (schema says which). Object key order is wire order (no key is integer-like), so
// re-encoding keeps the kernel's order.
//
// Where the wire differs from what the schema would write (other NLA_F_* bits, a string without
// its NUL, an attribute that repeats unexpectedly), the decoder notes it under the non-enumerable
// WIRE symbol of the enclosing Attrs, and the encoder follows the note: exact round trips without
// extra keys in the values.
//
// Performance: the decoder and encoder are loops over Buffer reads/writes with no per-attribute
// closures; a dump of 10,000 routes decodes in a few milliseconds. Decoded Buffers are copies, so
// the caller may reuse the buffer it received into.
import { formatMac, isIPv4Text, readIp, readPrefix, writeIp, writeMac } from '../base/ip.js';
import { NetlinkDecodeError, NetlinkEncodeError, NetlinkSchemaError } from './errors.js';
import { T, constant, extackAttrs, familyByType, messageTypeName, nlmsgdone, nlmsgerr, type AttrSpec, type AttrTable, type StructLayout } from './schema.js';

/** Decoded attributes: kernel attribute name → value, in wire order. */
export type Attrs = { [name: string]: AttrValue };
export type AttrValue = number | bigint | string | boolean | Buffer | Attrs | { header: Record<string, number>; attrs: Attrs } | AttrValue[];

/** One netlink message; `header` is the family's fixed struct by kernel field name (ifi_index, rtm_table…). */
export interface NlMessage {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  header: Record<string, number>;
  attrs: Attrs;
  /**
   * Bytes the codec does not interpret: the whole payload of a message type without a schema
   * (header and attrs are then empty), or the request echoed inside an uncapped NLMSG_ERROR.
   */
  payload?: Buffer;
}

/** How an attribute looked on the wire where that differs from the schema's defaults. */
export interface WireNote {
  /** NLA_F_NESTED / NLA_F_NET_BYTEORDER bits. */
  flags?: number;
  /** A string attribute sent without its terminating NUL (iproute2 does this for IFLA_INFO_KIND). */
  unterminated?: boolean;
  /** A non-`multi` attribute that appeared more than once (its value is then an array). */
  repeated?: boolean;
}
/** Key of the per-Attrs `{ [attrName]: WireNote }` record (non-enumerable, so it never shows in values). */
export const WIRE: unique symbol = Symbol.for('netboot.netlink.wire');
type Noted = Attrs & { [WIRE]?: Record<string, WireNote> };

const NLMSG_HDRLEN = 16;
const NLMSG_ERROR = constant('NLMSG_ERROR');
const NLMSG_DONE = constant('NLMSG_DONE');
/** Types below this are netlink's own control messages (NOOP, ERROR, DONE, OVERRUN). */
const NLMSG_MIN_TYPE = constant('NLMSG_MIN_TYPE');
const NLM_F_CAPPED = constant('NLM_F_CAPPED');
const NLA_F_NESTED = constant('NLA_F_NESTED');
const NLA_F_NET_BYTEORDER = constant('NLA_F_NET_BYTEORDER');
const NLA_FLAG_BITS = NLA_F_NESTED | NLA_F_NET_BYTEORDER;
const NLA_TYPE_MASK = ~NLA_FLAG_BITS & 0xffff;

const align4 = (n: number): number => (n + 3) & ~3;

function noteFor(attrs: Noted, key: string): WireNote {
  let notes = attrs[WIRE];
  if (notes === undefined) {
    notes = {};
    Object.defineProperty(attrs, WIRE, { value: notes, enumerable: false, writable: true, configurable: true });
  }
  return (notes[key] ??= {});
}

// =============================================================================================
// Decoding

// The decoder is synchronous and never re-entered, so its error context lives in module state
// instead of being threaded through every call.
let curType = -1;
const curPath: string[] = [];

function fail(reason: string, offset: number): never {
  throw new NetlinkDecodeError(reason, {
    messageType: curType < 0 ? undefined : messageTypeName(curType),
    path: curPath.slice(),
    offset,
  });
}

/** Decodes every message in a datagram; throws NetlinkDecodeError (only) on malformed bytes. */
export function decodeMessages(buf: Buffer): NlMessage[] {
  const out: NlMessage[] = [];
  decodeMessagesInto(buf, 0, buf.length, out);
  return out;
}

/** Decodes the messages in `buf[start, end)` onto `out` (the socket's dump loop appends to one array). */
export function decodeMessagesInto(buf: Buffer, start: number, end: number, out: NlMessage[]): void {
  curType = -1;
  curPath.length = 0;
  let off = start;
  while (off < end) {
    if (end - off < NLMSG_HDRLEN) fail(`${end - off} trailing bytes, too short for a message header`, off);
    const len = buf.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || len > end - off) fail(`nlmsg_len ${len} does not fit the ${end - off} bytes left`, off);
    out.push(decodeMessage(buf, off, off + len));
    off += align4(len);
  }
}

function decodeMessage(buf: Buffer, off: number, end: number): NlMessage {
  const type = buf.readUInt16LE(off + 4);
  const flags = buf.readUInt16LE(off + 6);
  const seq = buf.readUInt32LE(off + 8);
  const pid = buf.readUInt32LE(off + 12);
  curType = type;
  // Empty unless a decode threw half-way; setting an array's length is a runtime call, once per message.
  if (curPath.length !== 0) curPath.length = 0;
  const p = off + NLMSG_HDRLEN;
  const family = familyByType[type];
  if (family !== undefined) {
    const header = decodeHeader(buf, p, end, family.header);
    const attrs = decodeAttrs(buf, p + align4(family.header.size), end, family.attrs);
    return { type, flags, seq, pid, header, attrs };
  }
  if (type === NLMSG_ERROR) {
    const header = decodeHeader(buf, p, end, nlmsgerr);
    let q = p + nlmsgerr.size;
    let payload: Buffer | undefined;
    if ((flags & NLM_F_CAPPED) === 0) {
      // The kernel echoed the whole request after its header.
      const echoed = header.msg_len! - NLMSG_HDRLEN;
      if (echoed < 0 || echoed > end - q) fail(`echoed request length ${header.msg_len} does not fit`, p + 4);
      payload = copy(buf, q, q + echoed);
      q += align4(echoed);
    }
    const attrs = decodeAttrs(buf, Math.min(q, end), end, extackAttrs);
    return payload === undefined ? { type, flags, seq, pid, header, attrs } : { type, flags, seq, pid, header, attrs, payload };
  }
  if (type === NLMSG_DONE) {
    const header = decodeHeader(buf, p, end, nlmsgdone);
    const attrs = decodeAttrs(buf, p + nlmsgdone.size, end, extackAttrs);
    return { type, flags, seq, pid, header, attrs };
  }
  return { type, flags, seq, pid, header: {}, attrs: {}, payload: copy(buf, p, end) };
}

function decodeHeader(buf: Buffer, p: number, end: number, layout: StructLayout): Record<string, number> {
  if (end - p < layout.size) fail(`${layout.name} needs ${layout.size} bytes, ${end - p} left`, p);
  return readStruct(buf, p, layout) as Record<string, number>;
}

function readStruct(buf: Buffer, p: number, layout: StructLayout): Record<string, number | bigint> {
  return compiled(layout).read(buf, p);
}

function decodeAttrs(buf: Buffer, start: number, end: number, table: AttrTable): Attrs {
  const out: Noted = {};
  let pos = start;
  while (end - pos >= 4) {
    const len = buf.readUInt16LE(pos);
    const rawType = buf.readUInt16LE(pos + 2);
    if (len < 4 || len > end - pos) fail(`attribute type ${rawType & NLA_TYPE_MASK} has length ${len}, ${end - pos} bytes left`, pos);
    const spec = table.byType[rawType & NLA_TYPE_MASK];
    if (spec === undefined) {
      put(out, `#${rawType}`, copy(buf, pos + 4, pos + len), false);
    } else {
      curPath.push(spec.name);
      const value = decodeValue(buf, pos + 4, pos + len, spec, out);
      curPath.pop();
      put(out, spec.name, value, spec.multi);
      const flags = rawType & NLA_FLAG_BITS;
      if (flags !== spec.nlaFlags) noteFor(out, spec.name).flags = flags;
    }
    pos += align4(len);
  }
  if (pos < end) fail(`${end - pos} trailing bytes after the last attribute`, pos);
  return out;
}

function put(out: Noted, key: string, value: AttrValue, multi: boolean): void {
  const prev = out[key];
  if (multi) {
    if (prev === undefined) out[key] = [value];
    else (prev as AttrValue[]).push(value);
  } else if (prev === undefined) {
    out[key] = value;
  } else {
    const note = noteFor(out, key);
    if (note.repeated) (prev as AttrValue[]).push(value);
    else {
      note.repeated = true;
      out[key] = [prev, value];
    }
  }
}

function decodeValue(buf: Buffer, p: number, end: number, spec: AttrSpec, siblings: Noted): AttrValue {
  const n = end - p;
  switch (spec.wire) {
    case T.u8:
      if (n !== 1) return badSize(buf, p, end);
      return buf[p]!;
    case T.u16:
      if (n !== 2) return badSize(buf, p, end);
      return buf.readUInt16LE(p);
    case T.u32:
      if (n !== 4) return badSize(buf, p, end);
      return buf.readUInt32LE(p);
    case T.s32:
      if (n !== 4) return badSize(buf, p, end);
      return buf.readInt32LE(p);
    case T.u64:
      if (n !== 8) return badSize(buf, p, end);
      return buf.readBigUInt64LE(p);
    case T.be16:
      if (n !== 2) return badSize(buf, p, end);
      return buf.readUInt16BE(p);
    case T.be32:
      if (n !== 4) return badSize(buf, p, end);
      return buf.readUInt32BE(p);
    case T.string: {
      let z = p;
      while (z < end && buf[z] !== 0) z++;
      if (z === end) noteFor(siblings, spec.name).unterminated = true;
      return buf.toString('utf8', p, z);
    }
    case T.ipaddr:
      return readIp(buf, p, n) ?? badSize(buf, p, end);
    case T.mac:
      return formatMac(buf, p, end);
    case T.flag:
      if (n !== 0) return badSize(buf, p, end);
      return true;
    case T.binary:
      return copy(buf, p, end);
    case T.nested:
      return decodeAttrs(buf, p, end, spec.table!);
    case T.struct:
      if (n !== spec.struct!.size) return badSize(buf, p, end);
      return readStruct(buf, p, spec.struct!) as Attrs;
    case T.headerNest: {
      const layout = spec.struct!;
      const header = decodeHeader(buf, p, end, layout);
      return { header, attrs: decodeAttrs(buf, p + align4(layout.size), end, spec.table!) };
    }
    case T.byKind: {
      const kind = siblings[spec.kindFrom!];
      const table = typeof kind === 'string' ? spec.kinds![kind] : undefined;
      return table === undefined ? copy(buf, p, end) : decodeAttrs(buf, p, end, table);
    }
    case T.multipath:
      return decodeMultipath(buf, p, end, spec);
  }
  return copy(buf, p, end);
}

function decodeMultipath(buf: Buffer, start: number, end: number, spec: AttrSpec): AttrValue[] {
  const layout = spec.struct!;
  const hops: AttrValue[] = [];
  let p = start;
  while (end - p >= 2) {
    const len = buf.readUInt16LE(p); // rtnh_len, first field of struct rtnexthop
    if (len < layout.size || len > end - p) fail(`rtnh_len ${len} does not fit the ${end - p} bytes left`, p);
    curPath.push(`[${hops.length}]`);
    const header = readStruct(buf, p, layout) as Record<string, number>;
    hops.push({ header, attrs: decodeAttrs(buf, p + align4(layout.size), p + len, spec.table!) });
    curPath.pop();
    p += align4(len);
  }
  if (p < end) fail(`${end - p} trailing bytes after the last next hop`, p);
  return hops;
}

/**
 * A value whose size its schema type does not allow is kept as bytes rather than failing the whole
 * message: the kernel is not always consistent (IFLA_VXLAN_TTL_INHERIT is a flag in requests and a
 * u8 in dumps). Lengths that overrun their container are still errors.
 */
function badSize(buf: Buffer, p: number, end: number): Buffer {
  return copy(buf, p, end);
}

function copy(buf: Buffer, start: number, end: number): Buffer {
  const b = Buffer.allocUnsafe(end - start);
  buf.copy(b, 0, start, end);
  return b;
}

// =============================================================================================
// Attributes read in place: the dump fast paths
//
// A reconcile reads thousands of routes, neighbours and nexthops of which it keeps a handful of
// fields. The generic decode builds a message, a header record and an attribute record per entry
// (with every attribute: cache info structs, probes, padding) only for decodeRoute & co. to pick a
// few values out. The fast decoders (route.ts readRoute, neigh.ts readNeigh, nexthop.ts
// readNexthop) read those values from the bytes instead, where AttrScan found them, and leave any
// message it does not accept to the generic decode: both give the same result.

/** For the compare-don't-build checks: a flag the decoders set as `true` against `value` (1 both set, 0 clear, -1 they differ). */
export function sameFlag(set: boolean, value: unknown): number {
  return !set ? 0 : value === true ? 1 : -1;
}

/** Whether `record` has exactly `fields` own enumerable fields: the last step of a compare-don't-build check. */
export function hasFields(record: object, fields: number): boolean {
  for (const _ in record) fields--;
  return fields === 0;
}

/**
 * The fixed header of message type `type` for the fast decoders: the offsets of the named fields
 * (relative to the header), its size, where the attributes start (relative to the message), and
 * their table. Throws at load for a type or field the schema lacks.
 */
export function headerLayout<K extends string>(
  type: number,
  fields: readonly K[],
): { at: Readonly<Record<K, number>>; size: number; attrsAt: number; attrs: AttrTable } {
  const family = familyByType[type];
  if (family === undefined) throw new NetlinkSchemaError(`no schema for message type ${type}`);
  const at = {} as Record<K, number>;
  for (const name of fields) {
    const f = family.header.fields.find((x) => x.name === name);
    if (f === undefined) throw new NetlinkSchemaError(`${family.header.name} has no field ${name}`);
    at[name] = f.offset;
  }
  return { at, size: family.header.size, attrsAt: NLMSG_HDRLEN + align4(family.header.size), attrs: family.attrs };
}

/**
 * Where each attribute of one message is, by type, for decoders that read a few of them from the
 * bytes. scan() accepts exactly the attribute lists the generic decoder reads without error into
 * one value per attribute and no nest: every attribute well formed, none repeated, none of a
 * nesting wire type (nested, per-kind, header nest, multipath) nor `multi`. On false the caller
 * decodes the message the generic way, which also raises the errors.
 */
export class AttrScan {
  /** Payload offset by attribute type (-1: absent), and length. */
  readonly #at: Int32Array;
  readonly #len: Int32Array;
  /** What the generic decoder does with each type: 0 keeps it as bytes (unknown), 1 reads it in place, 2 nests. */
  readonly #kind: Uint8Array;
  /** The types the last scan found (`#count` of them), to reset. */
  readonly #seen: Int32Array;
  #count = 0;

  constructor(table: AttrTable) {
    const n = table.byType.length;
    this.#at = new Int32Array(n).fill(-1);
    this.#len = new Int32Array(n);
    this.#seen = new Int32Array(n);
    this.#kind = new Uint8Array(n);
    for (let t = 0; t < n; t++) {
      const spec = table.byType[t];
      if (spec === undefined) continue;
      const nests = spec.wire === T.nested || spec.wire === T.byKind || spec.wire === T.headerNest || spec.wire === T.multipath;
      this.#kind[t] = nests || spec.multi ? 2 : 1;
    }
  }

  /** Finds the attributes in `buf[start, end)`; false when the message needs the generic decode. */
  scan(buf: Buffer, start: number, end: number): boolean {
    const at = this.#at;
    const seen = this.#seen;
    for (let i = 0; i < this.#count; i++) at[seen[i]!] = -1;
    const kind = this.#kind;
    const n = kind.length;
    let count = 0;
    let pos = start;
    let ok = true;
    while (end - pos >= 4) {
      const len = buf[pos]! | (buf[pos + 1]! << 8);
      const type = (buf[pos + 2]! | (buf[pos + 3]! << 8)) & NLA_TYPE_MASK;
      if (len < 4 || len > end - pos) {
        ok = false;
        break;
      }
      if (type < n && kind[type] !== 0) {
        if (kind[type] === 2 || at[type]! >= 0) {
          ok = false;
          break;
        }
        at[type] = pos + 4;
        this.#len[type] = len - 4;
        seen[count++] = type;
      }
      pos += (len + 3) & ~3;
    }
    this.#count = count;
    return ok && pos >= end;
  }

  /** The payload offset of attribute `type` in the last scan, -1 when it was absent. */
  at(type: number): number {
    return type < this.#at.length ? this.#at[type]! : -1;
  }

  /** The payload length of attribute `type` in the last scan (meaningful where at() is not -1). */
  len(type: number): number {
    return this.#len[type]!;
  }

  /** The u32 attribute `type` as the generic decoder gives it: undefined when absent or not 4 bytes (it keeps those as bytes). */
  u32(buf: Buffer, type: number): number | undefined {
    const p = this.at(type);
    return p < 0 || this.#len[type] !== 4 ? undefined : buf.readUInt32LE(p);
  }

  /** The be16 attribute `type`: undefined when absent or not 2 bytes. */
  be16(buf: Buffer, type: number): number | undefined {
    const p = this.at(type);
    return p < 0 || this.#len[type] !== 2 ? undefined : buf.readUInt16BE(p);
  }

  /** The ipaddr attribute `type` as text: undefined when absent or neither 4 nor 16 bytes. */
  ip(buf: Buffer, type: number): string | undefined {
    const p = this.at(type);
    return p < 0 ? undefined : readIp(buf, p, this.#len[type]!);
  }

  /** The ipaddr attribute `type` as 'address/prefixLen': undefined when absent or neither 4 nor 16 bytes. */
  prefix(buf: Buffer, type: number, prefixLen: number): string | undefined {
    const p = this.at(type);
    return p < 0 ? undefined : readPrefix(buf, p, this.#len[type]!, prefixLen);
  }

  // The compare-don't-build checks (isRoute & co.): 1 when attribute `type` is there and is `value`
  // as the decoders would give it, 0 when it is absent (or a size they leave out), -1 when it differs
  // or cannot be compared (an IPv6 address).

  /** An ipaddr attribute against `value`, IPv4 only. */
  sameIPv4(buf: Buffer, type: number, value: unknown): number {
    const p = this.at(type);
    const len = p < 0 ? 0 : this.#len[type]!;
    if (len !== 4) return len === 16 ? -1 : 0;
    return isIPv4Text(value, buf, p) ? 1 : -1;
  }

  /** A u32 attribute against `value`. */
  sameU32(buf: Buffer, type: number, value: unknown): number {
    const v = this.u32(buf, type);
    return v === undefined ? 0 : v === value ? 1 : -1;
  }

  /** The mac attribute `type` as text ('' for an empty one): undefined when absent. */
  mac(buf: Buffer, type: number): string | undefined {
    const p = this.at(type);
    return p < 0 ? undefined : formatMac(buf, p, p + this.#len[type]!);
  }
}

// =============================================================================================
// Fixed structs, compiled once they are used often
//
// A layout used often is compiled into straight-line code: an object literal with a fixed shape is
// several times faster to build than one filled field by field in a loop, and a 10,000-route dump
// reads 10,000 headers. Until then (COMPILE_AFTER uses) it is read and written by loops over its
// fields: a short-lived process such as the CNI plugin encodes and decodes a few dozen messages, and
// compiling the 9 layouts an ADD touches cost it ~1.5 ms (generated code is not in V8's code cache).
// Both ways give the same objects and bytes. The writer validates every field and returns the name of
// the first bad one ('' for a key the struct lacks) instead of throwing, so errors are raised with
// their path.

type StructReader = (b: Buffer, p: number) => Record<string, number | bigint>;
type StructWriter = (b: Buffer, at: number, rec: Record<string, unknown>, u64: (v: unknown) => bigint | undefined) => string | undefined;
interface StructCodec {
  read: StructReader;
  write: StructWriter;
  uses: number;
}

const COMPILE_AFTER = 32;
const structCodecs = new WeakMap<StructLayout, StructCodec>();

function compiled(layout: StructLayout): StructCodec {
  let c = structCodecs.get(layout);
  if (c === undefined) {
    c = { read: (b, p) => readFields(layout, b, p), write: (b, at, rec, u64) => writeFields(layout, b, at, rec, u64), uses: 0 };
    structCodecs.set(layout, c);
  }
  if (c.uses < COMPILE_AFTER && ++c.uses === COMPILE_AFTER) Object.assign(c, compileStruct(layout));
  return c;
}

type FieldType = StructLayout['fields'][number]['type'];
/** Each field type's reader, writer and range check: the loops' counterpart of FIELD_CODE. */
const FIELD_OPS: Record<FieldType, { read(b: Buffer, p: number): number | bigint; write(b: Buffer, at: number, v: number): void; ok(v: number): boolean }> = {
  u8: { read: (b, p) => b[p]!, write: (b, at, v) => void (b[at] = v), ok: (v) => Number.isInteger(v) && v >= 0 && v <= 0xff },
  u16: { read: (b, p) => b.readUInt16LE(p), write: (b, at, v) => void b.writeUInt16LE(v, at), ok: (v) => Number.isInteger(v) && v >= 0 && v <= 0xffff },
  be16: { read: (b, p) => b.readUInt16BE(p), write: (b, at, v) => void b.writeUInt16BE(v, at), ok: (v) => Number.isInteger(v) && v >= 0 && v <= 0xffff },
  u32: { read: (b, p) => b.readUInt32LE(p), write: (b, at, v) => void b.writeUInt32LE(v, at), ok: (v) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff },
  s32: {
    read: (b, p) => b.readInt32LE(p),
    write: (b, at, v) => void b.writeInt32LE(v, at),
    ok: (v) => Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff,
  },
  // u64 values are checked and converted by the writer's `u64` (they may be bigints).
  u64: { read: (b, p) => b.readBigUInt64LE(p), write: () => undefined, ok: () => true },
};

function readFields(layout: StructLayout, b: Buffer, p: number): Record<string, number | bigint> {
  const out: Record<string, number | bigint> = {};
  for (const f of layout.fields) out[f.name] = FIELD_OPS[f.type].read(b, p + f.offset);
  return out;
}

function writeFields(layout: StructLayout, b: Buffer, at: number, rec: Record<string, unknown>, u64: (v: unknown) => bigint | undefined): string | undefined {
  b.fill(0, at, at + layout.size); // padding, and fields not given
  let known = 0;
  for (const f of layout.fields) {
    const v = rec[f.name];
    if (v === undefined) continue;
    if (f.type === 'u64') {
      const big = u64(v);
      if (big === undefined) return f.name;
      b.writeBigUInt64LE(big, at + f.offset);
    } else {
      const ops = FIELD_OPS[f.type];
      if (typeof v !== 'number' || !ops.ok(v)) return f.name;
      ops.write(b, at + f.offset, v);
    }
    known++;
  }
  let keys = 0;
  for (const _ in rec) keys++;
  return keys === known ? undefined : '';
}

const FIELD_CODE = {
  u8: { read: 'b[p + O]', write: 'b[at + O] = V', check: 'Number.isInteger(V) && V >= 0 && V <= 0xff' },
  u16: { read: 'b.readUInt16LE(p + O)', write: 'b.writeUInt16LE(V, at + O)', check: 'Number.isInteger(V) && V >= 0 && V <= 0xffff' },
  be16: { read: 'b.readUInt16BE(p + O)', write: 'b.writeUInt16BE(V, at + O)', check: 'Number.isInteger(V) && V >= 0 && V <= 0xffff' },
  u32: { read: 'b.readUInt32LE(p + O)', write: 'b.writeUInt32LE(V, at + O)', check: 'Number.isInteger(V) && V >= 0 && V <= 0xffffffff' },
  s32: { read: 'b.readInt32LE(p + O)', write: 'b.writeInt32LE(V, at + O)', check: 'Number.isInteger(V) && V >= -0x80000000 && V <= 0x7fffffff' },
  u64: { read: 'b.readBigUInt64LE(p + O)', write: 'b.writeBigUInt64LE(u64(V), at + O)', check: 'u64(V) !== undefined' },
} as const;

function compileStruct(layout: StructLayout): { read: StructReader; write: StructWriter } {
  const sub = (code: string, f: { offset: number }, v = 'v') => code.replaceAll('O', String(f.offset)).replaceAll('V', v);
  const readBody = `return { ${layout.fields.map((f) => `${JSON.stringify(f.name)}: ${sub(FIELD_CODE[f.type].read, f)}`).join(', ')} };`;
  const covered = new Uint8Array(layout.size);
  const lines = ['let v, known = 0, keys = 0;'];
  for (const f of layout.fields) {
    const code = FIELD_CODE[f.type];
    const width = f.type === 'u8' ? 1 : f.type === 'u16' || f.type === 'be16' ? 2 : f.type === 'u64' ? 8 : 4;
    covered.fill(1, f.offset, f.offset + width);
    lines.push(
      `v = rec[${JSON.stringify(f.name)}];`,
      `if (v === undefined) ${sub(code.write, f, '0')};`,
      `else { if (${f.type === 'u64' ? '' : "typeof v !== 'number' || "}!(${sub(code.check, f)})) return ${JSON.stringify(f.name)}; ${sub(code.write, f)}; known++; }`,
    );
  }
  // Padding and fields the codec computes (rtnh_len) are written as zeros.
  covered.forEach((c, i) => {
    if (!c) lines.push(`b[at + ${i}] = 0;`);
  });
  lines.push('for (const k in rec) keys++;', "return keys === known ? undefined : '';");
  return {
    read: new Function('b', 'p', readBody) as StructReader,
    write: new Function('b', 'at', 'rec', 'u64', lines.join('\n')) as StructWriter,
  };
}

function toU64(v: unknown): bigint | undefined {
  const big = typeof v === 'bigint' ? v : typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : undefined;
  return big !== undefined && big >= 0n && big <= 0xffffffffffffffffn ? big : undefined;
}

// =============================================================================================
// Encoding

/**
 * A message body (fixed header and attributes) that lays itself down: what core's batch calls build
 * for the thousands of routes, nexthops and neighbour entries of a reconcile (request-bodies.ts),
 * instead of header and attrs objects for the schema-driven encoder to walk. Its bytes are those the
 * encoder writes for the equivalent header and attrs; `size` is their length, a multiple of 4.
 */
export interface EncodedBody {
  readonly size: number;
  /**
   * Writes the body at `buf[at]` (`at` a multiple of 4); `words` is the same memory as host-order
   * u32s (`words[at >> 2]` is the body's first word): a word store where the fields allow it is a
   * quarter of the byte stores, which a process's first large batch runs before the JIT has made it fast.
   */
  writeTo(buf: Buffer, at: number, words: Uint32Array): void;
}

/** Whether this host stores a u32 low byte first (a word of two u16s is then `low | high << 16`). */
export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** `buf` as host-order u32 words (its memory must start 4-aligned: see MessageWriter's allocation). */
function wordsOf(buf: Buffer): Uint32Array {
  return new Uint32Array(buf.buffer, buf.byteOffset, buf.length >>> 2);
}

/**
 * `v` (checked already) at `at`, little-endian, by plain byte stores: Buffer's writeUInt16LE & co.
 * check their arguments again in JavaScript of their own, which a process's first large batch runs
 * before the JIT has made it fast (in a cold apply of 1,000 vxlan peers, more than the rest of the encoding).
 */
function putU16(b: Buffer, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = v >>> 8;
}

/** `v` (checked already) at `at` as a little-endian u32, as putU16 writes a u16. */
function putU32(b: Buffer, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = (v >>> 16) & 0xff;
  b[at + 3] = v >>> 24;
}

/** A message to encode: with a `body`, that is written and `header`/`attrs` are not read. */
type Outgoing = Omit<NlMessage, 'flags' | 'seq' | 'pid'> & { body?: EncodedBody };

/**
 * Appends encoded messages to one growing buffer: the socket batches many requests into a
 * single sendto this way. `bytes()` is a view valid until the next append or reset.
 */
export class MessageWriter {
  private buf: Buffer;
  /** `buf` as u32 words, for EncodedBody (buf is its own allocation: offset 0, so 4-aligned). */
  private words: Uint32Array;
  private pos = 0;
  /** Where the encoder is, for errors: the message type, then attribute names below it. */
  private msgType = 0;
  private readonly path: string[] = [];

  constructor(initialSize = 16384) {
    this.buf = Buffer.allocUnsafeSlow(initialSize);
    this.words = wordsOf(this.buf);
  }

  get length(): number {
    return this.pos;
  }

  reset(): void {
    this.pos = 0;
  }

  bytes(start = 0, end = this.pos): Buffer {
    return this.buf.subarray(start, end);
  }

  /** Drops everything from `offset` on (a message that failed to encode half-way). */
  truncate(offset: number): void {
    this.pos = offset;
  }

  /** Appends one message with the given flags/seq/pid; returns its start offset. */
  append(msg: Outgoing, flags: number, seq: number, pid: number): number {
    if (msg.body !== undefined) return this.appendBody(msg.body, msg.type, flags, seq, pid);
    const start = this.pos;
    if (this.path.length !== 0) this.path.length = 0; // as in decodeMessage: a runtime call per message
    this.msgType = msg.type;
    try {
      this.room(NLMSG_HDRLEN);
      putU16(this.buf, start + 4, this.u16(msg.type, 'type'));
      putU16(this.buf, start + 6, this.u16(flags, 'flags'));
      putU32(this.buf, start + 8, this.u32(seq, 'seq'));
      putU32(this.buf, start + 12, this.u32(pid, 'pid'));
      this.pos = start + NLMSG_HDRLEN;
      this.body(msg, flags);
      putU32(this.buf, start, this.pos - start);
    } catch (e) {
      this.pos = start;
      throw e;
    }
    return start;
  }

  /**
   * append() of a message whose body writes itself (core's batch calls send thousands): the netlink
   * header as four words, then the body; no try, no per-field call (see EncodedBody).
   */
  appendBody(body: EncodedBody, type: number, flags: number, seq: number, pid: number): number {
    const start = this.pos;
    if (!(type === (type & 0xffff) && flags === (flags & 0xffff) && seq === seq >>> 0 && pid === pid >>> 0)) {
      this.msgType = type;
      this.u16(type, 'type');
      this.u16(flags, 'flags');
      this.u32(seq, 'seq');
      this.u32(pid, 'pid');
    }
    const size = NLMSG_HDRLEN + body.size;
    if (start + size > this.buf.length) this.room(size);
    const w = this.words;
    const i = start >>> 2;
    w[i] = size;
    w[i + 1] = LITTLE_ENDIAN ? type | (flags << 16) : (type << 16) | flags;
    w[i + 2] = seq;
    w[i + 3] = pid;
    body.writeTo(this.buf, start + NLMSG_HDRLEN, w);
    this.pos = start + size;
    return start;
  }

  private body(msg: Outgoing, flags: number): void {
    const family = familyByType[msg.type];
    // A bare `payload` goes out as is, even for a type rtnetlink has a schema for: other netlink
    // protocols reuse the numbers (NFNL_MSG_BATCH_BEGIN is 16, RTM_NEWLINK's number).
    const bare = msg.payload !== undefined && isEmpty(msg.header) && isEmpty(msg.attrs);
    if (family !== undefined && !bare) {
      this.struct(msg.header, family.header);
      this.pad();
      this.attrs(msg.attrs, family.attrs);
    } else if (msg.type === NLMSG_ERROR) {
      this.struct(msg.header, nlmsgerr);
      if ((flags & NLM_F_CAPPED) === 0 && msg.payload) this.raw(msg.payload);
      this.attrs(msg.attrs, extackAttrs);
    } else if (msg.type === NLMSG_DONE) {
      this.struct(msg.header, nlmsgdone);
      this.attrs(msg.attrs, extackAttrs);
    } else {
      this.unschemed(msg);
    }
  }

  /**
   * A type the schema does not know can only carry raw `payload` bytes. Header fields or attributes
   * would be dropped, and a bare header is a message the kernel acknowledges without doing what was
   * meant (RTM_NEWQDISC with no tcmsg), so both are refused. Control messages (NLMSG_NOOP) have no body.
   */
  private unschemed(msg: Omit<NlMessage, 'flags' | 'seq' | 'pid'>): void {
    const given = Object.keys(msg.header ?? {}).length + Object.keys(msg.attrs ?? {}).length;
    if (given === 0 && msg.payload !== undefined) return this.raw(msg.payload);
    if (given === 0 && msg.type < NLMSG_MIN_TYPE) return;
    this.fail(
      `no schema for this message type, so ${given ? 'its header fields and attributes cannot be encoded' : 'it would go out as a bare header'}; ` +
        'pass its body as `payload` bytes',
    );
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
    this.words = wordsOf(this.buf);
  }

  /** Writes zero bytes up to the next 4-byte boundary. */
  private pad(): void {
    const end = align4(this.pos);
    this.room(end - this.pos);
    while (this.pos < end) this.buf[this.pos++] = 0;
  }

  private raw(bytes: Buffer): void {
    this.room(bytes.length + 3);
    bytes.copy(this.buf, this.pos);
    this.pos += bytes.length;
    this.pad();
  }

  private fail(reason: string): never {
    throw new NetlinkEncodeError(reason, [messageTypeName(this.msgType), ...this.path]);
  }

  private u16(v: unknown, what: string): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffff) this.fail(`${what} must be an integer 0..65535, got ${String(v)}`);
    return v;
  }

  private u32(v: unknown, what: string): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) this.fail(`${what} must be an integer 0..4294967295, got ${String(v)}`);
    return v;
  }

  /** A fixed struct at the current position; missing fields are 0, unknown ones an error. */
  private struct(rec: Record<string, unknown> | undefined, layout: StructLayout, skip = 0): void {
    const at = this.pos - skip;
    this.room(layout.size);
    const bad = compiled(layout).write(this.buf, at, rec ?? {}, toU64);
    if (bad !== undefined) {
      const field = layout.fields.find((f) => f.name === bad);
      if (field) {
        this.path.push(bad);
        this.fail(`expected ${field.type === 'u64' ? 'an unsigned 64-bit integer' : `a ${field.type} integer`}, got ${String(rec?.[bad])}`);
      }
      const unknown = Object.keys(rec ?? {}).filter((k) => !layout.fields.some((f) => f.name === k));
      this.fail(`${layout.name} has no field ${unknown.join(', ')}`);
    }
    this.pos = at + layout.size;
  }

  private scalar(type: 'u8' | 'u16' | 'u32' | 's32' | 'u64' | 'be16' | 'be32', v: unknown, at: number): void {
    const b = this.buf;
    switch (type) {
      case 'u8':
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xff) this.fail(`expected an integer 0..255, got ${String(v)}`);
        b[at] = v;
        return;
      case 'u16':
        b.writeUInt16LE(this.u16(v, 'value'), at);
        return;
      case 'be16':
        b.writeUInt16BE(this.u16(v, 'value'), at);
        return;
      case 'u32':
        b.writeUInt32LE(this.u32(v, 'value'), at);
        return;
      case 'be32':
        b.writeUInt32BE(this.u32(v, 'value'), at);
        return;
      case 's32':
        if (typeof v !== 'number' || !Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) this.fail(`expected a 32-bit signed integer, got ${String(v)}`);
        b.writeInt32LE(v, at);
        return;
      case 'u64': {
        const big = toU64(v);
        if (big === undefined) this.fail(`expected an unsigned 64-bit integer, got ${String(v)}`);
        b.writeBigUInt64LE(big, at);
        return;
      }
    }
  }

  private attrs(attrs: Attrs | undefined, table: AttrTable): void {
    if (attrs === undefined) return;
    const notes = (attrs as Noted)[WIRE];
    for (const key in attrs) {
      const value = attrs[key];
      if (value === undefined) continue;
      const spec = table.byName.get(key);
      if (spec === undefined) {
        this.unknownAttr(key, value, table);
        continue;
      }
      const note = notes?.[key];
      const flags = note?.flags ?? spec.nlaFlags;
      this.path.push(key);
      if ((spec.multi || note?.repeated) && Array.isArray(value)) {
        for (const v of value) this.attr(spec, flags, v, note, attrs);
      } else {
        this.attr(spec, flags, value, note, attrs);
      }
      this.path.pop();
    }
  }

  private unknownAttr(key: string, value: AttrValue, table: AttrTable): void {
    const rawType = key.charCodeAt(0) === 35 /* # */ ? Number(key.slice(1)) : NaN;
    if (!Number.isInteger(rawType) || rawType < 0 || rawType > 0xffff) {
      this.path.push(key);
      this.fail(`no attribute ${key} in ${table.name}`);
    }
    for (const v of Array.isArray(value) ? value : [value]) {
      if (!Buffer.isBuffer(v)) {
        this.path.push(key);
        this.fail('an attribute without a schema entry takes a Buffer');
      }
      this.tlv(rawType, v);
    }
  }

  private tlv(rawType: number, bytes: Buffer): void {
    const start = this.pos;
    this.room(4 + bytes.length);
    bytes.copy(this.buf, start + 4);
    this.pos = start + 4 + bytes.length;
    this.close(start, rawType);
  }

  /** Fills in the attribute header at `start` now that its value is written, then pads. */
  private close(start: number, rawType: number): void {
    const len = this.pos - start;
    if (len > 0xffff) this.fail(`attribute is ${len} bytes, over netlink's 65535`);
    this.buf.writeUInt16LE(len, start);
    this.buf.writeUInt16LE(rawType, start + 2);
    this.pad();
  }

  private attr(spec: AttrSpec, flags: number, value: AttrValue, note: WireNote | undefined, siblings: Attrs): void {
    const start = this.pos;
    this.room(4);
    this.pos += 4;
    if (Buffer.isBuffer(value)) {
      // Raw bytes are accepted for any attribute: the escape hatch for what the schema cannot say.
      this.room(value.length);
      value.copy(this.buf, this.pos);
      this.pos += value.length;
    } else {
      this.value(spec, value, note, siblings);
    }
    this.close(start, spec.type | flags);
  }

  private value(spec: AttrSpec, v: AttrValue, note: WireNote | undefined, siblings: Attrs): void {
    switch (spec.wire) {
      case T.u8:
      case T.u16:
      case T.u32:
      case T.s32:
      case T.u64:
      case T.be16:
      case T.be32: {
        const width = WIDTHS[spec.wire]!;
        this.room(width);
        this.scalar(SCALAR_NAMES[spec.wire]!, v, this.pos);
        this.pos += width;
        return;
      }
      case T.string: {
        if (typeof v !== 'string') return this.fail(`expected a string, got ${typeof v}`);
        if (v.includes('\0')) this.fail('a string may not contain NUL');
        this.room(v.length * 3 + 1);
        this.pos += this.buf.write(v, this.pos, 'utf8');
        if (!note?.unterminated) this.buf[this.pos++] = 0;
        return;
      }
      case T.ipaddr: {
        if (typeof v !== 'string') return this.fail(`expected an IP address string, got ${typeof v}`);
        this.room(16);
        const n = writeIp(v, this.buf, this.pos);
        if (n < 0) this.fail(`${JSON.stringify(v)} is not an IPv4 or IPv6 address`);
        this.pos += n;
        return;
      }
      case T.mac: {
        if (typeof v !== 'string') return this.fail(`expected a MAC address string, got ${typeof v}`);
        this.room(v.length);
        const n = writeMac(v, this.buf, this.pos);
        if (n < 0) this.fail(`${JSON.stringify(v)} is not a hardware address`);
        this.pos += n;
        return;
      }
      case T.flag:
        if (v !== true) this.fail('a flag attribute is present (true) or left out');
        return;
      case T.binary:
        return this.fail('expected a Buffer');
      case T.nested:
        if (!isPlainObject(v)) return this.fail('expected nested attributes (an object)');
        return this.attrs(v as Attrs, spec.table!);
      case T.struct:
        if (!isPlainObject(v)) return this.fail(`expected a ${spec.struct!.name} object`);
        return this.struct(v as Record<string, unknown>, spec.struct!);
      case T.headerNest: {
        const hn = v as { header?: Record<string, number>; attrs?: Attrs };
        if (!isPlainObject(v) || !isPlainObject(hn.header)) return this.fail('expected { header, attrs }');
        this.struct(hn.header, spec.struct!);
        this.pad();
        return this.attrs(hn.attrs, spec.table!);
      }
      case T.byKind: {
        const kind = siblings[spec.kindFrom!];
        const table = typeof kind === 'string' ? spec.kinds![kind] : undefined;
        if (table === undefined) return this.fail(`no attribute table for ${spec.kindFrom} ${JSON.stringify(kind)}; pass a Buffer`);
        if (!isPlainObject(v)) return this.fail('expected nested attributes (an object)');
        return this.attrs(v as Attrs, table);
      }
      case T.multipath:
        if (!Array.isArray(v)) return this.fail('expected an array of { header, attrs } next hops');
        return this.multipath(v, spec);
    }
  }

  private multipath(hops: AttrValue[], spec: AttrSpec): void {
    for (let i = 0; i < hops.length; i++) {
      const hop = hops[i] as { header?: Record<string, number>; attrs?: Attrs };
      this.path.push(`[${i}]`);
      if (!isPlainObject(hop) || !isPlainObject(hop.header)) this.fail('expected { header, attrs }');
      const start = this.pos;
      this.room(2);
      this.pos += 2; // rtnh_len, filled below
      this.struct(hop.header, spec.struct!, 2);
      this.pad();
      this.attrs(hop.attrs, spec.table!);
      this.buf.writeUInt16LE(this.pos - start, start);
      this.path.pop();
    }
  }
}

const WIDTHS: Record<number, number> = { [T.u8]: 1, [T.u16]: 2, [T.u32]: 4, [T.s32]: 4, [T.u64]: 8, [T.be16]: 2, [T.be32]: 4 };
const SCALAR_NAMES: Record<number, 'u8' | 'u16' | 'u32' | 's32' | 'u64' | 'be16' | 'be32'> = {
  [T.u8]: 'u8',
  [T.u16]: 'u16',
  [T.u32]: 'u32',
  [T.s32]: 's32',
  [T.u64]: 'u64',
  [T.be16]: 'be16',
  [T.be32]: 'be32',
};

const isEmpty = (o: object | undefined): boolean => o === undefined || Object.keys(o).length === 0;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}

const shared = new MessageWriter();

/** Encodes one message (nlmsghdr + fixed header + attributes, 4-byte aligned). */
export function encodeMessage(msg: NlMessage): Buffer {
  shared.reset();
  shared.append(msg, msg.flags, msg.seq, msg.pid);
  return Buffer.from(shared.bytes());
}
