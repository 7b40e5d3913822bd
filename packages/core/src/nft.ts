// nf_tables set elements over netlink (NETLINK_NETFILTER), for the hot paths that would otherwise run
// `nft` once per call (~20–40 ms of process start each): the CNI plugin's per-pod masquerade element.
// Tables, sets and rules stay nft's job (`nft -f`, rare and idempotent); this module only adds and
// removes elements of a set that exists.
//
// A change is one nf_tables transaction, as nft sends it: NFNL_MSG_BATCH_BEGIN, one NFT_MSG_NEWSETELEM
// or NFT_MSG_DELSETELEM carrying every element, NFNL_MSG_BATCH_END — all or nothing. The kernel
// answers only failures; the socket's batch fence says when it is done (NetlinkSocket.batch).
import { InvalidInputError } from './base/errors.js';
import { bitsOf, ipToBytes, ipToValue, parsePrefix, valueToIp } from './base/ip.js';
import type { Attrs } from './netlink/codec.js';
import type { NetlinkError } from './netlink/errors.js';
import {
  NETLINK_NETFILTER,
  NFNETLINK_V0,
  NFNL_MSG_BATCH_BEGIN,
  NFNL_MSG_BATCH_END,
  NFNL_SUBSYS_NFTABLES,
  NFPROTO_ARP,
  NFPROTO_BRIDGE,
  NFPROTO_INET,
  NFPROTO_IPV4,
  NFPROTO_IPV6,
  NFPROTO_NETDEV,
  NFT_MSG_DELSETELEM,
  NFT_MSG_NEWSETELEM,
  NFT_SET_ELEM_INTERVAL_END,
  NLM_F_CREATE,
} from './netlink/generated/index.js';
import { NFT_TYPE_BASE } from './netlink/schema.js';
import type { Request, Transport } from './netlink/socket.js';
import { openSocket, type RtnlOpenOptions } from './rtnl.js';

/** nft's table families (`nft add table <family> …`). */
export type NftFamily = 'ip' | 'ip6' | 'inet' | 'arp' | 'bridge' | 'netdev';

/** A set: `<family> <table> <set>` in nft's words. */
export interface NftSetRef {
  family: NftFamily;
  table: string;
  set: string;
}

/**
 * One element: an address (`10.244.1.5`, `fd00::5`) for a set of `ipv4_addr`/`ipv6_addr`, or a
 * prefix (`10.244.1.0/24`) for one with `flags interval`. `comment` is nft's element comment.
 */
export interface NftElement {
  key: string;
  comment?: string | undefined;
}

/** An element nft would refuse before sending anything (bad address, comment too long). */
export class NftElementError extends InvalidInputError {}

export type NftOpenOptions = Omit<RtnlOpenOptions, 'protocol'>;

const FAMILIES: Record<NftFamily, number> = {
  ip: NFPROTO_IPV4,
  ip6: NFPROTO_IPV6,
  inet: NFPROTO_INET,
  arp: NFPROTO_ARP,
  bridge: NFPROTO_BRIDGE,
  netdev: NFPROTO_NETDEV,
};
/** libnftnl's userdata TLV type for an element's comment (NFTNL_UDATA_SET_ELEM_COMMENT). */
const UDATA_COMMENT = 0;
/** nft's limit (NFT_USERDATA_MAXLEN is 256, the TLV length byte 255 with the NUL). */
const COMMENT_MAX = 254;
/** The batch delimiters address the nf_tables subsystem in res_id; their type is nfnetlink's own. */
const batchMark = (type: number): Request => ({ type, header: {}, attrs: {}, payload: nfgenmsgBytes(0, NFNL_SUBSYS_NFTABLES) });

function nfgenmsgBytes(family: number, resId: number): Buffer {
  const b = Buffer.alloc(4);
  b[0] = family;
  b[1] = NFNETLINK_V0;
  b.writeUInt16BE(resId, 2);
  return b;
}

