// One NETLINK_ROUTE socket bound to the namespace it was opened in. Calls are synchronous: the
// kernel has queued rtnetlink replies by the time sendto returns, so a request never waits on
// another party, and synchronous calls are what namespace rules (netns.ts) need.
//
// Hot path: one encode buffer and one receive buffer per socket, reused for every call; a request
// is one sendto and one recvfrom, and its ACK is recognised without decoding.
import { SyscallError } from '../base/errno.js';
import * as libc from '../ffi/libc.js';
import { inNetnsFd } from '../ffi/netns.js';
import { decodeMessagesInto, MessageWriter, type EncodedBody, type NlMessage } from './codec.js';
import type { DumpCache } from './dump-cache.js';
import { DumpInterruptedError, NetlinkDecodeError, NetlinkError, NetlinkOptionsError, NetlinkTimeoutError, SocketClosedError } from './errors.js';
import {
  AF_NETLINK,
  MSG_DONTWAIT,
  MSG_PEEK,
  MSG_TRUNC,
  NETLINK_ADD_MEMBERSHIP,
  NETLINK_CAP_ACK,
  NETLINK_EXT_ACK,
  NETLINK_GET_STRICT_CHK,
  NETLINK_ROUTE,
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  NLM_F_ECHO,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_NOOP,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  SO_RCVTIMEO,
  SOCK_CLOEXEC,
  SOCK_RAW,
  SOL_NETLINK,
  SOL_SOCKET,
} from './generated/index.js';
import { familyByType, messageTypeName } from './schema.js';

export interface OpenOptions {
  /**
   * An open file descriptor of the network namespace to open the socket in (like mdlayher/netlink's
   * `Config.NetNS`); default: the caller's. Used only while the socket is created; the caller keeps
   * and closes it. Resolving names and paths (`/run/netns/<name>`) is the layer above's job:
   * `Rtnl.open({ netns })`, `openSocket({ netns })`.
   */
  netnsFd?: number;
  /** Netlink protocol: NETLINK_ROUTE (default), or NETLINK_NETFILTER for nf_tables (nft.ts). */
  protocol?: number;
  /** Receive timeout guard in ms (SO_RCVTIMEO); default 10 000. */
  timeoutMs?: number;
  /** Socket receive buffer in bytes (SO_RCVBUFFORCE, SO_RCVBUF without CAP_NET_ADMIN); default 1 MiB. */
  receiveBufferBytes?: number;
}

/**
 * What a caller sends: the socket fills seq/pid and adds NLM_F_REQUEST (and NLM_F_ACK for requests).
 * With `body` (core's batch calls), those bytes are the message's header and attributes, and
 * `header`/`attrs` are left empty.
 */
export type Request = Omit<NlMessage, 'seq' | 'pid' | 'flags'> & { flags?: number; body?: EncodedBody };

/**
 * What the typed APIs (LinkApi, AddrApi, RouteApi, NeighApi) ask of a socket, and all they ask: the
 * seam where a test puts a recorder (`RequestRecorder` in `@netboot/core/testing`) instead of the kernel.
 */
export interface Transport {
  /** One request, acknowledged; the replies before the ACK. Throws NetlinkError on a refusal. */
  request(req: Request): NlMessage[];
  /**
   * request() in two halves (NetlinkSocket.requestLater): sent now, its replies read by the function
   * returned; a transport without it makes it request() done at once.
   */
  requestLater?<T>(req: Request, read?: ReadReply<T>): () => (NlMessage | T)[];
  /** An NLM_F_DUMP request, collected to its end. */
  dump(req: Request, opts?: { retries?: number }): NlMessage[];
  /** Many requests, one result each (undefined on success), in order; a failure does not stop the rest. */
  batch(reqs: Request[]): (NetlinkError | undefined)[];
  /**
   * An NLM_F_DUMP request whose messages are decoded only when `cache` has not seen their bytes
   * (NetlinkSocket.dumpCached); a transport without it makes cached listings plain ones.
   */
  dumpCached?<T>(req: Request, cache: DumpCache<T>, decode: (m: NlMessage) => T | undefined, volatileAttr?: number, opts?: { read?: ReadMessage<T> }): T[];
}

/**
 * A reply's fast decoder for requestLater: the value of the message at `buf[off, end)` read straight
 * from its bytes, or undefined when it needs the generic decode (then it is given as an NlMessage).
 */
