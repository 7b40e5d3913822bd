// Change events from the kernel's rtnetlink multicast groups (what `ip monitor` prints), as an
// async iterable that never blocks the event loop.
//
// Why a timer and not a blocking read: every socket call here is synchronous on the main thread, so
// a blocking recv would freeze the process. The socket is instead drained with MSG_DONTWAIT, and
// when it is empty the loop sleeps a few milliseconds. Events are queued by the kernel in between,
// so none are lost to the polling; only an overrun of the socket buffer loses them, and that is
// reported as an event so the consumer can resync with a dump. A daemon that would rather not wake
// while nothing happens asks for `wait: 'worker'`: once the socket has been quiet a while, the wait is
// a poll(2) on a worker thread (which an abort ends at once by sending the socket a message of its
// own), and the timer takes over again at the first event — a busy socket is read in batches, every
// `pollMs`, rather than woken for each event.
//
// The socket is opened by the iteration itself (at the first next()), not by monitor(): a monitor
// that is never iterated, or whose iterator is returned before its first next(), holds nothing.
import { setTimeout as sleep } from 'node:timers/promises';
import { SyscallError } from '../base/errno.js';
import { NetlinkOptionsError } from './errors.js';
import type { NlMessage } from './codec.js';
import {
  RTM_DELADDR,
  RTM_DELLINK,
  RTM_DELNEIGH,
  RTM_DELNEXTHOP,
  RTM_DELROUTE,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWNEIGH,
  RTM_NEWNEXTHOP,
  RTM_NEWROUTE,
  RTNLGRP_IPV4_IFADDR,
  RTNLGRP_IPV4_ROUTE,
  RTNLGRP_IPV6_IFADDR,
  RTNLGRP_IPV6_ROUTE,
  RTNLGRP_LINK,
  RTNLGRP_NEIGH,
  RTNLGRP_NEXTHOP,
} from './generated/index.js';
import { NetlinkSocket, type OpenOptions } from './socket.js';

export type MonitorGroup = 'link' | 'ipv4-addr' | 'ipv6-addr' | 'ipv4-route' | 'ipv6-route' | 'neigh' | 'nexthop';

export type MonitorEvent =
  | { kind: ChangeKind; action: 'new' | 'del'; message: NlMessage }
  /** The kernel dropped events (ENOBUFS): what you hold may be stale; dump again. */
  | { kind: 'overrun' };

export interface MonitorOptions {
  groups: readonly MonitorGroup[];
  /** Ends the iteration (and closes the socket) when aborted. */
  signal?: AbortSignal;
  /**
   * How an empty socket is waited on: 'timer' (default) sleeps `pollMs` between reads on this thread.
   * 'worker' does too while events come, but once none came for `quietMs` it waits in poll(2) on a
   * worker thread of libuv's pool (holding it meanwhile) until the next, so an idle monitor costs no
   * wakeups here — for a long-lived daemon with one monitor (the pool has 4 threads by default).
   */
  wait?: 'timer' | 'worker';
  /** 'worker': how long the socket must have been quiet before the wait moves to the worker; default 2000 ms. */
  quietMs?: number;
  /** Sleep between reads of an empty socket, in ms; default 10. */
  pollMs?: number;
  /** Socket receive buffer; a bigger one rides out longer bursts before overrunning. Default 1 MiB. */
  receiveBufferBytes?: number;
  /**
   * Opens the socket when iteration starts; default `NetlinkSocket.open` (the caller's namespace).
   * The layer above passes one that opens it in another namespace (`monitor({ netns })` in core's index).
   */
  open?: (opts: OpenOptions) => NetlinkSocket;
  /**
   * Decides from each message's bytes, before it is decoded, whether it is an event at all for the
   * caller (see RawEvent for cheap checks): a rejected one costs a header read, not a decode. Called
   * when the datagram holding the message is read off the socket: for every message of it before the
   * first of their events is yielded, so what it judges by must not change while a batch is consumed.
   */
  accept?: (event: RawEvent) => boolean;
}

/**
 * A message as read, not decoded: its type and the fixed header every event kind starts with. For
 * link, address and neighbour messages `ifindex` is the device's (ifi_index, ifa_index, ndm_ifindex);
 * for routes `table` and `protocol` are rtm_table (RT_TABLE_COMPAT, 252, for a table above 255: see
 * its RTA_TABLE) and rtm_protocol. `attr(type)` finds a top-level attribute's payload without decoding.
 */
