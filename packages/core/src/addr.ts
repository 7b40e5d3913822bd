// Interface addresses over rtnetlink (RTM_NEWADDR / RTM_DELADDR / RTM_GETADDR), IPv4 and IPv6.
import type { Attrs, NlMessage } from './netlink/codec.js';
import type { Transport } from './netlink/socket.js';
import { isNotFound } from './netlink/errors.js';
import {
  AF_UNSPEC,
  IFA_F_NODAD,
  IFA_F_NOPREFIXROUTE,
  NLM_F_CREATE,
  NLM_F_EXCL,
  RT_SCOPE_HOST,
  RT_SCOPE_LINK,
  RT_SCOPE_NOWHERE,
  RT_SCOPE_SITE,
  RT_SCOPE_UNIVERSE,
  RTM_DELADDR,
  RTM_GETADDR,
  RTM_NEWADDR,
} from './netlink/generated/index.js';
import { SpecError } from './errors.js';
import { NameTable } from './name-table.js';
import { linkIndex } from './link.js';
import type { LinkRef } from './link.js';
import { afOf, broadcastOf, familyOf, familyOfAf, parseIp, parsePrefix } from './base/ip.js';
import type { IpFamily, ParsedPrefix } from './base/ip.js';

/** Address scope as `ip` names it (`scope global|site|link|host`). */
export type AddrScope = 'global' | 'site' | 'link' | 'host' | 'nowhere';

export interface AddrOptions {
  /** IPv4 only: the broadcast address, or true to compute it like `brd +`. Default: none, as `ip addr add`. */
  broadcast?: boolean | string;
  /** IPv6: skip duplicate address detection (`nodad`), so the address is usable at once. */
  nodad?: boolean;
  /** Do not add the prefix route for the address's subnet (`noprefixroute`). */
  noprefixroute?: boolean;
  /** Default: 'host' for 127.0.0.0/8 (as `ip` does), 'global' otherwise (the kernel makes fe80::/10 'link'). */
  scope?: AddrScope;
}

export interface Address {
  /** ifindex of the device. */
  index: number;
  family: IpFamily;
  /** The interface's own address (IFA_LOCAL for IPv4, IFA_ADDRESS for IPv6). */
  address: string;
  prefixLen: number;
  /** 'address/prefixLen', as `ip addr` prints it. */
  cidr: string;
  scope: AddrScope;
  /** IFA_F_* (IFA_FLAGS when the kernel sent it, else the 8-bit ifa_flags). */
  flags: number;
  broadcast?: string;
  /** IPv4 label (`eth0`, `eth0:1`). */
  label?: string;
}

/** An address option that cannot be sent as given (scope, family, broadcast). Nothing was sent. */
export class AddrSpecError extends SpecError {
  static override readonly subject = 'address ';
}

const SCOPES = new NameTable<AddrScope>([
  ['global', RT_SCOPE_UNIVERSE],
  ['site', RT_SCOPE_SITE],
  ['link', RT_SCOPE_LINK],
  ['host', RT_SCOPE_HOST],
  ['nowhere', RT_SCOPE_NOWHERE],
]);

/** What RTM_NEWADDR/RTM_DELADDR need to name one address on one device. */
function addrMessage(index: number, p: ParsedPrefix, scope: number, flags: number): { header: Record<string, number>; attrs: Attrs } {
  // IPv4 keeps the interface address in IFA_LOCAL and the peer/prefix address in IFA_ADDRESS; without
  // a peer both are the same, as `ip addr add` sends them.
  const attrs: Attrs = p.family === 4 ? { IFA_LOCAL: p.address, IFA_ADDRESS: p.address } : { IFA_ADDRESS: p.address };
  if (flags !== 0) attrs.IFA_FLAGS = flags;
  return {
    header: { ifa_family: afOf(p.family), ifa_prefixlen: p.prefixLen, ifa_flags: flags & 0xff, ifa_scope: scope, ifa_index: index },
    attrs,
  };
}

function defaultScope(p: ParsedPrefix): number {
  return p.family === 4 && p.address.startsWith('127.') ? RT_SCOPE_HOST : RT_SCOPE_UNIVERSE;
}

/** Decodes an RTM_NEWADDR message into an Address. */
export function decodeAddress(m: NlMessage): Address {
  const family = familyOfAf(m.header.ifa_family ?? 0);
  const { IFA_LOCAL: local, IFA_ADDRESS: peer, IFA_FLAGS: flags, IFA_BROADCAST: broadcast, IFA_LABEL: label } = m.attrs;
  const address = typeof local === 'string' ? local : typeof peer === 'string' ? peer : '';
  const prefixLen = m.header.ifa_prefixlen ?? 0;
  const scope = m.header.ifa_scope ?? 0;
  const a: Address = {
    index: m.header.ifa_index ?? 0,
    family,
    address,
    prefixLen,
    cidr: `${address}/${prefixLen}`,
    scope: SCOPES.name(scope) ?? 'global',
    flags: typeof flags === 'number' ? flags : (m.header.ifa_flags ?? 0),
  };
  if (typeof broadcast === 'string') a.broadcast = broadcast;
  if (typeof label === 'string') a.label = label;
  return a;
}

