// nf_tables set elements over netlink (NETLINK_NETFILTER), for the hot paths that would otherwise run
// `nft` once per call (~20–40 ms of process start each): the CNI plugin's per-pod masquerade element.
// Tables, sets and rules stay nft's job (`nft -f`, rare and idempotent); this module only adds,
// removes and lists elements of a set that exists.
//
// A change is one nf_tables transaction, as nft sends it: NFNL_MSG_BATCH_BEGIN, one NFT_MSG_NEWSETELEM
// or NFT_MSG_DELSETELEM per set carrying every element, NFNL_MSG_BATCH_END — all or nothing. The
// kernel answers only failures; the socket's batch fence says when it is done (NetlinkSocket.batch).
// Listing is an NFT_MSG_GETSETELEM dump, what `nft list set` reads.
import { InvalidInputError } from './base/errors.js';
import { bitsOf, ipToBytes, ipToValue, parsePrefix, readIp, valueToIp } from './base/ip.js';
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
  NFT_MSG_GETSETELEM,
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

/** One set's part of a transaction: `nft add|delete element <family> <table> <set> { <elements> }`. */
export interface NftSetChange {
  verb: 'add' | 'delete';
  ref: NftSetRef;
  elements: readonly NftElement[];
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
  return transactionRequests([{ verb, ref, elements }]);
}

/** Several set changes as one transaction: BATCH_BEGIN, one message per change, BATCH_END. */
function transactionRequests(changes: readonly NftSetChange[]): Request[] {
  return [batchMark(NFNL_MSG_BATCH_BEGIN), ...changes.map(changeRequest), batchMark(NFNL_MSG_BATCH_END)];
}

function changeRequest({ verb, ref, elements }: NftSetChange): Request {
  const attrs: Attrs = {
    NFTA_SET_ELEM_LIST_TABLE: ref.table,
    NFTA_SET_ELEM_LIST_SET: ref.set,
    NFTA_SET_ELEM_LIST_ELEMENTS: { NFTA_LIST_ELEM: elements.flatMap(elementAttrs) },
  };
  const header = { nfgen_family: FAMILIES[ref.family], version: NFNETLINK_V0 };
  return verb === 'add'
    ? { type: NFT_TYPE_BASE | NFT_MSG_NEWSETELEM, flags: NLM_F_CREATE, header, attrs }
    : { type: NFT_TYPE_BASE | NFT_MSG_DELSETELEM, header, attrs };
}

/** An element's comment from libnftnl's userdata TLVs; undefined without one. */
function commentOf(userdata: unknown): string | undefined {
  if (!(userdata instanceof Uint8Array)) return undefined;
  for (let p = 0; p + 2 <= userdata.length; p += 2 + userdata[p + 1]!) {
    const len = userdata[p + 1]!;
    if (userdata[p] !== UDATA_COMMENT || p + 2 + len > userdata.length) continue;
    const text = Buffer.from(userdata.buffer, userdata.byteOffset + p + 2, len).toString('utf8');
    return text.endsWith('\0') ? text.slice(0, -1) : text;
  }
  return undefined;
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
    this.apply([{ verb: 'add', ref, elements }]);
  }

  /** `nft delete element <family> <table> <set> { <key>, … }`: one missing element fails the whole change (ENOENT). */
  deleteElements(ref: NftSetRef, elements: readonly NftElement[]): void {
    this.apply([{ verb: 'delete', ref, elements }]);
  }

  /**
   * Changes to several sets as ONE transaction, all or nothing (`nft -f` of one `add|delete element`
   * line per change): a pod's addresses and its subnets go in with one round trip instead of one per set.
   */
  apply(changes: readonly NftSetChange[]): void {
    const nonEmpty = changes.filter((c) => c.elements.length > 0);
    if (nonEmpty.length > 0) this.#commit(transactionRequests(nonEmpty));
  }

  /**
   * `nft list set <family> <table> <set>`'s elements with their comments, for a set of addresses
   * (`ipv4_addr`, `ipv6_addr`; in a set with `flags interval` each interval's start is listed as an
   * address). A missing table or set is a NetlinkError of kind `not-found` (ENOENT).
   */
  listElements(ref: NftSetRef): NftElement[] {
    const req: Request = {
      type: NFT_TYPE_BASE | NFT_MSG_GETSETELEM,
      header: { nfgen_family: FAMILIES[ref.family], version: NFNETLINK_V0 },
      attrs: { NFTA_SET_ELEM_LIST_TABLE: ref.table, NFTA_SET_ELEM_LIST_SET: ref.set },
    };
    const out: NftElement[] = [];
    for (const m of this.#sock.dump(req)) {
      const list = (m.attrs.NFTA_SET_ELEM_LIST_ELEMENTS as Attrs | undefined)?.NFTA_LIST_ELEM as Attrs[] | undefined;
      for (const e of list ?? []) {
        if (((e.NFTA_SET_ELEM_FLAGS as number | undefined) ?? 0) & NFT_SET_ELEM_INTERVAL_END) continue;
        const value = (e.NFTA_SET_ELEM_KEY as Attrs | undefined)?.NFTA_DATA_VALUE;
        const key = value instanceof Uint8Array ? readIp(value, 0, value.length) : undefined;
        if (key === undefined) continue; // not an address set
        const comment = commentOf(e.NFTA_SET_ELEM_USERDATA);
        out.push(comment === undefined ? { key } : { key, comment });
      }
    }
    return out;
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
