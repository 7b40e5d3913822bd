// Typed reads of decoded attribute values, so the resource decoders (link, addr, route, neigh) read
// `attrNumber(a.RTA_OIF)` instead of casting `a.RTA_OIF as number`.
//
// A decoded value has the type its schema entry gives it (codec.ts lists them), with two exceptions
// the codec documents: a value whose size its type does not allow is kept as a Buffer, and a
// non-`multi` attribute that repeated becomes an array. Each reader returns the value only when it
// has the type asked for, and undefined otherwise, so malformed input never passes for a number.
// Each is one `typeof` check: cheap enough for a 10,000-route dump.
import type { AttrValue, Attrs } from './codec.js';

/** A nest that starts with a fixed header (a multipath next hop, VETH_INFO_PEER), decoded. */
export type HeaderAttrs = { header: Record<string, number>; attrs: Attrs };

/** u8, u16, u32, s32, be16, be32 → number. */
export function attrNumber(v: AttrValue | undefined): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

/** string, ipaddr ('10.0.0.1', 'fd00::1'), mac ('0a:1b:…') → string. */
export function attrString(v: AttrValue | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** nested, and byKind for a kind the schema knows (an unknown kind's data stays a Buffer) → Attrs. */
export function attrNest(v: AttrValue | undefined): Attrs | undefined {
  return typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v) ? v : undefined;
}

/** multipath (RTA_MULTIPATH) → its next hops, each a fixed header and attributes. */
export function attrHops(v: AttrValue | undefined): HeaderAttrs[] | undefined {
  return Array.isArray(v) && v.every(isHeaderAttrs) ? v : undefined;
}

function isHeaderAttrs(v: AttrValue): v is HeaderAttrs {
  return typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v) && 'header' in v && 'attrs' in v;
}
