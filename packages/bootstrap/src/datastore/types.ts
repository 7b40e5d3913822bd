// The agent's datastore seam: where a node learns its pod subnets, publishes its own record and hears
// about its peers. Three implementations (file.ts, etcd.ts, kubernetes.ts) pass one contract suite
// (test/datastore-contract.ts); the agent knows only this interface.
import { InvalidInputError, NetbootError } from '@netboot/core/errors';

/** What one node tells the others: enough for any routing mode to reach its pods. */
export interface NodeRecord {
  name: string;
  /** Underlay addresses, IPv4 and/or IPv6. */
  nodeIPs: string[];
  /** The node's pod subnets (one per family). */
  podCIDRs: string[];
  /** The node's VXLAN device MAC (`vtepMac(name)` when absent). */
  vtepMac?: string;
  /** The routing mode the node runs (`host-gw`, `vxlan`, …), so a mismatch can be reported. */
  mode?: string;
  /** The agent's own account of its health, republished when readiness changes and once per resync period (`netboot status`). */
  health?: NodeHealth;
}

/** A small health summary an agent publishes in its record: its health port answers only on its own node. */
export interface NodeHealth {
  ready: boolean;
  /** When the agent last finished a reconcile pass (ISO 8601). */
  reconciledAt?: string;
  /** Reconcile errors since the agent started. */
  errors?: number;
  /** What readiness waits for, when not ready. */
  waitingFor?: string;
}

/** An IP pool as a datastore keeps it: its state decides where new pods' addresses come from and what is masqueraded. */
export interface PoolState {
  cidr: string;
  /** No new subnets or pod addresses from it; subnets and pods it already gave stay valid and routed. */
  disabled: boolean;
  /** Masquerade its pods' traffic to destinations outside every pool and every node of the cluster. */
  natOutgoing: boolean;
}

/** This node's pod subnets as the datastore assigns them. */
export interface NodeLease {
  /** Every subnet the node holds (published in its record, routed by its peers): one or more per family. */
  podCIDRs: string[];
  /** Those of `podCIDRs` in a disabled pool: their pods keep their addresses, new pods get none there. */
  disabled: string[];
  /** The cluster's pools, where the datastore keeps them (etcd's ClusterIpam, a nodes file's `pools`); else the agent's config says. */
  pools?: PoolState[];
}

/**
 * A change to the peer set. `sync` carries the whole set (the first event of a watch, and again after
 * every reconnect or re-list): records not in it are gone. `upsert`/`remove` carry one record each.
 * `waiting` says the datastore is unreachable and the watch is retrying; nothing is known to have
 * changed until the next `sync`. Records are complete (node IPs and pod CIDRs): a node still lacking
 * either arrives as `remove`, so a consumer never routes half a record.
 */
export type PeerEvent =
  | { type: 'sync'; peers: NodeRecord[] }
  | { type: 'upsert'; peer: NodeRecord }
  | { type: 'remove'; name: string }
  | { type: 'waiting'; reason: string; retryMs: number };

export interface Datastore {
  readonly kind: 'file' | 'etcd' | 'kubernetes';
  /**
   * This node's lease: its entry in the file, blocks claimed through ClusterIpam (etcd: one per family
   * from an enabled pool, and those it still holds in disabled ones), or the Node's `spec.podCIDRs`
   * (Kubernetes). The first once it exists (waiting, retrying with backoff), then again each time it
   * changes (an entry edited, a pool disabled or deleted, a Node re-created), until `signal` aborts; an
   * error no retry can fix ends the iteration by throwing it.
   */
  leases(signal: AbortSignal): AsyncIterable<NodeLease>;
  /**
   * Publishes this node's record and keeps it published (etcd: under a lease kept alive) until close();
   * retries while the datastore is unreachable, until `signal` aborts (rejecting with its reason).
   */
  publish(record: NodeRecord, signal?: AbortSignal): Promise<void>;
  /** Every node's record (this node's too) as events, until `signal` aborts; see {@link PeerEvent}. */
  watch(signal: AbortSignal): AsyncIterable<PeerEvent>;
  /** Stops keep-alives and closes connections. The published record stays, except etcd's, whose lease is revoked. */
  close(): Promise<void>;
}

/** The datastore holds something that is not a valid record or answer (names the key and the field). */
export class DatastoreRecordError extends InvalidInputError {}

/** What lease() and publish() reject with when their signal aborts without a reason of its own. */
class DatastoreAbortedError extends NetbootError {
  readonly kind = 'unavailable' as const;
}

/** `signal`'s reason, for rejecting when it aborted. */
export function abortReason(signal: AbortSignal | undefined, what: string): unknown {
  return signal?.reason ?? new DatastoreAbortedError(`${what}: aborted`);
}
