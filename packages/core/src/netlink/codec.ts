// CONTRACT STUB — the protocol helper replaces the bodies; the exported names and shapes are fixed
// because link/addr/route/neigh code against them. Keep them (add to them freely).
//
// Schema-driven encode/decode of rtnetlink messages (pure: Buffers in, values out).
// Attribute values by schema type:
//   u8/u16/u32/s32/be16/be32 → number · u64 → bigint · string → string (NUL stripped)
//   ipaddr → '10.0.0.1' | 'fe80::1' · mac → '0a:1b:…' · flag → true · binary → Buffer
//   nested → Attrs · a per-kind sub-message (IFLA_INFO_DATA by IFLA_INFO_KIND) → Attrs
//   a nest with its own fixed header (VETH_INFO_PEER: ifinfomsg + attrs) → { header, attrs }
// Unknown attribute types are kept under the key `#<type>` with their raw Buffer (and flag bits),
// so decode → encode loses nothing. Attributes that may repeat are arrays (schema says which).
// Object key order is wire order (no key is integer-like), so re-encoding keeps the kernel's order.

/** Decoded attributes: kernel attribute name → value, in wire order. */
export type Attrs = { [name: string]: AttrValue };
export type AttrValue =
  | number
  | bigint
  | string
  | boolean
  | Buffer
  | Attrs
  | { header: Record<string, number>; attrs: Attrs }
  | AttrValue[];

/** One netlink message; `header` is the family's fixed struct by kernel field name (ifi_index, rtm_table…). */
export interface NlMessage {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  header: Record<string, number>;
  attrs: Attrs;
}

/** Encodes one message (nlmsghdr + fixed header + attributes, 4-byte aligned). */
export function encodeMessage(_msg: NlMessage): Buffer {
  throw new Error('not implemented');
}

/** Decodes every message in a datagram; throws NetlinkDecodeError (only) on malformed bytes. */
export function decodeMessages(_buf: Buffer): NlMessage[] {
  throw new Error('not implemented');
}
