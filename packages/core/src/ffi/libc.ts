// The only file in netboot that touches koffi. Everything the kernel is asked directly goes through
// the handful of libc calls below; every other module speaks in Buffers, numbers and typed errors.
//
// Each wrapper reads errno straight after the call (koffi.errno() is captured per call, so nothing
// in between can clobber it) and throws SyscallError on failure, so callers never see -1.
// Calls are synchronous on purpose: namespace switching is per OS thread (see netns.ts), and koffi's
// `.async` variants run on other threads, which would silently stay in the wrong namespace. The one
// exception, sendtoDetached, sends on a socket, which keeps the namespace it was created in.
import koffi from 'koffi';
import { constants } from 'node:os';
import { SyscallError } from '../base/errno.js';
import { UnsupportedPlatformError } from '../base/errors.js';
import { SYS_gettid } from './generated.js';

// Checked before the load: elsewhere koffi's dlopen failure (no libc.so.6) would be the first and least
// helpful error. (koffi is imported statically so the CNI bundle can swap it; see bootstrap's bundle.ts.)
if (process.arch !== 'x64' || process.platform !== 'linux') throw new UnsupportedPlatformError(process.platform, process.arch);
const lib = koffi.load('libc.so.6');

// Each binding is made on its first call: koffi parses the prototype then (~40–70 µs each), and a
// short-lived process (a CNI ADD uses 9 of these 13) pays only for what it calls.
const PROTOTYPES = {
  socket: 'int socket(int domain, int type, int protocol)',
  bind: 'int bind(int fd, void *addr, uint32_t addrlen)',
  getsockname: 'int getsockname(int fd, _Inout_ void *addr, _Inout_ uint32_t *addrlen)',
  getsockopt: 'int getsockopt(int fd, int level, int optname, void *optval, void *optlen)',
  setsockopt: 'int setsockopt(int fd, int level, int optname, void *optval, uint32_t optlen)',
  sendto: 'intptr_t sendto(int fd, void *buf, size_t len, int flags, void *addr, uint32_t addrlen)',
  recvfrom: 'intptr_t recvfrom(int fd, _Inout_ void *buf, size_t len, int flags, void *addr, void *addrlen)',
  poll: 'int poll(void *fds, unsigned long nfds, int timeout)',
  close: 'int close(int fd)',
  setns: 'int setns(int fd, int nstype)',
  unshare: 'int unshare(int flags)',
  mount: 'int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)',
  umount2: 'int umount2(const char *target, int flags)',
  flock: 'int flock(int fd, int operation)',
  syscall0: 'long syscall(long number)',
} as const;
type Binding = ReturnType<typeof lib.func>;
const bound: Partial<Record<keyof typeof PROTOTYPES, Binding>> = {};
const c = (name: keyof typeof PROTOTYPES): Binding => (bound[name] ??= lib.func(PROTOTYPES[name]));

const { EAGAIN, EWOULDBLOCK } = constants.errno;

function check(ret: number | bigint, call: string, detail?: string): number {
  const n = Number(ret);
  if (n < 0) throw new SyscallError(call, koffi.errno(), detail);
  return n;
}

/** socket(2). Returns the new file descriptor. */
export function socket(domain: number, type: number, protocol: number): number {
  return check(c('socket')(domain, type, protocol), 'socket');
}

/** bind(2) with a raw sockaddr buffer. */
export function bind(fd: number, addr: Buffer): void {
  check(c('bind')(fd, addr, addr.length), 'bind');
}

/** getsockname(2): fills `addr` in place and returns the length the kernel wrote. */
export function getsockname(fd: number, addr: Buffer): number {
  const len = [addr.length];
  check(c('getsockname')(fd, addr, len), 'getsockname');
  return len[0]!;
}

/**
 * The pid of the process at the other end of unix socket `fd` as it was when it connected
 * (getsockopt SO_PEERCRED), in this process's pid namespace: 0 when that process is outside it.
 */
export function peerPid(fd: number): number {
  // Both as buffers koffi passes as they are: a JS array for the length is marshalled both ways (~40 µs).
  const cred = Buffer.alloc(16); // struct ucred { pid_t pid; uid_t uid; gid_t gid; }, then socklen_t
  cred.writeUInt32LE(12, 12);
  check(c('getsockopt')(fd, SOL_SOCKET, SO_PEERCRED, cred, cred.subarray(12)), 'getsockopt', 'SO_PEERCRED');
  return cred.readInt32LE(0);
}
const SOL_SOCKET = 1;
const SO_PEERCRED = 17;

/** setsockopt(2) with a raw option buffer. */
export function setsockopt(fd: number, level: number, name: number, value: Buffer): void {
  check(c('setsockopt')(fd, level, name, value, value.length), 'setsockopt', `level ${level} option ${name}`);
}