export type ReadReply<T> = (buf: Buffer, off: number, end: number) => T | undefined;

/**
 * A dump's fast decoder: the value of the message at `buf[off, end)` read straight from its bytes
 * (route.ts readRoute & co.), undefined to leave it out, or null when it needs the generic decode
 * (then `decode` gets it as an NlMessage). Both must give the same values.
 */
export type ReadMessage<T> = (buf: Buffer, off: number, end: number) => T | undefined | null;

/**
 * The messages of a dump through `decode` (undefined: left out): with a `cache`, a transport's
 * dumpCached (decoding only what the last dump through it did not hold, with `read` where given),
 * else a plain dump.
 */
export function dumpDecoded<T>(
  sock: Transport,
  req: Request,
  decode: (m: NlMessage) => T | undefined,
  cache?: DumpCache<T>,
  volatileAttr = -1,
  read?: ReadMessage<T>,
): T[] {
  if (cache !== undefined && sock.dumpCached !== undefined) return sock.dumpCached(req, cache, decode, volatileAttr, read === undefined ? {} : { read });
  const out: T[] = [];
  for (const m of sock.dump(req)) {
    const v = decode(m);
    if (v !== undefined) out.push(v);
  }
  return out;
}

const SOCKADDR_NL_SIZE = 12;
const NLMSG_HDRLEN = 16;
/** The fence after each batch chunk: a control message the kernel only acknowledges. */
const NOOP: Request = { type: NLMSG_NOOP, header: {}, attrs: {} };
/**
 * Requests per sendto in batch(): in the worst case every one fails and the kernel queues an error
 * (~1 KiB of receive buffer each, whatever the payload) before we read any; they must all fit.
 */
const BATCH_MAX_REQUESTS = 256;
/** Bytes per sendto in batch(): under the default socket send buffer. */
const BATCH_MAX_BYTES = 64 * 1024;

export class NetlinkSocket implements Transport {
  /** The port id the kernel assigned (nl_pid); replies are addressed to it. */
  readonly pid: number;
  private fd: number;
  private seq: number;
  private readonly timeoutMs: number;
  private readonly writer = new MessageWriter(BATCH_MAX_BYTES + 4096);
  /** batch()'s fences get their own buffer: the batch being sent may live in `writer`. */
  private readonly fenceWriter = new MessageWriter(64);
  // Untouched pages of a large allocation cost no memory; only what the kernel writes is committed.
  // Never from Node's shared pool, so it starts on a 4-byte boundary: DumpCache compares it by words.
  private recvBuf: Buffer;
  private readonly from = Buffer.alloc(SOCKADDR_NL_SIZE);
  private readonly scratch: NlMessage[] = [];
  /** requestEcho()'s and requestLater()'s sends still on a worker thread. */
  private detached: Promise<unknown> | undefined;

  private constructor(fd: number, pid: number, timeoutMs: number, receiveBytes: number) {
    this.fd = fd;
    this.pid = pid;
    this.timeoutMs = timeoutMs;
    // Sized like the kernel's buffer (64 KiB at least: a dump's datagrams are up to 32 KiB): a socket
    // opened for a few small requests asks for less, and then costs the GC less than a mebibyte of
    // external memory each time.
    this.recvBuf = Buffer.allocUnsafeSlow(Math.max(receiveBytes, 64 * 1024));
    // Start away from 0 so a reply can never be mistaken for a multicast event (seq 0).
    this.seq = (Date.now() & 0x7fffffff) >>> 0 || 1;
  }

