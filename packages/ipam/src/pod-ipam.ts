// The seam between pod networking and address management. The CNI plugin and the node agent depend on
// this interface only; LocalIpam (host-local's files on one node) and a node's view of ClusterIpam
// (`clusterIpam.forNode(node)`) implement it with the same argument and result types, and one contract
// suite (test/pod-ipam-contract.ts) runs against each.
import type { Attachment, CheckReport, ReleaseResult, Reservation, Usage } from './report.js';

/** One address handed to a pod interface, with what the CNI result needs to configure it. */
export interface PodAddress extends Reservation {
  /** The subnet the pod's address lives in: the range (node-local) or the node block (cluster), e.g. `10.244.1.0/24`. */
  subnet: string;
  prefixLen: number;
  /** The pods' gateway: the node bridge's address. */
  gateway: string;
}

export interface PodAllocateOptions {
  /** Specific addresses (CNI `args.cni.ips`), at most one per range set or family. */
  ips?: readonly string[];
}

/** Which reservations to list: those inside `cidr` (a block, a range) and/or made by `node`. */
export interface ReservationFilter {
  cidr?: string;
  node?: string;
}

/**
 * Pod IP management on one node: CNI ADD, DEL, GC and CHECK, and the reads `netboot ipam show` needs.
 * Every method sees only this node's reservations and addresses, as host-local sees only its directory;
 * another node's address is unknown here (undefined, not released). An entry that does not parse makes
 * the methods that look up one address throw CorruptEntryError, and comes back from gc and check as a
 * `corrupt-entry` problem.
 */
export interface PodIpam {
  /**
   * CNI ADD: reserves the attachment's addresses (one per range set or family); a requested IP fixes the
   * address of its own range set or family only. Idempotent: an attachment that already holds its
   * addresses gets them back. A requested IP outside every range, two of one range set or family, or the
   * gateway are InvalidArgumentError, and nothing is reserved.
   */
  allocate(attachment: Attachment, opts?: PodAllocateOptions): Promise<PodAddress[]>;
  /** CNI DEL: releases every address of the attachment. An unknown attachment is not an error. */
  release(attachment: Attachment): Promise<ReleaseResult>;
  /** Releases one of this node's addresses whoever holds it; undefined if it was not reserved here. */
  releaseIp(ip: string): Promise<Reservation | undefined>;
  /** CNI GC: releases every reservation of this node whose attachment is not in `valid`. */
  gc(valid: readonly Attachment[]): Promise<ReleaseResult>;
  /** Inconsistencies that need an operator; given `valid`, also reservations the runtime does not know. */
  check(opts?: { valid?: readonly Attachment[] }): Promise<CheckReport>;
  /**
   * Acts on a `check` report (`calicoctl ipam release --from-report`): releases what is still held by the
   * reported holder, so a stale report never frees someone else's address; the rest comes back as skipped.
   */
  releaseReport(report: CheckReport): Promise<ReleaseResult>;
  /** Who holds `ip` on this node, or undefined if nobody does. */
  holder(ip: string): Promise<Reservation | undefined>;
  /** The reservations of this node (narrowed by `filter`), sorted by address. */
  reservations(filter?: ReservationFilter): Promise<Reservation[]>;
  /** This node's usable, allocated and free addresses (`calicoctl ipam show`): its ranges, or its blocks. */
  usage(): Promise<Usage>;
}
