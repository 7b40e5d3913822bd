// Attributes newer than the installed UAPI headers. The generator names only what Debian's
// linux-libc-dev declares (6.1), but the running kernel (6.18 here) sends more; without a name they
// decode as `#<n>`. This hand-written table, kept apart from the generated code, names the ones this
// kernel sends in link, address, route and neighbour dumps, each with its number (kernel ABI: it never
// changes), its wire type and the kernel release that added it.
//
// Every other attribute the headers lack still decodes as `#<n>` — the raw 16-bit type, NLA_F_* bits
// included (`#32833` is a nest, NLA_F_NESTED | 65) — with its bytes, and re-encodes unchanged.
// schema.ts merges these into the tables of the same name; when the headers catch up it checks the
// generated number agrees, and the entry can go.

export interface NewerAttr {
  /** Attribute number, without NLA_F_* bits. */
  readonly type: number;
  /** `binary` where the value is a struct or a nest whose members are not interpreted. */
  readonly wire: 'u8' | 'u16' | 'u32' | 'binary';
  /** The kernel sends it with NLA_F_NESTED. */
  readonly nested?: true;
  /** First kernel release that has it. */
  readonly since: string;
}

/** Newer attributes by schema table name (`IFLA`, `IFLA_VXLAN`, …), then kernel name. */
export const NEWER_ATTRS: Readonly<Record<string, Readonly<Record<string, NewerAttr>>>> = {
  IFLA: {
    // A nest of devlink port attributes (empty unless the device has a devlink port).
    IFLA_DEVLINK_PORT: { type: 62, wire: 'binary', nested: true, since: '6.2' },
    IFLA_GSO_IPV4_MAX_SIZE: { type: 63, wire: 'u32', since: '6.3' },
    IFLA_GRO_IPV4_MAX_SIZE: { type: 64, wire: 'u32', since: '6.3' },
    // A nest of DPLL pin attributes (empty unless the device has a DPLL pin).
    IFLA_DPLL_PIN: { type: 65, wire: 'binary', nested: true, since: '6.7' },
    // NLA_UINT: 4 bytes while the value fits, else 8 (then decoded as bytes).
    IFLA_MAX_PACING_OFFLOAD_HORIZON: { type: 66, wire: 'u32', since: '6.13' },
    IFLA_NETNS_IMMUTABLE: { type: 67, wire: 'u8', since: '6.13' },
    IFLA_HEADROOM: { type: 68, wire: 'u16', since: '6.14' },
    IFLA_TAILROOM: { type: 69, wire: 'u16', since: '6.14' },
  },
  IFLA_VXLAN: {
    IFLA_VXLAN_LOCALBYPASS: { type: 31, wire: 'u8', since: '6.6' },
    IFLA_VXLAN_LABEL_POLICY: { type: 32, wire: 'u32', since: '6.8' },
    // struct vxlanhdr: which reserved header bits are accepted.
    IFLA_VXLAN_RESERVED_BITS: { type: 33, wire: 'binary', since: '6.14' },
  },
  IFLA_BR: {
    IFLA_BR_FDB_N_LEARNED: { type: 48, wire: 'u32', since: '6.7' },
    IFLA_BR_FDB_MAX_LEARNED: { type: 49, wire: 'u32', since: '6.7' },
  },
  IFLA_BRPORT: {
    IFLA_BRPORT_MAB: { type: 40, wire: 'u8', since: '6.2' },
    IFLA_BRPORT_MCAST_N_GROUPS: { type: 41, wire: 'u32', since: '6.3' },
    IFLA_BRPORT_MCAST_MAX_GROUPS: { type: 42, wire: 'u32', since: '6.3' },
    IFLA_BRPORT_NEIGH_VLAN_SUPPRESS: { type: 43, wire: 'u8', since: '6.5' },
  },
};