export class RawEvent {
  buf: Buffer = Buffer.alloc(0);
  /** The netlink header's offset in `buf`, and the message's end. */
  start = 0;
  end = 0;

  get type(): number {
    return this.buf.readUInt16LE(this.start + 4);
  }

  /** The event's kind, as MonitorEvent's `kind` will say. */
  get kind(): ChangeKind {
    return EVENTS[this.type]!.kind;
  }

  /** The family-specific header's first byte (rtm_family, ifi_family, ndm_family, ifa_family). */
  get family(): number {
    return this.buf[this.start + NLMSG_HDRLEN]!;
  }

  get ifindex(): number {
    return this.buf.readInt32LE(this.start + NLMSG_HDRLEN + 4);
  }

  get table(): number {
    return this.buf[this.start + NLMSG_HDRLEN + 4]!;
  }

  get protocol(): number {
    return this.buf[this.start + NLMSG_HDRLEN + 5]!;
  }

  /** rtm_dst_len: a route's prefix length. */
  get dstLen(): number {
    return this.buf[this.start + NLMSG_HDRLEN + 1]!;
  }

  /**
   * The payload offset of the first top-level attribute of `type` after a `headerSize`-byte family
   * header (rtmsg 12, ifinfomsg 16, ifaddrmsg 8, ndmsg 12), or -1 when it has none.
   */
  attr(headerSize: number, type: number): number {
    const b = this.buf;
    for (let p = this.start + NLMSG_HDRLEN + ((headerSize + 3) & ~3); this.end - p >= 4; ) {
      const len = b.readUInt16LE(p);
      // A length that runs past the message is malformed: no attribute, rather than a read of the next one's bytes.
      if (len < 4 || len > this.end - p) return -1;
      if ((b.readUInt16LE(p + 2) & NLA_TYPE_MASK) === type) return p + 4;
      p += (len + 3) & ~3;
    }
    return -1;
  }
}

const NLMSG_HDRLEN = 16;
const NLA_TYPE_MASK = 0x3fff;
/** 'worker': the longest such wait (a wakeup each, only while nothing happens). */
const WORKER_WAIT_MS = 10_000;

const GROUPS: Record<MonitorGroup, number> = {
  link: RTNLGRP_LINK,
  'ipv4-addr': RTNLGRP_IPV4_IFADDR,
  'ipv6-addr': RTNLGRP_IPV6_IFADDR,
  'ipv4-route': RTNLGRP_IPV4_ROUTE,
  'ipv6-route': RTNLGRP_IPV6_ROUTE,
  neigh: RTNLGRP_NEIGH,
  nexthop: RTNLGRP_NEXTHOP,
};

type ChangeKind = 'link' | 'addr' | 'route' | 'neigh' | 'nexthop';
const EVENTS: Record<number, { kind: ChangeKind; action: 'new' | 'del' } | undefined> = {
  [RTM_NEWLINK]: { kind: 'link', action: 'new' },
  [RTM_DELLINK]: { kind: 'link', action: 'del' },
  [RTM_NEWADDR]: { kind: 'addr', action: 'new' },
  [RTM_DELADDR]: { kind: 'addr', action: 'del' },
  [RTM_NEWROUTE]: { kind: 'route', action: 'new' },
  [RTM_DELROUTE]: { kind: 'route', action: 'del' },
  [RTM_NEWNEIGH]: { kind: 'neigh', action: 'new' },
  [RTM_DELNEIGH]: { kind: 'neigh', action: 'del' },
  [RTM_NEWNEXTHOP]: { kind: 'nexthop', action: 'new' },
  [RTM_DELNEXTHOP]: { kind: 'nexthop', action: 'del' },
};

/**
 * Streams link/address/route/neighbour changes, like `ip monitor link address route neigh`.
 * The socket opens and joins its groups when iteration starts — synchronously inside the first
 * `next()` (the first turn of a `for await`) — so changes made after that are seen; to list and
 * then follow without a gap, start iterating, then dump. Iteration ends, and the socket closes,
 * when `signal` aborts or the loop breaks; a monitor never iterated opens nothing.
 */