function checkFamily(family: unknown): IpFamily | undefined {
  if (family === undefined || family === 4 || family === 6) return family;
  throw new AddrSpecError('family', family, 'expected 4 or 6');
}

export class AddrApi {
  readonly #sock: Transport;

  constructor(sock: Transport) {
    this.#sock = sock;
  }

  /**
   * Adds an address — `ip addr add <cidr> dev <dev> [brd +|<addr>] [scope …] [nodad] [noprefixroute]`.
   * NetlinkError EEXIST if the device already has it.
   */
  add(dev: LinkRef, cidr: string, opts: AddrOptions = {}): void {
    const p = parsePrefix(cidr);
    const scope = opts.scope === undefined ? defaultScope(p) : SCOPES.number(opts.scope, (expected) => new AddrSpecError('scope', opts.scope, expected));
    let broadcast: string | undefined;
    if (opts.broadcast !== undefined && opts.broadcast !== false) {
      if (p.family !== 4) throw new AddrSpecError('broadcast', opts.broadcast, `IPv6 has none (${cidr})`);
      broadcast = opts.broadcast === true ? broadcastOf(cidr) : parseIp(opts.broadcast).address;
      if (familyOf(broadcast) !== 4) throw new AddrSpecError('broadcast', opts.broadcast, `is IPv6 for IPv4 ${cidr}`);
    }
    const flags = (opts.nodad ? IFA_F_NODAD : 0) | (opts.noprefixroute ? IFA_F_NOPREFIXROUTE : 0);
    const msg = addrMessage(linkIndex(this.#sock, dev), p, scope, flags);
    if (broadcast !== undefined) msg.attrs.IFA_BROADCAST = broadcast;
    this.#sock.request({ type: RTM_NEWADDR, flags: NLM_F_CREATE | NLM_F_EXCL, ...msg });
  }

  /** Removes an address — `ip addr del <cidr> dev <dev>`. NetlinkError EADDRNOTAVAIL if it is not there. */
  del(dev: LinkRef, cidr: string): void {
    const p = parsePrefix(cidr);
    this.#sock.request({ type: RTM_DELADDR, ...addrMessage(linkIndex(this.#sock, dev), p, 0, 0) });
  }

  /** Addresses, optionally of one device and/or family — `ip addr show [dev <dev>] [-4|-6]`. */
  list(filter: { dev?: LinkRef; family?: IpFamily } = {}): Address[] {
    const family = checkFamily(filter.family);
    const index = filter.dev === undefined ? 0 : linkIndex(this.#sock, filter.dev);
    const msgs = this.#sock.dump({
      type: RTM_GETADDR,
      header: { ifa_family: family === undefined ? AF_UNSPEC : afOf(family), ifa_prefixlen: 0, ifa_flags: 0, ifa_scope: 0, ifa_index: index },
      attrs: {},
    });
    // The kernel filters by ifa_index under strict checking; the check here keeps that a detail.
    return msgs.filter((m) => m.type === RTM_NEWADDR && (index === 0 || m.header.ifa_index === index)).map(decodeAddress);
  }

  /**
   * Removes every address of a device (of one family if given) — `ip addr flush dev <dev> [-4|-6]`.
   * Returns how many were removed.
   */
  flush(dev: LinkRef, family?: IpFamily): number {
    let removed = 0;
    for (const a of this.list({ dev, family })) {
      try {
        this.del(a.index, a.cidr);
        removed++;
      } catch (err) {
        // Deleting a primary IPv4 address takes its secondaries with it.
        if (!isNotFound(err)) throw err;
      }
    }
    return removed;
  }
}

/**
 * Makes sure `dev` has exactly the address `cidr`: nothing if present; replaces the same address
 * with another prefix length; adds it otherwise. Returns true when it changed something.
 */
export function ensureAddr(api: AddrApi, dev: LinkRef, cidr: string, opts: AddrOptions = {}): boolean {
  const want = parsePrefix(cidr);
  const same = api.list({ dev, family: want.family }).filter((a) => a.address === want.address);
  if (same.some((a) => a.prefixLen === want.prefixLen)) return false;
  for (const a of same) api.del(a.index, a.cidr);
  api.add(dev, cidr, opts);
  return true;
}
