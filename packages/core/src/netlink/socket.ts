// CONTRACT STUB — the protocol helper replaces the bodies; the exported names and shapes are fixed.
//
// One NETLINK_ROUTE socket bound to the namespace it was opened in. Calls are synchronous: the
// kernel has queued rtnetlink replies by the time sendto returns, so a request never waits on
// another party, and synchronous calls are what namespace rules (netns.ts) need.
import type { NlMessage } from './codec.js';
import type { NetnsRef } from '../netns.js';

export interface OpenOptions {
  /** Namespace to open the socket in (name under /run/netns, a path, or a Netns); default: the caller's. */
  netns?: NetnsRef;
  /** Receive timeout guard in ms (SO_RCVTIMEO); default 10 000. */
  timeoutMs?: number;
}

/** What a caller sends: the socket fills seq/pid and adds NLM_F_REQUEST (and NLM_F_ACK for requests). */
export type Request = Omit<NlMessage, 'seq' | 'pid' | 'flags'> & { flags?: number };

export class NetlinkSocket {
  static open(_opts: OpenOptions = {}): NetlinkSocket {
    throw new Error('not implemented');
  }
  /** Sends one request with NLM_F_ACK and returns any replies before the ACK; throws NetlinkError. */
  request(_req: Request): NlMessage[] {
    throw new Error('not implemented');
  }
  /** NLM_F_DUMP request collected to NLMSG_DONE; retries NLM_F_DUMP_INTR, then DumpInterruptedError. */
  dump(_req: Request, _opts: { retries?: number } = {}): NlMessage[] {
    throw new Error('not implemented');
  }
  /**
   * Sends many requests before reading their ACKs (route programming at scale). Returns one entry per
   * request, in order: undefined on success, the NetlinkError otherwise — a failed request does not stop
   * the rest.
   */
  batch(_reqs: Request[]): (Error | undefined)[] {
    throw new Error('not implemented');
  }
  close(): void {
    throw new Error('not implemented');
  }
}