export function monitor(opts: MonitorOptions): AsyncIterable<MonitorEvent> {
  if (opts.groups.length === 0) throw new NetlinkOptionsError('monitor: name at least one group');
  const groups = opts.groups.map((g) => {
    const n = GROUPS[g];
    if (n === undefined) throw new NetlinkOptionsError(`monitor: unknown group ${JSON.stringify(g)} (one of ${Object.keys(GROUPS).join(', ')})`);
    return n;
  });
  if (opts.wait !== undefined && opts.wait !== 'timer' && opts.wait !== 'worker')
    throw new NetlinkOptionsError(`monitor: wait must be 'timer' or 'worker', got ${JSON.stringify(opts.wait)}`);
  const worker = opts.wait === 'worker';
  const pollMs = opts.pollMs ?? 10;
  const quietMs = opts.quietMs ?? 2000;
  if (!Number.isInteger(pollMs) || pollMs < 1) throw new NetlinkOptionsError(`monitor: pollMs must be a positive integer, got ${pollMs}`);
  const open = opts.open ?? ((o: OpenOptions) => NetlinkSocket.open(o));
  const socketOpts: OpenOptions = opts.receiveBufferBytes !== undefined ? { receiveBufferBytes: opts.receiveBufferBytes } : {};
  const raw = opts.accept === undefined ? undefined : new RawEvent();
  const accept =
    raw === undefined
      ? undefined
      : (buf: Buffer, start: number, end: number): boolean => {
          // Too short for the family headers the getters read: let the decode judge (and reject) it.
          if (end - start < NLMSG_HDRLEN + 8 || EVENTS[buf.readUInt16LE(start + 4)] === undefined) return true;
          raw.buf = buf;
          raw.start = start;
          raw.end = end;
          return opts.accept!(raw);
        };
  return events(
    () => {
      const sock = open(socketOpts);
      try {
        sock.joinGroups(groups);
      } catch (e) {
        sock.close();
        throw e;
      }
      return sock;
    },
    opts.signal,
    { pollMs, worker, quietMs },
    accept,
  );
}

async function* events(
  open: () => NetlinkSocket,
  signal: AbortSignal | undefined,
  { pollMs, worker, quietMs }: { pollMs: number; worker: boolean; quietMs: number },
  accept: ((buf: Buffer, start: number, end: number) => boolean) | undefined,
): AsyncGenerator<MonitorEvent> {
  if (signal?.aborted) return; // nothing to watch: open nothing
  const sock = open();
  // A worker's wait under way; the socket must stay open until it returned.
  let waiting = false;
  // Close on abort even while the consumer is not waiting on next() (the finally below runs only
  // when the generator resumes); a worker's wait is woken instead, and the finally closes.
  const onAbort = (): void => {
    if (!waiting) return sock.close();
    try {
      sock.wake();
    } catch {
      // (the wait still ends when its WORKER_WAIT_MS run out, and the loop then sees the abort)
    }
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  let lastRead = performance.now();
  try {
    while (!signal?.aborted) {
      let batch: NlMessage[] | undefined;
      try {
        batch = sock.receiveNow(accept);
      } catch (e) {
        if (e instanceof SyscallError && e.code === 'ENOBUFS') {
          yield { kind: 'overrun' };
          continue;
        }
        throw e;
      }
      if (batch === undefined) {
        if (worker && performance.now() - lastRead >= quietMs) {
          waiting = true;
          const ready = await sock.waitReadable(WORKER_WAIT_MS);
          waiting = false;
          // Something came (read it now, and the timer's batches take over) or nothing did; a wait
          // that failed (EINTR, say) is followed by a timer's sleep, never a busy loop.
          if (ready >= 0 || signal?.aborted) continue;
        }
        try {
          await sleep(pollMs, undefined, signal ? { signal } : undefined);
        } catch {
          return; // aborted while sleeping
        }
        continue;
      }
      lastRead = performance.now();
      for (const message of batch) {
        const ev = EVENTS[message.type];
        if (ev !== undefined) yield { kind: ev.kind, action: ev.action, message };
      }
    }
  } finally {
    signal?.removeEventListener('abort', onAbort); // a long-lived signal must not keep this socket reachable
    sock.close();
  }
}