/** setsockopt(2) for the common `int` option. */
export function setsockoptInt(fd: number, level: number, name: number, value: number): void {
  const b = Buffer.alloc(4);
  b.writeInt32LE(value);
  setsockopt(fd, level, name, b);
}

/** sendto(2) to `addr` (or the connected/default peer when null). Returns the bytes sent. */
export function sendto(fd: number, buf: Buffer, length: number, flags: number, addr: Buffer | null): number {
  return check(c('sendto')(fd, buf, length, flags, addr, addr ? addr.length : 0), 'sendto');
}

/**
 * sendto(2) to the kernel (nl_pid 0) on one of koffi's worker threads: the calling thread goes on at
 * once. For a request the kernel answers before it returns from sendto (an RTM_DELLINK echo, read on
 * this thread while the worker still waits out the kernel's rcu_barrier()). Resolves with the bytes
 * sent, -1 on failure (the worker's errno is not readable here). The socket is bound to its namespace,
 * so the worker thread's own namespace does not matter; `buf` must not change until this settles.
 */
export function sendtoDetached(fd: number, buf: Buffer): Promise<number> {
  return new Promise((resolve) =>
    c('sendto').async(fd, buf, buf.length, 0, null, 0, (err: unknown, n: number | bigint) => {
      // Names `buf`, so it stays reachable (not collected) while the worker reads it.
      resolve(err || buf.length === 0 ? -1 : Number(n));
    }),
  );
}

/**
 * poll(2) for input on `fd`, on one of koffi's worker threads (libuv's pool: one of its threads is
 * held while it waits): resolves 1 once something is queued (or the descriptor is in error: a read
 * says which), 0 after `timeoutMs` (-1: no limit) with nothing, -1 when poll failed (EINTR among
 * others). The descriptor must stay open until this settles; a socket is namespace-bound, so the
 * worker thread's own namespace does not matter.
 */
export function pollInDetached(fd: number, timeoutMs: number): Promise<number> {
  const pfd = Buffer.alloc(8); // struct pollfd { int fd; short events; short revents; }
  pfd.writeInt32LE(fd, 0);
  pfd.writeInt16LE(POLLIN, 4);
  return new Promise((resolve) =>
    c('poll').async(pfd, 1, timeoutMs, (err: unknown, n: number) => {
      // Names `pfd`, so it stays reachable while the worker uses it.
      resolve(err || pfd.length === 0 ? -1 : Math.sign(n));
    }),
  );
}
const POLLIN = 1;

/**
 * recvfrom(2) into `buf` (filled in place). Returns the message length, which exceeds `buf.length`
 * when MSG_TRUNC was asked for and the message did not fit; returns -1 (without throwing) for
 * EAGAIN/EWOULDBLOCK so callers can poll. With `from`, the sender's address is written into it
 * (netlink checks that replies come from the kernel, nl_pid 0).
 */
export function recvfrom(fd: number, buf: Buffer, flags: number, from?: Buffer): number {
  if (from) fromLen.writeUInt32LE(from.length, 0);
  const n = Number(c('recvfrom')(fd, buf, buf.length, flags, from ?? null, from ? fromLen : null));
  if (n < 0) {
    const errno = koffi.errno();
    if (errno === EAGAIN) return -1;
    throw new SyscallError('recvfrom', errno);
  }
  return n;
}
const fromLen = Buffer.alloc(4); // socklen_t in/out for recvfrom's `from`

/** close(2). Closing an already-closed descriptor is reported, never ignored. */
export function close(fd: number): void {
  check(c('close')(fd), 'close');
}

/** setns(2): move the calling OS thread into the namespace behind `fd`. */
export function setns(fd: number, nstype: number): void {
  check(c('setns')(fd, nstype), 'setns');
}

/** unshare(2) for the calling OS thread. */
export function unshare(flags: number): void {
  check(c('unshare')(flags), 'unshare');
}

/** mount(2). */
export function mount(source: string, target: string, fstype: string | null, flags: number, data: string | null = null): void {
  check(c('mount')(source, target, fstype, flags, data), 'mount', `${source} on ${target}`);
}

/** umount2(2). */
export function umount2(target: string, flags: number): void {
  check(c('umount2')(target, flags), 'umount2', target);
}

/**
 * flock(2). With LOCK_NB, returns false instead of throwing when another holder has the lock.
 * Blocking mode blocks the calling thread (the main thread), which is what a short-lived CNI
 * process wants; long-lived callers should poll with LOCK_NB.
 */
export function flock(fd: number, operation: number): boolean {
  const r = Number(c('flock')(fd, operation));
  if (r < 0) {
    const errno = koffi.errno();
    if (errno === EWOULDBLOCK) return false;
    throw new SyscallError('flock', errno);
  }
  return true;
}

/** The calling OS thread's id (gettid has no glibc wrapper before 2.30 on every distro). */
export function gettid(): number {
  return Number(c('syscall0')(SYS_gettid));
}