  /**
   * Opens a socket, in the namespace of `netnsFd` when given: the main thread switches in only for
   * socket(2); the socket keeps that namespace for its whole life and every later call runs from here.
   */
  static open(opts: OpenOptions = {}): NetlinkSocket {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new NetlinkOptionsError(`timeoutMs must be a positive integer, got ${timeoutMs}`);
    const protocol = opts.protocol ?? NETLINK_ROUTE;
    const create = () => libc.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
    const fd = opts.netnsFd === undefined ? create() : inNetnsFd(opts.netnsFd, create, 'NetlinkSocket.open');
    try {
      libc.setsockoptInt(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1);
      libc.setsockoptInt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1);
      libc.setsockoptInt(fd, SOL_NETLINK, NETLINK_CAP_ACK, 1);
      const receiveBytes = opts.receiveBufferBytes ?? 1024 * 1024;
      setReceiveBuffer(fd, receiveBytes);
      const tv = Buffer.alloc(16); // struct timeval { time_t tv_sec; suseconds_t tv_usec; }
      tv.writeBigInt64LE(BigInt(Math.floor(timeoutMs / 1000)), 0);
      tv.writeBigInt64LE(BigInt((timeoutMs % 1000) * 1000), 8);
      libc.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv);
      const addr = Buffer.alloc(SOCKADDR_NL_SIZE);
      addr.writeUInt16LE(AF_NETLINK, 0); // nl_pid 0: the kernel assigns one
      libc.bind(fd, addr);
      libc.getsockname(fd, addr);
      return new NetlinkSocket(fd, addr.readUInt32LE(4), timeoutMs, receiveBytes);
    } catch (e) {
      libc.close(fd);
      throw e;
    }
  }

  /** The file descriptor (for poll); -1 once closed. */
  get fileno(): number {
    return this.fd;
  }

  /** Sends one request with NLM_F_ACK and returns any replies before the ACK; throws NetlinkError. */
  request(req: Request): NlMessage[] {
    return this.replies(this.send(req, NLM_F_REQUEST | NLM_F_ACK), req);
  }

  /**
   * request() in two halves: the request goes out now from a worker thread (libc.sendtoDetached), so
   * this thread can do other work while the kernel carries it out (a veth's creation keeps sendto
   * ~0.6–1 ms in the kernel); the function returned reads its replies to the ACK as request() returns
   * them, or throws its NetlinkError. Call it before the next request on this socket: a request's read
   * skips replies of other requests. With `read`, a reply it reads is given as its value, undecoded.
   */
  requestLater<T = never>(req: Request, read?: ReadReply<T>): () => (NlMessage | T)[] {
    const seq = this.sendDetached(req, NLM_F_REQUEST | NLM_F_ACK);
    return () => this.replies(seq, req, read);
  }

  /** The replies to request `seq` before its ACK (those `read` reads as its values); its NetlinkError if refused. */
  private replies<T = never>(seq: number, req: Request, read?: ReadReply<T>): (NlMessage | T)[] {
    const replies: (NlMessage | T)[] = [];
    for (;;) {
      const n = this.recvFromKernel(req.type);
      if (this.plainAck(n) === seq) return replies; // the common case, read without decoding
      if (read !== undefined && this.readDatagram(n, seq, read, replies)) continue;
      for (const m of this.decodeDatagram(n)) {
        if (m.seq !== seq) continue; // a late reply to an earlier request that timed out
        if (m.type === NLMSG_ERROR) {
          if (m.header.error === 0) return replies;
          throw toNetlinkError(m, messageTypeName(req.type));
        }
        if (m.type === NLMSG_DONE) return replies;
        replies.push(m);
      }
    }
  }

  /**
   * request(), but done at the kernel's echo of the change (NLM_F_ECHO) rather than at its ACK: the
   * request goes out from a worker thread (libc.sendtoDetached) while this thread reads the echo, or
   * the error. For RTM_DELLINK: the kernel echoes the deletion once the device is gone and its
   * addresses and routes with it (~0.5 ms), then waits in rcu_barrier() (~20 ms) before sendto returns
   * and the ACK comes. A kernel that does not echo answers with the ACK, later. Returns the echo. Until
   * that send is over, close() leaves the descriptor open (the worker still uses it); the ACK, arriving
   * then, is skipped by the next request like any reply of another seq.
   */
  requestEcho(req: Request): NlMessage[] {
    const seq = this.sendDetached(req, NLM_F_REQUEST | NLM_F_ACK | NLM_F_ECHO);
    for (;;) {
      for (const m of this.decodeDatagram(this.recvFromKernel(req.type))) {
        if (m.seq !== seq) continue;
        if (m.type === NLMSG_ERROR) {
          if (m.header.error === 0) return [];
          throw toNetlinkError(m, messageTypeName(req.type));
        }
        return [m];
      }
    }
  }

  /** NLM_F_DUMP request collected to NLMSG_DONE; retries NLM_F_DUMP_INTR, then DumpInterruptedError. */
  dump(req: Request, opts: { retries?: number } = {}): NlMessage[] {
    const retries = opts.retries ?? 3;
    const op = messageTypeName(req.type);
    let partial: NlMessage[] = [];
    for (let attempt = 0; attempt <= retries; attempt++) {
      const seq = this.send(req, NLM_F_REQUEST | NLM_F_DUMP);
      const out: NlMessage[] = [];
      let interrupted = false;
      let done = false;
      while (!done) {
        for (const m of this.decodeDatagram(this.recvFromKernel(op, true))) {
          if (m.seq !== seq) continue;
          if (m.flags & NLM_F_DUMP_INTR) interrupted = true;
          if (m.type === NLMSG_DONE) {
            if (m.header.error! < 0) throw toNetlinkError(m, op);
            done = true;
          } else if (m.type === NLMSG_ERROR) {
            if (m.header.error !== 0) throw toNetlinkError(m, op);
          } else {
            out.push(m);
          }
        }
      }
      if (!interrupted) return out;
      partial = out;
    }
    throw new DumpInterruptedError(op, retries + 1, partial);
  }

  /**
   * dump(), but each message whose bytes the last dump through `cache` held too gives back the value
   * it decoded to then, without decoding it again; the others go through `decode` (undefined: left
   * out). `volatileAttr` is an attribute type the kernel changes on its own (NDA_CACHEINFO's ages),
   * left out of the comparison. `read`, where given, reads a message instead of the generic decode
   * and `decode` (see ReadMessage). The cache is updated only by a dump read to its end.
   */
  dumpCached<T>(
    req: Request,
    cache: DumpCache<T>,
    decode: (m: NlMessage) => T | undefined,
    volatileAttr = -1,
    opts: { retries?: number; read?: ReadMessage<T> } = {},
  ): T[] {
    const retries = opts.retries ?? 3;
    const read = opts.read;
    const op = messageTypeName(req.type);
    const one: NlMessage[] = [];
    // Read once: per message, even a module binding's lookup shows in a dump of thousands.
    const [DONE, ERROR, INTR, families] = [NLMSG_DONE, NLMSG_ERROR, NLM_F_DUMP_INTR, familyByType];
    for (let attempt = 0; attempt <= retries; attempt++) {
      const seq = this.send(req, NLM_F_REQUEST | NLM_F_DUMP);
      cache.begin(volatileAttr);
      const out: T[] = [];
      let interrupted = false;
      let done = false;
      while (!done) {
        const n = this.recvFromKernel(op, true);
        const b = this.recvBuf;
        // Messages not in the cache are decoded a run at a time (one call for a datagram of new ones).
        let runStart = -1;
        let runEnd = -1;
        const flush = (): void => {
          if (runStart < 0) return;
          one.length = 0;
          if (read === undefined) decodeMessagesInto(b, runStart, runEnd, one);
          const known = cache.known;
          for (let k = 0, at = runStart; at < runEnd; k++) {
            const len = b.readUInt32LE(at);
            let value = known === undefined ? undefined : known(b, at, at + len);
            if (value === undefined) {
              let decoded = read === undefined ? decode(one[k]!) : read(b, at, at + len);
              if (decoded === null) {
                one.length = 0;
                decodeMessagesInto(b, at, at + len, one);
                decoded = decode(one[0]!);
              }
              value = decoded === undefined || cache.intern === undefined ? decoded : cache.intern(decoded);
            }
            cache.record(b, at, len, value, -1);
            if (value !== undefined) out.push(value);
            at += (len + 3) & ~3;
          }
          runStart = -1;
        };
        for (let off = 0; off < n; ) {
          const len = n - off < NLMSG_HDRLEN ? 0 : b.readUInt32LE(off);
          if (len < NLMSG_HDRLEN || len > n - off) decodeMessagesInto(b, off, n, one); // throws NetlinkDecodeError
          const type = b.readUInt16LE(off + 4);
          const family = families[type];
          if (b.readUInt32LE(off + 8) !== seq || type === DONE || type === ERROR || family === undefined) {
            flush();
            if (b.readUInt32LE(off + 8) === seq) {
              if (b.readUInt16LE(off + 6) & INTR) interrupted = true;
              one.length = 0;
              decodeMessagesInto(b, off, off + len, one);
              const m = one[0]!;
              if (type === DONE) {
                if (m.header.error! < 0) throw toNetlinkError(m, op);
                done = true;
              } else if (type === ERROR && m.header.error !== 0) throw toNetlinkError(m, op);
            }
          } else {
            if (b.readUInt16LE(off + 6) & INTR) interrupted = true;
            const hit = cache.match(b, off, len, NLMSG_HDRLEN + ((family.header.size + 3) & ~3));
            if (hit < 0) {
              if (runStart < 0) runStart = off;
              runEnd = off + ((len + 3) & ~3);
            } else {
              flush();
              const value = cache.value;
              cache.record(b, off, len, value, hit);
              if (value !== undefined) out.push(value);
            }
          }
          off += (len + 3) & ~3;
        }
        flush();
        cache.copied();
      }
      if (!interrupted) {
        cache.commit();
        return out;
      }
    }
    throw new DumpInterruptedError(op, retries + 1, []);
  }

  /**
   * Sends many requests before reading their ACKs (route programming at scale). Returns one entry per
   * request, in order: undefined on success, the NetlinkError otherwise — a failed request does not stop
   * the rest.
   *
   * How: requests go out many per sendto WITHOUT NLM_F_ACK — the kernel still answers every failure,
   * but stays silent on success — each chunk followed by an NLMSG_NOOP that does ask for an ACK. The
   * kernel handles messages in order, so once that ACK is read, every failure before it has been too.
   * Reading a handful of messages instead of one ACK per request is what makes batches cheap.
   */
  batch(reqs: Request[]): (NetlinkError | undefined)[] {
    // Encode everything first: a request that cannot be encoded throws before anything is sent.
    const writer = reqs.length * 64 > BATCH_MAX_BYTES ? new MessageWriter(reqs.length * 96) : this.writer;
    writer.reset();
    const firstSeq = (this.seq + 1) >>> 0;
    const starts: number[] = new Array<number>(reqs.length + 1);
    for (let i = 0; i < reqs.length; i++) {
      const req = reqs[i]!;
      const flags = NLM_F_REQUEST | (req.flags ?? 0);
      const seq = (firstSeq + i) >>> 0;
      // A body that writes itself (the batch calls' common shapes) straight to appendBody: append's
      // generic path then never sees the thousands of them, and its feedback stays its own.
      starts[i] = req.body !== undefined ? writer.appendBody(req.body, req.type, flags, seq, 0) : writer.append(req, flags, seq, 0);
    }
    starts[reqs.length] = writer.length;
    this.seq = (firstSeq + reqs.length - 1) >>> 0;

    const results: (NetlinkError | undefined)[] = new Array<NetlinkError | undefined>(reqs.length).fill(undefined);
    let i = 0;
    while (i < reqs.length) {
      const first = i;
      while (i < reqs.length && i - first < BATCH_MAX_REQUESTS && starts[i + 1]! - starts[first]! <= BATCH_MAX_BYTES) i++;
      if (i === first) i++; // a single request larger than a chunk still goes alone
      this.sendBytes(writer.bytes(starts[first]!, starts[i]!));
      const fence = this.send(NOOP, NLM_F_REQUEST | NLM_F_ACK, this.fenceWriter);
      for (let fenced = false; !fenced; ) {
        const n = this.recvFromKernel('batch');
        if (this.plainAck(n) === fence) break;
        for (const m of this.decodeDatagram(n)) {
          if (m.type !== NLMSG_ERROR) continue;
          if (m.seq === fence) fenced = true;
          const k = (m.seq - firstSeq) >>> 0;
          if (k >= first && k < i && m.header.error !== 0) results[k] = toNetlinkError(m, messageTypeName(reqs[k]!.type));
        }
      }
    }
    return results;
  }

  /** Joins rtnetlink multicast groups (RTNLGRP_*): the socket then also receives change events. */
  joinGroups(groups: readonly number[]): void {
    for (const g of groups) libc.setsockoptInt(this.open_(), SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, g);
  }

  /**
   * The messages of one queued datagram from the kernel, without blocking; undefined when nothing
   * is queued. Throws SyscallError ENOBUFS when the kernel dropped messages for want of buffer.
   * `accept` sees each message's bytes (`buf[start, end)`, its netlink header at `start`) before
   * anything is decoded: only the messages it accepts are decoded and returned (a monitor's events
   * that cannot concern its owner then cost a header read, not a decode).
   */
  receiveNow(accept?: (buf: Buffer, start: number, end: number) => boolean): NlMessage[] | undefined {
    for (;;) {
      const n = this.recvDatagram(MSG_DONTWAIT, true);
      if (n < 0) return undefined;
      if (n === 0) continue; // from another process, dropped
      const out: NlMessage[] = [];
      const b = this.recvBuf;
      if (accept === undefined) decodeMessagesInto(b, 0, n, out);
      else
        for (let off = 0; off < n; ) {
          const len = n - off < NLMSG_HDRLEN ? 0 : b.readUInt32LE(off);
          if (len < NLMSG_HDRLEN || len > n - off) decodeMessagesInto(b, off, n, out); // throws NetlinkDecodeError
          if (accept(b, off, off + len)) decodeMessagesInto(b, off, off + len, out);
          off += (len + 3) & ~3;
        }
      return out;
    }
  }

  /**
   * Waits, without blocking this thread, for a datagram to be queued: 1 when one is (read it with
   * receiveNow()), 0 after `timeoutMs` (-1: no limit), -1 when the wait failed (wait a little before
   * the next). The wait runs on a worker thread (libc.pollInDetached), so an idle watcher costs this
   * thread no timer wakeups. Do not close() while a wait is under way: wake() it and await it first.
   */
  waitReadable(timeoutMs: number): Promise<number> {
    return libc.pollInDetached(this.open_(), timeoutMs);
  }

  /**
   * Ends a waitReadable() under way at once: a no-op message sent to this socket's own port (from this
   * process, so the next read drops it, as it drops anything not from the kernel).
   */
  wake(): void {
    const to = Buffer.alloc(SOCKADDR_NL_SIZE);
    to.writeUInt16LE(AF_NETLINK, 0);
    to.writeUInt32LE(this.pid, 4);
    const noop = Buffer.alloc(NLMSG_HDRLEN);
    noop.writeUInt32LE(NLMSG_HDRLEN, 0);
    noop.writeUInt16LE(NLMSG_NOOP, 4);
    libc.sendto(this.open_(), noop, noop.length, 0, to);
  }

  close(): void {
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    // A requestEcho() send still running on a worker thread uses the descriptor: closed after it.
    if (this.detached === undefined) libc.close(fd);
    else void this.detached.then(() => libc.close(fd));
  }

  private open_(): number {
    if (this.fd < 0) throw new SocketClosedError();
    return this.fd;
  }

  /** Sends `req` from a worker thread (close() waits for it); returns its seq. */
  private sendDetached(req: Request, flags: number): number {
    this.seq = (this.seq + 1) >>> 0;
    // A writer of its own: the worker reads these bytes while this thread may encode the next request.
    const writer = new MessageWriter(256);
    writer.append(req, flags | (req.flags ?? 0), this.seq, 0);
    const sent: Promise<unknown> = Promise.all([this.detached, libc.sendtoDetached(this.open_(), writer.bytes())]).then(() => {
      if (this.detached === sent) this.detached = undefined;
    });
    this.detached = sent;
    return this.seq;
  }

  private send(req: Request, flags: number, writer = this.writer): number {
    this.seq = (this.seq + 1) >>> 0;
    writer.reset();
    writer.append(req, flags | (req.flags ?? 0), this.seq, 0);
    this.sendBytes(writer.bytes());
    return this.seq;
  }

  private sendBytes(bytes: Buffer): void {
    // A null address sends to the kernel (nl_pid 0), the unbound socket's default peer.
    libc.sendto(this.open_(), bytes, bytes.length, 0, null);
  }

  /**
   * Blocks (up to the timeout, then NetlinkTimeoutError) for the next datagram from the kernel:
   * multicast events after joinGroups(), for one.
   */
  receive(): NlMessage[] {
    return this.decodeDatagram(this.recvFromKernel('receive', true)).slice();
  }

  /** Blocks (up to the timeout) for the next datagram from the kernel; returns its length. */
  private recvFromKernel(op: string | number, peek = false): number {
    for (;;) {
      const n = this.recvDatagram(0, peek);
      if (n < 0) throw new NetlinkTimeoutError(typeof op === 'number' ? messageTypeName(op) : op, this.timeoutMs);
      if (n > 0) return n;
    }
  }

  /**
   * The datagram in recvBuf through `read`, its values appended to `out`: only when every message in
   * it is a reply to `seq` (no ACK, no error) that `read` reads; else false, nothing appended.
   */
  private readDatagram<T>(n: number, seq: number, read: ReadReply<T>, out: (NlMessage | T)[]): boolean {
    const b = this.recvBuf;
    const values: T[] = [];
    for (let off = 0; off < n; ) {
      const len = n - off < NLMSG_HDRLEN ? 0 : b.readUInt32LE(off);
      if (len < NLMSG_HDRLEN || len > n - off || b.readUInt32LE(off + 8) !== seq) return false;
      const type = b.readUInt16LE(off + 4);
      if (type === NLMSG_ERROR || type === NLMSG_DONE) return false;
      const v = read(b, off, off + len);
      if (v === undefined) return false;
      values.push(v);
      off += (len + 3) & ~3;
    }
    out.push(...values);
    return true;
  }

  /** The datagram in recvBuf, decoded into the shared scratch array (valid until the next read). */
  private decodeDatagram(n: number): NlMessage[] {
    const out = this.scratch;
    out.length = 0;
    decodeMessagesInto(this.recvBuf, 0, n, out);
    return out;
  }

  /** The seq of a datagram that is exactly one successful ACK (NLMSG_ERROR, error 0); -1 otherwise. */
  private plainAck(n: number): number {
    const b = this.recvBuf;
    if (n < NLMSG_HDRLEN + 4 || b.readUInt32LE(0) !== n || b.readUInt16LE(4) !== NLMSG_ERROR || b.readInt32LE(NLMSG_HDRLEN) !== 0) return -1;
    return b.readUInt32LE(8);
  }

  /**
   * Reads one datagram into recvBuf: -1 when none came (timeout or, with MSG_DONTWAIT, nothing
   * queued), 0 when it came from anyone but the kernel, else its length.
   *
   * With `peek`, a MSG_PEEK|MSG_TRUNC read learns the size first, so an oversized datagram grows the
   * buffer instead of losing its tail. That costs a syscall, worth it where big datagrams come (dumps,
   * events) and not on the ACK path: there the buffer (1 MiB, larger than any rtnetlink message) is
   * trusted, and a truncation is still detected (MSG_TRUNC) and reported rather than decoded.
   */
  private recvDatagram(flags: number, peek: boolean): number {
    const fd = this.open_();
    for (;;) {
      try {
        if (peek) {
          const size = libc.recvfrom(fd, this.recvBuf, flags | MSG_PEEK | MSG_TRUNC);
          if (size < 0) return -1;
          if (size > this.recvBuf.length) this.recvBuf = Buffer.allocUnsafeSlow(size);
        }
        const n = libc.recvfrom(fd, this.recvBuf, flags | MSG_TRUNC, this.from);
        if (n < 0) return -1;
        if (this.from.readUInt32LE(4) !== 0) return 0;
        if (n > this.recvBuf.length) {
          const had = this.recvBuf.length;
          this.recvBuf = Buffer.allocUnsafeSlow(n);
          throw new NetlinkDecodeError(`a ${n}-byte datagram did not fit the ${had}-byte receive buffer (now grown); its tail was lost`, {
            path: [],
            offset: had,
          });
        }
        return n;
      } catch (e) {
        if (e instanceof SyscallError && e.code === 'EINTR') continue;
        throw e;
      }
    }
  }
}

function setReceiveBuffer(fd: number, bytes: number): void {
  try {
    libc.setsockoptInt(fd, SOL_SOCKET, SO_RCVBUFFORCE, bytes);
  } catch (e) {
    // Without CAP_NET_ADMIN the kernel caps the size at net.core.rmem_max, which is still better than nothing.
    if (!(e instanceof SyscallError && e.code === 'EPERM')) throw e;
    libc.setsockoptInt(fd, SOL_SOCKET, SO_RCVBUF, bytes);
  }
}

function toNetlinkError(m: NlMessage, op: string): NetlinkError {
  const msg = m.attrs.NLMSGERR_ATTR_MSG;
  const offs = m.attrs.NLMSGERR_ATTR_OFFS;
  return new NetlinkError({
    errno: -m.header.error!,
    op,
    seq: m.seq,
    extack: typeof msg === 'string' ? msg : undefined,
    extackOffset: typeof offs === 'number' ? offs : undefined,
  });
}
