// ipMasq with nftables: ONE table of the plugin's own (`inet netboot-cni`) with a set of pod addresses per
// family; a pod's ADD adds one element, its DEL removes it. The reference adds a chain and rules per
// pod through several iptables runs (~12 ms per ADD, ~48 ms per DEL here). Elements go over nf_tables
// netlink (core's Nft, well under a millisecond); `nft` runs only to create the table the first time
// (the kernel says ENOENT) and to list elements when DEL does not know the pod's addresses, or for GC.
//
//   table inet netboot-cni {
//     set pods4 { type ipv4_addr; }                  # one element per pod, comment "<network> <host veth>"
//     set nets4 { type ipv4_addr; flags interval; }  # pod subnets (and multicast): never masqueraded
//     chain postrouting { type nat hook postrouting priority srcnat;
//       ip saddr @pods4 ip daddr != @nets4 masquerade; … ip6 likewise }
//   }
import { isNotFound, Nft, type NftElement, type NftSetChange } from '@netboot/core';
import { networkOf, parsePrefix } from '@netboot/core/ip';
import type { Attachment, NetConf } from './config.js';
import type { CleanupStack } from './cleanup.js';
import { CniCode, CniError } from './errors.js';
import { lazy } from './lazy.js';
import { keptPerNetns } from './pod-netns.js';
import type { CniIp } from './result.js';
import { hostVethName } from './wiring.js';

/** Not `inet netboot`: the node agent owns that one and replaces it whole, which would drop every pod's element. */
export const NFT_TABLE = 'netboot-cni';
/** The nft command, loaded only when the table must be created (see masq-nft.ts). */
const nftCommand = lazy(() => import('./masq-nft.js'));

const SETUP = `add table inet ${NFT_TABLE}
add set inet ${NFT_TABLE} pods4 { type ipv4_addr; }
add set inet ${NFT_TABLE} pods6 { type ipv6_addr; }
add set inet ${NFT_TABLE} nets4 { type ipv4_addr; flags interval; }
add set inet ${NFT_TABLE} nets6 { type ipv6_addr; flags interval; }
add element inet ${NFT_TABLE} nets4 { 224.0.0.0/4 }
add element inet ${NFT_TABLE} nets6 { ff00::/8 }
add chain inet ${NFT_TABLE} postrouting { type nat hook postrouting priority srcnat; policy accept; }
flush chain inet ${NFT_TABLE} postrouting
add rule inet ${NFT_TABLE} postrouting ip saddr @pods4 ip daddr != @nets4 masquerade
add rule inet ${NFT_TABLE} postrouting ip6 saddr @pods6 ip6 daddr != @nets6 masquerade
`;

const POD_SETS = ['pods4', 'pods6'] as const;
const setOf = (ip: string): (typeof POD_SETS)[number] => (parsePrefix(`${ip}/0`).family === 4 ? 'pods4' : 'pods6');

/** A pod element as listed: its set, address and comment ("<network> <host veth>"). */
interface PodElement {
  set: (typeof POD_SETS)[number];
  ip: string;
  comment: string | undefined;
}

const ref = (set: string) => ({ family: 'inet' as const, table: NFT_TABLE, set });

/**
 * The nf_tables socket, kept across calls: closing one after a transaction that deleted an element
 * waits for the kernel's deferred destruction of it (a synchronize_rcu(): 7–14 ms measured), which a
 * kept socket leaves to the kernel's worker.
 */
const hostNft = keptPerNetns(() => Nft.open());

/** Applies `verb` to the elements, grouped by set, as ONE nf_tables transaction (all or nothing). */
function change(verb: NftSetChange['verb'], elements: readonly (NftElement & { set: string })[]): void {
  const bySet = new Map<string, NftElement[]>();
  for (const { set, ...e } of elements) bySet.set(set, [...(bySet.get(set) ?? []), e]);
  hostNft().apply([...bySet].map(([set, elems]) => ({ verb, ref: ref(set), elements: elems })));
}

const deleteElements = (elements: readonly PodElement[]) =>
  change(
    'delete',
    elements.map((e) => ({ set: e.set, key: e.ip })),
  );

/** The pod sets' elements (`nft list set inet netboot-cni pods4|pods6`); none when the table is not there. */
function listPodElements(): PodElement[] {
  const nft = hostNft();
  return POD_SETS.flatMap((set) => {
    try {
      return nft.listElements(ref(set)).map((e) => ({ set, ip: e.key, comment: e.comment }));
    } catch (err) {
      if (isNotFound(err)) return []; // no table: nothing was ever masqueraded here
      throw internal(err, 'listing masquerade elements');
    }
  });
}

/** Wraps a netlink failure as the plugin's error, keeping the kernel's words. */
function internal(err: unknown, what: string): CniError {
  return new CniError(CniCode.Internal, `${what}: ${err instanceof Error ? err.message : String(err)}`);
}

export function masqueradeFor(conf: NetConf) {
  const tag = (a: Attachment) => `${conf.name.slice(0, 100)} ${hostVethName(conf.name, a)}`;
  const removeWhere = (keep: (e: PodElement) => boolean): void => {
    const doomed = listPodElements().filter((e) => !keep(e));
    if (doomed.length === 0) return;
    try {
      deleteElements(doomed);
    } catch (err) {
      throw internal(err, 'removing masquerade elements');
    }
  };
  return {
    /** Adds the pod's addresses (and its subnets to the never-masqueraded set); the undo removes the elements. */
    async add(a: Attachment, ips: readonly CniIp[], stack: CleanupStack): Promise<void> {
      const addrs = ips.map((ip) => parsePrefix(ip.address));
      const elements = [
        ...addrs.map((p) => ({ set: `nets${p.family}`, key: networkOf(`${p.address}/${p.prefixLen}`) })),
        ...addrs.map((p) => ({ set: `pods${p.family}`, key: p.address, comment: tag(a) })),
      ];
      try {
        change('add', elements);
      } catch (err) {
        if (!isNotFound(err)) throw internal(err, 'adding masquerade elements');
        (await nftCommand()).runNft(SETUP); // the first pod on this node (or after a reboot): create the table, then retry
        try {
          change('add', elements);
        } catch (again) {
          throw internal(again, 'adding masquerade elements');
        }
      }
      stack.push('masquerade elements', () =>
        this.del(
          a,
          addrs.map((p) => p.address),
        ),
      );
    },
    /** Removes the pod's elements: by address in one run when known, else (or if that fails) by comment. */
    async del(a: Attachment, ips: readonly string[]): Promise<void> {
      const mine = tag(a);
      if (ips.length > 0) {
        try {
          return deleteElements(ips.map((ip) => ({ set: setOf(ip), ip, comment: mine })));
        } catch {
          // some were already gone (or never added): fall back to looking
        }
      }
      removeWhere((e) => e.comment !== mine);
    },
    /** Removes this network's elements whose attachment is not in `valid`. */
    async gc(valid: readonly Attachment[]): Promise<void> {
      const live = new Set(valid.map(tag));
      const prefix = `${conf.name.slice(0, 100)} `;
      removeWhere((e) => e.comment === undefined || !e.comment.startsWith(prefix) || live.has(e.comment));
    },
  };
}
