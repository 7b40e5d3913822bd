// The one device a mode needs, created or repaired idempotently: a device with the wrong VNI, port,
// local address or uplink is deleted and recreated (the kernel cannot change those in place), a wrong
// MTU, MAC or down state is fixed in place, and the report says which and why. Recreating a device
// drops every neighbour, FDB entry and route on it, so reconcile re-reads them after this step.
import { constants, ensureLink, isNotFound, type Link } from '@netboot/core';
import { ModeUnavailableError } from './errors.js';
import type { Kernel, DeviceSpec, IpipSpec } from './types.js';

export interface DeviceReport {
  name: string;
  index: number;
  action: 'created' | 'recreated' | 'updated' | 'unchanged';
  /** What differed, as `field: was → now` (empty when created or unchanged). */
  changed: string[];
}

type Field = [name: string, was: unknown, want: unknown];

/** The fields of `link` that differ from `spec`; identity fields first (those force a recreate). */
function differences(rtnl: Kernel, link: Link, spec: DeviceSpec): Field[] {
  const info = link.info ?? {};
  const fields: Field[] = [['kind', link.kind, spec.kind]];
  if (spec.kind === 'vxlan') {
    const v6 = spec.local.includes(':');
    fields.push(
      ['vni', info.IFLA_VXLAN_ID, spec.vni],
      ['port', info.IFLA_VXLAN_PORT, spec.port],
      ['local', info[v6 ? 'IFLA_VXLAN_LOCAL6' : 'IFLA_VXLAN_LOCAL'], spec.local],
      ['learning', info.IFLA_VXLAN_LEARNING === 1, Boolean(spec.learning)],
    );
    if (spec.dev !== undefined) fields.push(['dev', info.IFLA_VXLAN_LINK, rtnl.link.find(spec.dev)?.index]);
    fields.push(['address', link.address, spec.address]);
  } else {
    fields.push(['local', info.IFLA_IPTUN_LOCAL, spec.local]);
  }
  fields.push(['mtu', link.mtu, spec.mtu], ['up', link.up, true]);
  return fields.filter(([, was, want]) => was !== want);
}

const describe = (fields: Field[]): string[] => fields.map(([name, was, want]) => `${name}: ${String(was)} → ${String(want)}`);

/** `ip link add … type vxlan|ipip …` unless a device like `spec` is there; repairs one that is not. */
export function ensureDevice(rtnl: Kernel, spec: DeviceSpec): DeviceReport {
  const before = rtnl.link.find(spec.name);
  const changed = before === undefined ? [] : describe(differences(rtnl, before, spec));
  const link = spec.kind === 'vxlan' ? ensureLink(rtnl.link, spec) : ensureIpip(rtnl, spec, before);
  const action = before === undefined ? 'created' : before.index !== link.index ? 'recreated' : changed.length > 0 ? 'updated' : 'unchanged';
  return { name: spec.name, index: link.index, action, changed };
}

/** Whether `link` is the device `spec` describes (used to tell our own changes from someone else's). */
export function deviceMatches(rtnl: Kernel, link: Link, spec: DeviceSpec): boolean {
  return differences(rtnl, link, spec).length === 0;
}

/**
 * The request `ip link add NAME mtu M type ipip local A` sends, attribute for attribute (core's link
 * API has no ipip kind, so it is built here from the schema's IFLA_IPTUN_* attributes; iproute2 spells
 * out every default, and so does this, so the two are byte-for-byte comparable).
 */
function ipipAddRequest(spec: IpipSpec) {
  return {
    type: constants.RTM_NEWLINK,
    flags: constants.NLM_F_CREATE | constants.NLM_F_EXCL,
    header: { ifi_family: constants.AF_UNSPEC, ifi_type: 0, ifi_index: 0, ifi_flags: 0, ifi_change: 0 },
    attrs: {
      IFLA_MTU: spec.mtu,
      IFLA_IFNAME: spec.name,
      IFLA_LINKINFO: {
        IFLA_INFO_KIND: 'ipip',
        IFLA_INFO_DATA: {
          IFLA_IPTUN_PROTO: 0,
          IFLA_IPTUN_LOCAL: spec.local,
          IFLA_IPTUN_PMTUDISC: 1,
          IFLA_IPTUN_TOS: 0,
          IFLA_IPTUN_TTL: 0,
          IFLA_IPTUN_LINK: 0,
          IFLA_IPTUN_FWMARK: 0,
          IFLA_IPTUN_ENCAP_TYPE: 0,
          IFLA_IPTUN_ENCAP_FLAGS: 0,
          IFLA_IPTUN_ENCAP_SPORT: 0,
          IFLA_IPTUN_ENCAP_DPORT: 0,
        },
      },
    },
  };
}

function ensureIpip(rtnl: Kernel, spec: IpipSpec, before: Link | undefined): Link {
  if (before !== undefined && before.kind === 'ipip' && before.info?.IFLA_IPTUN_LOCAL === spec.local) {
    if (before.mtu !== spec.mtu || !before.up) rtnl.link.set(before.index, { mtu: spec.mtu, up: true });
    return rtnl.link.get(before.index);
  }
  if (before !== undefined) rtnl.link.del(before.index);
  try {
    rtnl.socket.request(ipipAddRequest(spec));
  } catch (e) {
    if ((e as { code?: string }).code === 'EOPNOTSUPP' || isNotFound(e)) {
      throw new ModeUnavailableError(
        'ipip',
        `this kernel has no IP-in-IP driver (ip link add type ipip: ${(e as Error).message}); use mode 'vxlan' (or 'cross-subnet')`,
        { cause: e },
      );
    }
    throw e;
  }
  rtnl.link.set(spec.name, { up: true });
  return rtnl.link.get(spec.name);
}
