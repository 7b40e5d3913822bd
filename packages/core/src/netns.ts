// Network namespaces: named ones under /run/netns (the iproute2 convention, so `ip netns` sees ours
// and we see its), and switching the calling thread into one for a synchronous piece of work.
//
// Why the main thread and why synchronous: setns(2) moves one OS thread. Node's main thread is a
// fixed thread, but libuv's threadpool (async fs, dns.lookup) and koffi's `.async` calls run on other
// threads that stay where they were. So a switch covers only synchronous work, and must be undone
// before control returns to the event loop — runIn enforces both.
import { closeSync, mkdirSync, openSync, readdirSync, statfsSync, statSync, unlinkSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { gettid, mount, umount2, unshare } from './ffi/libc.js';
import { inNetnsFd, restoreOrAbort } from './ffi/netns.js';
import { SyscallError } from './errors.js';
import { InvalidInputError, NetbootError } from './base/errors.js';
import { CLONE_NEWNET, MNT_DETACH, MS_BIND, MS_REC, MS_SHARED } from './ffi/generated.js';

/** A network namespace: a name under /run/netns, an absolute path (/proc/<pid>/ns/net), or an open Netns. */
export type NetnsRef = string | Netns;

export interface Netns {
  /** Name under /run/netns when it has one. */
  readonly name?: string;
  /** Path of the nsfs file (/run/netns/<name>, /proc/…/ns/net). */
  readonly path: string;
  /** Inode of the namespace when it was opened: its identity (what `ip netns identify` compares). */
  readonly inode?: number;
}

/** Where iproute2 (and so every tool) keeps named namespaces. */
export const NETNS_RUN_DIR = '/run/netns';

// <linux/magic.h> (not among the generated headers): the filesystem type of namespace files.
const NSFS_MAGIC = 0x6e736673;
const NAME_MAX = 255;

/** The namespace name or path does not exist (never created, or deleted since). */
export class NetnsNotFoundError extends NetbootError {
  readonly kind = 'not-found' as const;
  readonly netns: string;
  constructor(netns: string, detail?: string) {
    super(`network namespace ${JSON.stringify(netns)} not found${detail ? `: ${detail}` : ''}`);
    this.netns = netns;
  }
}

/** `ip netns add` of a name that is already taken. */
export class NetnsExistsError extends NetbootError {
  readonly kind = 'exists' as const;
  readonly netns: string;
  constructor(netns: string) {
    super(`network namespace ${JSON.stringify(netns)} already exists`);
    this.netns = netns;
  }
}

/** A namespace name iproute2 would refuse (empty, '/', '.', '..', longer than NAME_MAX). */
export class InvalidNetnsNameError extends InvalidInputError {
  readonly netns: string;
  constructor(netns: string, why: string) {
    super(`invalid network namespace name ${JSON.stringify(netns)}: ${why}`);
    this.netns = netns;
  }
}

/** The path exists but is not a network namespace file (not nsfs, e.g. a stale file under /run/netns). */
export class NotANetnsError extends InvalidInputError {
  readonly path: string;
  constructor(path: string) {
    super(`${path} is not a network namespace (not an nsfs file)`);
    this.path = path;
  }
}

/**
 * runIn's callback returned a Promise: its awaited part would run in the wrong namespace. Kind
 * `internal` (a bug in the caller), not `invalid`: its synchronous part already ran, in the namespace.
 */
export class AsyncInNetnsError extends NetbootError {
  readonly kind = 'internal' as const;
  constructor(ns: string) {
    super(
      `runIn(${JSON.stringify(ns)}): the callback returned a Promise; work after an await would run ` +
        'outside the namespace (and the threadpool never enters it) — pass a synchronous function',
    );
  }
}

/** Throws InvalidNetnsNameError unless `ip netns add <name>` would accept it. */
export function validateNetnsName(name: string): void {
  if (name === '') throw new InvalidNetnsNameError(name, 'empty');
  if (name.includes('/')) throw new InvalidNetnsNameError(name, "contains '/'");
  if (name === '.' || name === '..') throw new InvalidNetnsNameError(name, "'.' and '..' are reserved");
  if (Buffer.byteLength(name) > NAME_MAX) throw new InvalidNetnsNameError(name, `longer than ${NAME_MAX} bytes`);
  if (name.includes('\0')) throw new InvalidNetnsNameError(name, 'contains NUL');
}

/** The nsfs path a reference stands for; a bare string is a name under /run/netns unless it starts with '/'. */
export function netnsPath(ref: NetnsRef): string {
  if (typeof ref !== 'string') return ref.path;
  if (ref.startsWith('/')) return ref;
  validateNetnsName(ref);
  return `${NETNS_RUN_DIR}/${ref}`;
}

function describe(ref: NetnsRef): string {
  return typeof ref === 'string' ? ref : (ref.name ?? ref.path);
}

function isNotFound(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** stat + nsfs check, with the typed errors every entry point shares. */
function statNetns(ref: NetnsRef): Stats {
  const path = netnsPath(ref);
  let st: Stats;
  try {
    st = statSync(path);
    if (statfsSync(path).type !== NSFS_MAGIC) throw new NotANetnsError(path);
  } catch (err) {
    if (isNotFound(err)) throw new NetnsNotFoundError(describe(ref));
    throw err;
  }
  return st;
}

export function openNetnsFd(ref: NetnsRef): number {
  const path = netnsPath(ref);
  try {
    return openSync(path, 'r');
  } catch (err) {
    if (isNotFound(err)) throw new NetnsNotFoundError(describe(ref));
    throw err;
  }
}

/**
 * Runs `fn` with an open fd of the namespace and closes it afterwards: what IFLA_NET_NS_FD wants
 * (the kernel resolves the fd while handling the request, so it only has to outlive the call).
 */
export function withNetnsFd<T>(ref: NetnsRef, fn: (fd: number) => T): T {
  const fd = openNetnsFd(ref);
  try {
    return fn(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Runs `fn` with the calling (main) thread switched into `ns`, then switches back — always, in
 * `finally`; aborts the process if switching back fails. `fn` must be synchronous: no await, no async fs.
 * A returned Promise is refused with AsyncInNetnsError (after switching back). Nests: an inner runIn
 * restores the outer namespace. Like `ip netns exec <ns>` for in-process work.
 */
export function runIn<T>(ns: NetnsRef, fn: () => T): T {
  let result: T;
  try {
    result = withNetnsFd(ns, (target) => inNetnsFd(target, fn, `runIn(${JSON.stringify(describe(ns))})`));
  } catch (err) {
    // EINVAL from setns means the fd is not a network namespace.
    if (err instanceof SyscallError && err.call === 'setns' && err.code === 'EINVAL') throw new NotANetnsError(netnsPath(ns));
    throw err;
  }
  if (isPromiseLike(result)) {
    // Keep a late rejection from surfacing as an unrelated unhandled rejection; the caller gets ours.
    Promise.resolve(result).catch(() => undefined);
    throw new AsyncInNetnsError(describe(ns));
  }
  return result;
}

function isPromiseLike(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

/** Makes /run/netns a shared mount point (bind it onto itself first when it is not one), as iproute2 does. */
function ensureSharedRunDir(): void {
  mkdirSync(NETNS_RUN_DIR, { recursive: true, mode: 0o755 });
  try {
    mount('', NETNS_RUN_DIR, 'none', MS_SHARED | MS_REC);
    return;
  } catch (err) {
    // EINVAL: not a mount point yet. Anything else is a real failure.
    if (!(err instanceof SyscallError && err.code === 'EINVAL')) throw err;
  }
  mount(NETNS_RUN_DIR, NETNS_RUN_DIR, 'none', MS_BIND | MS_REC);
  mount('', NETNS_RUN_DIR, 'none', MS_SHARED | MS_REC);
}

/**
 * Creates an empty, persistent network namespace named `name` (only `lo`, down) — `ip netns add <name>`.
 * Throws NetnsExistsError if the name is taken, InvalidNetnsNameError for names iproute2 refuses.
 */
export function createNetns(name: string): Netns {
  validateNetnsName(name);
  ensureSharedRunDir();
  const path = `${NETNS_RUN_DIR}/${name}`;
  try {
    closeSync(openSync(path, 'wx', 0o000));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new NetnsExistsError(name);
    throw err;
  }
  try {
    const saved = openSync('/proc/thread-self/ns/net', 'r');
    try {
      unshare(CLONE_NEWNET);
      try {
        mount(`/proc/self/task/${gettid()}/ns/net`, path, 'none', MS_BIND);
      } finally {
        restoreOrAbort(saved, `createNetns(${JSON.stringify(name)})`);
      }
    } finally {
      closeSync(saved);
    }
  } catch (err) {
    try {
      unlinkSync(path);
    } catch {
      // Leave the placeholder; the caller needs the original failure, not this one.
    }
    throw err;
  }
  return { name, path, inode: statSync(path).ino };
}

/**
 * Deletes the named namespace — `ip netns del <name>`: detaches its mount and removes the file. The
 * namespace itself (and its links) goes away once no process or open fd holds it.
 */
export function deleteNetns(ref: string | Netns): void {
  if (typeof ref !== 'string' && ref.name === undefined) {
    throw new InvalidNetnsNameError(ref.path, 'only named namespaces can be deleted');
  }
  const name = typeof ref === 'string' ? ref : ref.name!;
  validateNetnsName(name);
  const path = `${NETNS_RUN_DIR}/${name}`;
  try {
    umount2(path, MNT_DETACH);
  } catch (err) {
    if (!(err instanceof SyscallError)) throw err;
    if (err.code === 'ENOENT') throw new NetnsNotFoundError(name);
    // EINVAL: a file that is not mounted (half-created); removing it is still what the caller wants.
    if (err.code !== 'EINVAL') throw err;
  }
  try {
    unlinkSync(path);
  } catch (err) {
    if (isNotFound(err)) throw new NetnsNotFoundError(name);
    throw err;
  }
}

/** Names of the namespaces under /run/netns, sorted — `ip netns list` (without ids). */
export function listNetns(): string[] {
  try {
    return readdirSync(NETNS_RUN_DIR).sort();
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
}

/** Checks that `ref` names a live namespace and returns it with its identity; NetnsNotFoundError if not. */
export function openNetns(ref: NetnsRef): Netns {
  const st = statNetns(ref);
  const path = netnsPath(ref);
  const name = typeof ref === 'string' ? (ref.startsWith('/') ? undefined : ref) : ref.name;
  return name === undefined ? { path, inode: st.ino } : { name, path, inode: st.ino };
}

/**
 * The namespace the calling thread is in now — `ip netns identify`: named when a file under
 * /run/netns holds it. Unnamed, its path is /proc/<pid>/task/<tid>/ns/net, which follows the thread,
 * so compare by `inode` (sameNetns does).
 */
export function currentNetns(): Netns {
  const self = statSync('/proc/thread-self/ns/net');
  for (const name of listNetns()) {
    try {
      const st = statSync(`${NETNS_RUN_DIR}/${name}`);
      if (st.ino === self.ino && st.dev === self.dev) return { name, path: `${NETNS_RUN_DIR}/${name}`, inode: st.ino };
    } catch {
      // Deleted while we looked, or not ours to read: it is not the one we are in.
    }
  }
  return { path: `/proc/${process.pid}/task/${gettid()}/ns/net`, inode: self.ino };
}

/** Whether two references are the same namespace (nsfs dev + inode; a Netns's recorded inode wins). */
export function sameNetns(a: NetnsRef, b: NetnsRef): boolean {
  const idA = identity(a);
  const idB = identity(b);
  return idA.ino === idB.ino && idA.dev === idB.dev;
}

let nsfsDev: number | undefined;
function identity(ref: NetnsRef): { dev: number; ino: number } {
  if (typeof ref !== 'string' && ref.inode !== undefined) {
    // Every nsfs inode lives on the one nsfs device.
    nsfsDev ??= statSync('/proc/thread-self/ns/net').dev;
    return { dev: nsfsDev, ino: ref.inode };
  }
  const st = statNetns(ref);
  return { dev: st.dev, ino: st.ino };
}