/** NFTA_LIST_ELEM entries for one element: a key, or an interval's start and (unless it ends the address space) end. */
function elementAttrs(e: NftElement): Attrs[] {
  const userdata = e.comment === undefined ? undefined : commentTlv(e.comment);
  const withComment = (a: Attrs): Attrs => (userdata ? { ...a, NFTA_SET_ELEM_USERDATA: userdata } : a);
  const key = (ip: string): Attrs => ({ NFTA_DATA_VALUE: ipToBytes(ip) });
  if (!e.key.includes('/')) return [withComment({ NFTA_SET_ELEM_KEY: { NFTA_DATA_VALUE: checked(e.key, () => ipToBytes(e.key)) } })];
  const p = checked(e.key, () => parsePrefix(e.key));
  const { family, value } = ipToValue(p.address);
  const bits = bitsOf(family);
  const size = 1n << BigInt(bits - p.prefixLen);
  const start = (value / size) * size;
  const out = [withComment({ NFTA_SET_ELEM_KEY: key(valueToIp(family, start)) })];
  if (start + size < 1n << BigInt(bits)) {
    out.push({ NFTA_SET_ELEM_FLAGS: NFT_SET_ELEM_INTERVAL_END, NFTA_SET_ELEM_KEY: key(valueToIp(family, start + size)) });
  }
  return out;
}

function checked<T>(key: string, parse: () => T): T {
  try {
    return parse();
  } catch {
    throw new NftElementError(`set element ${JSON.stringify(key)} is not an IP address or prefix`);
  }
}

function commentTlv(comment: string): Buffer {
  const text = Buffer.from(`${comment}\0`);
  if (text.length - 1 > COMMENT_MAX) throw new NftElementError(`set element comment is ${text.length - 1} bytes, over nft's ${COMMENT_MAX}`);
  return Buffer.concat([Buffer.from([UDATA_COMMENT, text.length]), text]);
}

/**
 * The transaction `nft add|delete element <family> <table> <set> { <elements> }` sends, as requests for
 * a NETLINK_NETFILTER socket (the socket fills in seq and NLM_F_REQUEST). Exposed for tests and
 * recorders; Nft sends it.
 */
export function setElementRequests(verb: 'add' | 'delete', ref: NftSetRef, elements: readonly NftElement[]): Request[] {
  const attrs: Attrs = {
    NFTA_SET_ELEM_LIST_TABLE: ref.table,
    NFTA_SET_ELEM_LIST_SET: ref.set,
    NFTA_SET_ELEM_LIST_ELEMENTS: { NFTA_LIST_ELEM: elements.flatMap(elementAttrs) },
  };
  const change: Request =
    verb === 'add'
      ? { type: NFT_TYPE_BASE | NFT_MSG_NEWSETELEM, flags: NLM_F_CREATE, header: { nfgen_family: FAMILIES[ref.family], version: NFNETLINK_V0 }, attrs }
      : { type: NFT_TYPE_BASE | NFT_MSG_DELSETELEM, header: { nfgen_family: FAMILIES[ref.family], version: NFNETLINK_V0 }, attrs };
  return [batchMark(NFNL_MSG_BATCH_BEGIN), change, batchMark(NFNL_MSG_BATCH_END)];
}

/**
 * Set elements over one NETLINK_NETFILTER socket, in the namespace it was opened in. Failures are
 * NetlinkError with the kernel's words and a kind: ENOENT (no such table, set or — on delete — element)
 * is `not-found`, so callers can create the set with nft and retry, or treat a delete as done.
 */
export class Nft implements Disposable {
  readonly #sock: Transport & { close?(): void };

  /** Opens a NETLINK_NETFILTER socket (in `opts.netns` when given). */
  static open(opts: NftOpenOptions = {}): Nft {
    return new Nft(openSocket({ ...opts, protocol: NETLINK_NETFILTER }));
  }

  /** Wraps a transport that speaks NETLINK_NETFILTER (or a test's recorder). */
  constructor(sock: Transport & { close?(): void }) {
    this.#sock = sock;
  }

  /** `nft add element <family> <table> <set> { <key> [comment "<c>"], … }`: elements already there are kept. */
  addElements(ref: NftSetRef, elements: readonly NftElement[]): void {
    if (elements.length > 0) this.#commit(setElementRequests('add', ref, elements));
  }

  /** `nft delete element <family> <table> <set> { <key>, … }`: one missing element fails the whole change (ENOENT). */
  deleteElements(ref: NftSetRef, elements: readonly NftElement[]): void {
    if (elements.length > 0) this.#commit(setElementRequests('delete', ref, elements));
  }

  close(): void {
    this.#sock.close?.();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #commit(reqs: Request[]): void {
    const failed = this.#sock.batch(reqs).find((e): e is NetlinkError => e !== undefined);
    if (failed) throw failed;
  }
}
