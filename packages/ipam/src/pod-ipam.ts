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

/** Pod IP management on one node: CNI ADD, DEL, GC and CHECK, and the reads `netboot ipam show` needs. */
export interface PodIpam {
  /**
   * CNI ADD: reserves the attachment's addresses (one per range set or family). Idempotent: an attachment
   * that already holds its addresses gets them back.
   */
  allocate(attachment: Attachment, opts?: PodAllocateOptions): Promise<PodAddress[]>;
  /** CNI DEL: releases every address of the attachment. An unknown attachment is not an error. */
  release(attachment: Attachment): Promise<ReleaseResult>;
  /** Releases one address whoever holds it; undefined if it was not reserved. */
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
  /** Who holds `ip`, or undefined if nobody does. */
  holder(ip: string): Promise<Reservation | undefined>;
  /** The reservations of this node (narrowed by `filter`), sorted by address. */
  reservations(filter?: ReservationFilter): Promise<Reservation[]>;
  /** Usable, allocated and free addresses (`calicoctl ipam show`). */
  usage(): Promise<Usage>;
}
