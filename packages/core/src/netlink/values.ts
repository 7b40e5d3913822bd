// Typed reads of decoded attribute values that are structures, so the resource decoders (link,
// addr, route, neigh) read `attrNest(a.IFLA_LINKINFO)` instead of casting `as Attrs`.
//
// A decoded value has the type its schema entry gives it (codec.ts lists them), with two exceptions
// the codec documents: a value whose size its type does not allow is kept as a Buffer, and a
// non-`multi` attribute that repeated becomes an array. The readers here return the value only when
// it has the shape asked for, and undefined otherwise, so malformed input never passes for a nest.
// Scalars need no reader: `typeof v === 'number'` narrows an AttrValue, in place, with no call
// (the decoders of 10,000-route dumps do that; a call per attribute into another module shows).
import type { AttrValue, Attrs } from './codec.js';

/** A nest that starts with a fixed header (a multipath next hop, VETH_INFO_PEER), decoded. */
export type HeaderAttrs = { header: Record<string, number>; attrs: Attrs };

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
