// Node-local reservations in exactly host-local's on-disk layout, so a node can switch between
// bridge+host-local and netboot without losing a lease:
//
//   <dataDir>/<network>/<ip>                   "<containerID>\r\n<ifname>" (older host-local: "<containerID>")
//   <dataDir>/<network>/last_reserved_ip.<n>   the IP most recently reserved from range set n
//   <dataDir>/<network>/lock                   flock(LOCK_EX) by every writer, host-local included; its
//                                              contents: netboot's index of the directory (below)
//
// Writes are crash-safe: a reservation is written to a temp file, fsynced and hard-linked to its final
// name (link fails with EEXIST if the IP is taken), so a killed process can leave at most a temp file
// (which host-local never reads as a reservation because its name is not an IP), never a half-written
// `<ip>`. Temp names are fixed: only the lock holder writes, so any temp file found is a leftover.
// A name (linked, created, removed) is only durable once its directory is fsynced too: a hold that changed
// the directory fsyncs it before releasing the lock, so what the caller was told survives a power loss.
//
// The directory is indexed (who holds which file) and the index is kept between lock holds, in memory
// and in the `lock` file's contents (file-index.ts has the format), so that a new process — the CNI
// plugin is one per ADD and DEL — reads the index instead of every reservation file. The index is
// trusted only while the directory's stamp (inode, mtime, ctime) is the one it was written at; any
// other writer (host-local, a netboot process killed before it wrote the index) moves the stamp, and
// then every file is read again. Each use still lists the names (readdir), so a change the stamp missed
// (timestamps coarser than the changes) is seen too: a new name is read, a vanished one dropped. Anything
// that deletes or trusts an owner (release by ID, gc) re-reads the file first, because a name can be
// deleted and recreated by someone else between two of our looks. Writing the index changes a file's
// contents, never a name, so it does not move the stamp; host-local reads the lock file's contents
// (its release walks every file) but they never equal a "<containerID>\r\n<ifname>" it looks for.
import {
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { NetbootError } from '@netboot/core/errors';
import { flock, LOCK_EX, LOCK_UN } from '@netboot/core/flock';
import { normalizeIp } from '@netboot/core/ip';
import type { Attachment } from '../report.js';
import { corruptRecord, decodeIndex, encodeBlock, encodeSnapshot, FORGET_LAST, goneRecord, holdRecord, lastRecord } from './file-index.js';
import { InvalidArgumentError, trimSpace, validateContainerId, validateIfname, validateNetworkName } from '../validate.js';

/** host-local's default dataDir. */
export const DEFAULT_DATA_DIR = '/var/lib/cni/networks';

const LAST_RESERVED_PREFIX = 'last_reserved_ip.';
const LOCK_FILE = 'lock';
// What host-local's go-filemutex creates: O_RDONLY|O_CREAT, mode 0750 (flock needs no write access).
const LOCK_MODE = 0o750;
// Dot-prefixed and not an IP: host-local's allocator only ever opens files named by an IP.
const TEMP_PREFIX = '.netboot-';
const RESERVE_TEMP = `${TEMP_PREFIX}reserve.tmp`;
const LINE_BREAK = '\r\n';
// An index longer than this is not one of ours (a /16 full of pods is ~5 MB): the directory is read instead.
const MAX_INDEX_BYTES = 64 << 20;
// Compact the index (rewrite it whole) once it holds this many records per live entry, plus some slack.
const COMPACT_FACTOR = 2;
const COMPACT_SLACK = 64;

/** One reservation file. `ifname` is undefined for files written by host-local before it stored ifnames. */
export interface FileEntry {
  ip: string;
  containerId: string;
  ifname: string | undefined;
}

/** A file named by an IP whose contents are not a valid reservation (empty, bad id, bad ifname). */
export interface CorruptFileEntry {
  ip: string;
  detail: string;
}

/** A store method that changes or reads reservations was called outside `withLock`: a bug in the caller. */
export class StoreNotLockedError extends NetbootError {
  readonly kind = 'internal' as const;

  constructor(
    readonly dir: string,
    method: string,
  ) {
    super(`FileStore.${method} on ${dir} must be called inside withLock()`);
  }
}

// One promise chain per directory: two descriptors of one process would otherwise both ask flock for
// the lock, and the second would block the main thread forever while the first can never run to release it.
// Keyed by the directory's device and inode, not its path: one directory has many spellings (/var/run is a
// symlink to /run on Debian, /var/lib/cni often is one too, bind mounts), and one flock sees through them all.
const lockQueues = new Map<string, Promise<void>>();

function dirKey(dir: string): string | undefined {
  const st = statSync(dir, { bigint: true, throwIfNoEntry: false });
  return st && `${st.dev}:${st.ino}`;
}

async function serialised<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const previous = lockQueues.get(key) ?? Promise.resolve();
  let done!: () => void;
  const tail = previous.then(() => new Promise<void>((r) => (done = r)));
  lockQueues.set(key, tail);
  await previous;
  try {
    return await fn();
  } finally {
    done();
    if (lockQueues.get(key) === tail) lockQueues.delete(key);
  }
}

/** Makes a directory's entries (names created, linked, renamed or removed in it) durable. */
function fsyncDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The held lock file: written to (the index) unless this process may only read it. */
interface LockFile {
  fd: number;
  writable: boolean;
}

// Read-write so the index can be kept in it; a lock file we may not write (another owner's 0750 file,
// a read-only mount) still locks, and the index is then only read.
function openLock(path: string): LockFile {
  try {
    return { fd: openSync(path, constants.O_RDWR | constants.O_APPEND | constants.O_CREAT, LOCK_MODE), writable: true };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM' && code !== 'EROFS') throw e;
    return { fd: openSync(path, constants.O_RDONLY | constants.O_CREAT, LOCK_MODE), writable: false };
  }
}

/** No lock file: a kept one closed and its successor not opened. */
const CLOSED: LockFile = { fd: -1, writable: false };

/** Whether `fd` is the file at `path` (not one unlinked or renamed over since it was opened). */
function isFileAt(fd: number, path: string): boolean {
  const open = fstatSync(fd);
  const there = statSync(path, { throwIfNoEntry: false });
  return there !== undefined && there.ino === open.ino && there.dev === open.dev;
}

/** The whole file behind `fd`, or undefined if it is larger than `max` bytes. */
function readAll(fd: number, max: number): string | undefined {
  const size = fstatSync(fd).size;
  if (size > max) return undefined;
  const buf = Buffer.allocUnsafe(size);
  let got = 0;
  for (let n = -1; got < size && n !== 0; got += n) n = readSync(fd, buf, got, size - got, got);
  return buf.toString('utf8', 0, got);
}

function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text);
  for (let done = 0; done < buf.length; ) done += writeSync(fd, buf, done);
}

function ownerKey(containerId: string, ifname: string | undefined): string {
  return `${containerId}\0${ifname ?? ''}`;
}

/** Canonical text of an IP (the form host-local names files with), or undefined if `name` is not one. */
function canonicalIp(name: string): string | undefined {
  try {
    return normalizeIp(name);
  } catch {
    return undefined;
  }
}

// host-local compares strings.TrimSpace(content) with "<id>\r\n<ifname>" and then with "<id>", so a file
// ending in a newline (an editor's, `echo`'s) is a lease to it; reading it the same way keeps the two
// agreeing on who holds the address. Only the whole content is trimmed: "<id> \r\n<ifname>" is nobody's.
function parseContents(ip: string, text: string): FileEntry | CorruptFileEntry {
  const lines = trimSpace(text).split(LINE_BREAK);
  if (lines.length > 2) return { ip, detail: `expected "<containerID>\\r\\n<ifname>", found ${lines.length} lines` };
  const [id = '', ifname] = lines;
  try {
    return {
      ip,
      containerId: validateContainerId(id),
      ifname: ifname === undefined ? undefined : validateIfname(ifname),
    };
  } catch (e) {
    return { ip, detail: (e as Error).message };
  }
}

function isCorrupt(e: FileEntry | CorruptFileEntry): e is CorruptFileEntry {
  return 'detail' in e;
}

function sameEntry(a: FileEntry | CorruptFileEntry, b: FileEntry | CorruptFileEntry): boolean {
  if (isCorrupt(a) || isCorrupt(b)) return isCorrupt(a) && isCorrupt(b) && a.detail === b.detail;
  return a.containerId === b.containerId && a.ifname === b.ifname;
}

/** What is on disk, kept between lock holds and brought up to date when the directory changed. */
interface DirIndex {
  stamp: string;
  byIp: Map<string, FileEntry>;
  byOwner: Map<string, Set<string>>;
  corrupt: Map<string, CorruptFileEntry>;
  /**
   * `last_reserved_ip.<set>` as last read or written by us, valid while the stamp has not moved. Any other
   * writer (host-local too) creates a reservation file in the same operation, which moves the stamp; a
   * stamp that fails to move (coarse timestamps) can only cost round-robin order, never a duplicate.
   */
  lastReserved: Map<number, string | undefined>;
}

function emptyIndex(): DirIndex {
  return { stamp: '', byIp: new Map(), byOwner: new Map(), corrupt: new Map(), lastReserved: new Map() };
}

/** Where the index in the lock file stands relative to the one in memory. */
interface Journal {
  /** What this hold changed, as records to append; unused when `rewrite`. */
  pending: string[];
  /** The lock file holds no usable index (or an unknown tail): write the whole index. */
  rewrite: boolean;
  /** The stamp the lock file's index ends at, as far as we know. */
  savedStamp: string | undefined;
  /** Records in the lock file (ours and the ones we read), to decide when to compact. */
  records: number;
}

function freshJournal(): Journal {
  return { pending: [], rewrite: true, savedStamp: undefined, records: 0 };
}

/** Reservation files (valid or corrupt) that appeared and disappeared, by IP. */
export interface FileStoreChange {
  added: string[];
  removed: string[];
}

/**
 * host-local's disk backend (`<dataDir>/<network>/…`). Every read and write happens inside
 * {@link FileStore.withLock}, which excludes other netboot processes and host-local itself.
 */
export class FileStore {
  readonly dir: string;
  /**
   * Survive power loss: fsync each reservation before linking it into place, and the directory before
   * the lock is released by a hold that changed it.
   */
  readonly durable: boolean;
  /**
   * Keep the lock file and the cursors (`last_reserved_ip.<n>`) open between holds: for a long-lived
   * process (the CNI server), which then saves their open and close on every hold.
   */
  readonly keepOpen: boolean;
  /** keepOpen: the lock file between holds. */
  private keptLock: LockFile | undefined;
  /** keepOpen: each cursor's descriptor and the length last written through it. */
  private readonly cursors = new Map<number, { fd: number; length: number }>();
  /** The lock file, while a hold has it. */
  private lock: LockFile | undefined;
  /** This store's holds not ended yet, as one promise that never rejects (close() waits for it). */
  private holds: Promise<unknown> = Promise.resolve();
  /** The directory changed during this lock hold and has not been fsynced since. */
  private unsynced = false;
  /** The index's stamp was read after this hold's last change to the directory (saveIndex need not read it again). */
  private stamped = true;
  private index: DirIndex | undefined;
  private journal = freshJournal();
  private readonly listeners = new Set<(change: FileStoreChange) => void>();

  constructor(dataDir: string, network: string, opts: { durable?: boolean; keepOpen?: boolean } = {}) {
    this.dir = resolve(dataDir, validateNetworkName(network));
    this.durable = opts.durable ?? true;
    this.keepOpen = opts.keepOpen ?? false;
  }

  /**
   * Runs `fn` holding `<dir>/lock` (in-process queue, then flock LOCK_EX). flock blocks the thread while
   * another process holds the lock; holders keep it for a few milliseconds at most per operation, most of
   * it the durable store's two fsyncs (measured 1–3 ms together on this project's ext4 VM). What the hold
   * changed is appended to the index in the lock file before the lock is released.
   */
  async withLock<T>(fn: () => T | Promise<T>): Promise<T> {
    const hold = serialised(this.dirKey(), async () => {
      let lock = this.keptLock ?? openLock(join(this.dir, LOCK_FILE));
      try {
        flock(lock.fd, LOCK_EX);
        let stamp: string;
        try {
          stamp = this.stampNow();
          // A kept lock file is still the one at the path unless someone changed the directory since our
          // last hold (the stamp moved): only then is it checked, and opened again if it was replaced. Any
          // cursor kept open may have been replaced then too.
          if (lock === this.keptLock && stamp !== this.index?.stamp) {
            this.closeCursors();
            if (!isFileAt(lock.fd, join(this.dir, LOCK_FILE))) {
              const stale = lock;
              lock = CLOSED;
              this.keptLock = undefined;
              closeSync(stale.fd);
              lock = openLock(join(this.dir, LOCK_FILE));
              flock(lock.fd, LOCK_EX);
              stamp = this.stampNow();
            }
          }
        } catch (e) {
          // A kept descriptor is not closed after this hold, so its lock would outlive the failure.
          if (lock !== CLOSED) flock(lock.fd, LOCK_UN);
          throw e;
        }
        this.lock = lock;
        try {
          this.refresh(false, false, stamp);
          this.stamped = true;
          return await fn();
        } finally {
          try {
            this.saveIndex(lock);
            if (this.unsynced && this.durable) fsyncDir(this.dir);
          } finally {
            this.lock = undefined;
            this.unsynced = false;
            flock(lock.fd, LOCK_UN);
          }
        }
      } finally {
        if (lock === CLOSED) {
          // the stale lock file was closed and opening the new one failed
        } else if (this.keepOpen) this.keptLock = lock;
        else closeSync(lock.fd);
      }
    });
    this.holds = Promise.all([this.holds, hold.catch(() => undefined)]);
    return hold;
  }

  /**
   * Closes what `keepOpen` keeps between holds (the lock file, the cursors) once this store's holds have
   * ended, those started meanwhile too. The store stays usable: its next hold opens them again. Called
   * inside one of this store's holds, it would wait for itself: never do that.
   */
  async close(): Promise<void> {
    // Its own holds, not the directory's queue: that queue is found by a stat of the directory, which
    // finds another one (or none) if the directory was replaced during a hold still using the lock file.
    for (let holds = this.holds; ; holds = this.holds) {
      await holds;
      if (holds === this.holds) break;
    }
    const lock = this.keptLock;
    this.keptLock = undefined;
    this.closeCursors();
    if (lock !== undefined) closeSync(lock.fd);
  }

  // The directory's queue key; the directory is created on first use only, so the usual case costs one
  // stat and no mkdir (EEXIST, which mkdir -p follows with a stat of its own).
  private dirKey(): string {
    const key = dirKey(this.dir);
    if (key !== undefined) return key;
    const created = mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    // mkdir -p made `created` and everything below it: each new directory is an entry of its parent.
    if (created !== undefined && this.durable) {
      for (let d = this.dir; ; d = dirname(d)) {
        fsyncDir(dirname(d));
        if (d === created) break;
      }
    }
    return dirKey(this.dir)!;
  }

  /**
   * Writes `<ip>` for the attachment and records it as range set `rangeIndex`'s last reservation.
   * Returns false, writing nothing, if the IP is already reserved (by anyone).
   */
  reserve(ip: string, attachment: Attachment, rangeIndex: number): boolean {
    const index = this.requireLock('reserve');
    const containerId = validateContainerId(attachment.containerId);
    const ifname = validateIfname(attachment.ifname);
    if (!Number.isSafeInteger(rangeIndex) || rangeIndex < 0) throw new InvalidArgumentError('rangeIndex', rangeIndex, 'must be a non-negative integer');
    const name = this.ipName(ip);
    if (index.byIp.has(name) || index.corrupt.has(name)) return false;

    const temp = join(this.dir, RESERVE_TEMP);
    this.stamped = false;
    this.writeTemp(temp, `${containerId}${LINE_BREAK}${ifname}`, this.durable);
    let taken = false;
    try {
      linkSync(temp, join(this.dir, name));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      taken = true;
    } finally {
      unlinkSync(temp);
    }
    if (taken) {
      // Someone wrote it and the directory stamp did not show it (coarse timestamps): look again now.
      this.refresh(true);
      return false;
    }
    this.unsynced = true;
    this.add(index, { ip: name, containerId, ifname });
    this.emit({ added: [name], removed: [] });
    this.writeCursor(rangeIndex, name);
    this.setLastReserved(index, rangeIndex, name);
    this.restamp(index);
    return true;
  }

  /** Removes the reservation of `ip`, corrupt or not; returns what it held (undefined if nothing). */
  release(ip: string): FileEntry | CorruptFileEntry | undefined {
    const index = this.requireLock('release');
    const name = this.ipName(ip);
    const entry = this.reread(index, name);
    if (entry) this.drop(index, entry);
    return entry;
  }

  /**
   * Removes every reservation of the attachment, falling back like host-local to files that hold
   * only the container ID; returns what was removed.
   */
  releaseById(attachment: Attachment): FileEntry[] {
    const index = this.requireLock('releaseById');
    // getById has just re-read these files, so the index holds what is on disk now.
    const entries = this.getById(attachment).map((ip) => index.byIp.get(ip)!);
    for (const entry of entries) this.drop(index, entry);
    return entries;
  }

  /**
   * Re-reads every reservation file, not only new names: for whole-directory decisions (gc, check)
   * that must not act on an owner recorded before someone else reused the address.
   */
  reload(): void {
    this.requireLock('reload');
    this.refresh(true, true);
  }

  /** IPs reserved for the attachment (or, if none, for its container ID in the old one-line format). */
  getById(attachment: Attachment): string[] {
    const index = this.requireLock('getById');
    const containerId = validateContainerId(attachment.containerId);
    const ifname = validateIfname(attachment.ifname);
    const matching = (key: string) =>
      [...(index.byOwner.get(key) ?? [])].filter((ip) => {
        const entry = this.reread(index, ip);
        return entry !== undefined && !isCorrupt(entry) && ownerKey(entry.containerId, entry.ifname) === key;
      });
    const exact = matching(ownerKey(containerId, ifname));
    return exact.length > 0 ? exact : matching(ownerKey(containerId, undefined));
  }

  /** What the file of `ip` holds now, read from disk (corrupt or not); undefined if there is none. */
  get(ip: string): FileEntry | CorruptFileEntry | undefined {
    const index = this.requireLock('get');
    const name = this.ipName(ip);
    const known = index.byIp.has(name) || index.corrupt.has(name);
    const entry = this.reread(index, name);
    if (entry && !known) this.emit({ added: [name], removed: [] });
    return entry;
  }

  /** Whether a file for `ip` exists (a corrupt one counts: the address is not free). */
  isReserved(ip: string): boolean {
    const index = this.requireLock('isReserved');
    const name = this.ipName(ip);
    return index.byIp.has(name) || index.corrupt.has(name);
  }

  /** `last_reserved_ip.<rangeIndex>`, or undefined if absent or not an IP. */
  lastReserved(rangeIndex: number): string | undefined {
    const index = this.requireLock('lastReserved');
    if (index.lastReserved.has(rangeIndex)) return index.lastReserved.get(rangeIndex);
    let ip: string | undefined;
    try {
      ip = canonicalIp(readFileSync(join(this.dir, `${LAST_RESERVED_PREFIX}${rangeIndex}`), 'utf8').trim());
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    this.setLastReserved(index, rangeIndex, ip);
    return ip;
  }

  /** Every reservation file, valid ones and corrupt ones, sorted by name. */
  list(): { entries: FileEntry[]; corrupt: CorruptFileEntry[] } {
    const index = this.requireLock('list');
    const byName = (a: { ip: string }, b: { ip: string }) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0);
    return { entries: [...index.byIp.values()].sort(byName), corrupt: [...index.corrupt.values()].sort(byName) };
  }

  /**
   * Calls `listener` (under the lock) with every reservation file that appears or disappears from now
   * on, whoever wrote it; LocalIpam keeps its bitmaps in step this way. Returns the unsubscribe function.
   */
  onChange(listener: (change: FileStoreChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private requireLock(method: string): DirIndex {
    if (!this.lock) throw new StoreNotLockedError(this.dir, method);
    return (this.index ??= this.load());
  }

  private ipName(ip: string): string {
    return normalizeIp(ip); // throws InvalidAddressError naming the input
  }

  private writeTemp(path: string, text: string, sync: boolean): void {
    const fd = openSync(path, 'w', 0o644);
    try {
      writeSync(fd, text);
      if (sync) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  // last_reserved_ip.<set> is written in place, as host-local writes it, and not fsynced: a lost or torn
  // cursor (a shorter address, nothing) only costs round-robin order once, never a lease. Renaming a temp
  // file over it, as before, made ext4 write the data out first (auto_da_alloc): 0.3 ms of CPU and ~1 ms
  // of each ADD. Truncating to the new length after the write, not to zero before it, avoids that too.
  // keepOpen keeps its descriptor, and truncates only when the address written is shorter than the last.
  private writeCursor(set: number, ip: string): void {
    const kept = this.cursors.get(set);
    const fd = kept?.fd ?? openSync(join(this.dir, `${LAST_RESERVED_PREFIX}${set}`), constants.O_WRONLY | constants.O_CREAT, 0o644);
    try {
      const n = writeSync(fd, ip, 0);
      if (kept === undefined || n < kept.length) ftruncateSync(fd, n);
      if (this.keepOpen) this.cursors.set(set, { fd, length: n });
    } catch (e) {
      this.cursors.delete(set);
      closeSync(fd);
      throw e;
    }
    if (!this.keepOpen) closeSync(fd);
  }

  private closeCursors(): void {
    // Forgotten before closing: a close that throws has freed its descriptor anyway, and a number kept
    // after that could be another file's by the next hold.
    const fds = [...this.cursors.values()].map((c) => c.fd);
    this.cursors.clear();
    for (const fd of fds) {
      try {
        closeSync(fd);
      } catch {
        // EBADF/EIO on a cursor: it is only round-robin order
      }
    }
  }

  // Any writer changes the directory (create, link, unlink, rename), which moves its mtime/ctime; with
  // the lock held nobody else can change it between our write and our stat. A stamp that fails to move
  // (coarse timestamps on old kernels) cannot cause a duplicate: link() still refuses taken names.
  private stampNow(): string {
    const st = statSync(this.dir, { bigint: true });
    return `${st.ino}:${st.mtimeNs}:${st.ctimeNs}`;
  }

  private setLastReserved(index: DirIndex, set: number, ip: string | undefined): void {
    index.lastReserved.set(set, ip);
    this.note(lastRecord(set, ip));
  }

  /** Records a change of the index for the lock file (unless the whole index will be written anyway). */
  private note(record: string): void {
    if (!this.journal.rewrite) this.journal.pending.push(record);
  }

  /**
   * Writes what this hold changed to the lock file: appended as one block, or the whole index when the
   * file had none we could use or the journal has grown long. Only while the directory is as the index
   * says (a step that failed half-way may have changed it unrecorded; then the next holder reads the
   * directory). A failed write leaves at worst a torn block, which readers refuse.
   */
  private saveIndex(lock: LockFile): void {
    const { index, journal } = this;
    if (!index || !lock.writable) return;
    if (!journal.rewrite && journal.pending.length === 0 && journal.savedStamp === index.stamp) return;
    try {
      // Read again only after a step that changed the directory and failed before its restamp.
      if (!this.stamped && this.stampNow() !== index.stamp) {
        this.journal = freshJournal();
        return;
      }
      const live = index.byIp.size + index.corrupt.size + index.lastReserved.size;
      if (journal.rewrite || journal.records + journal.pending.length > COMPACT_FACTOR * live + COMPACT_SLACK) {
        ftruncateSync(lock.fd, 0);
        writeAll(lock.fd, encodeSnapshot(index, index.stamp));
        journal.records = live;
      } else {
        writeAll(lock.fd, encodeBlock(journal.pending, index.stamp));
        journal.records += journal.pending.length;
      }
      journal.rewrite = false;
      journal.savedStamp = index.stamp;
    } catch (e) {
      // The index is a cache of the directory: not being able to write it (ENOSPC, EIO) must not fail the
      // operation it follows. The next hold rewrites it whole.
      if (typeof (e as NodeJS.ErrnoException).code !== 'string') throw e;
      this.journal = freshJournal();
    } finally {
      journal.pending = [];
    }
  }

  /** The index in the lock file, if it describes the directory as it is at `stamp`. */
  private adopt(lock: LockFile, stamp: string): DirIndex | undefined {
    const text = readAll(lock.fd, MAX_INDEX_BYTES);
    const decoded = text === undefined ? undefined : decodeIndex(text, stamp);
    this.journal = freshJournal();
    if (!decoded) return undefined;
    this.journal = { pending: [], rewrite: false, savedStamp: stamp, records: decoded.records };
    const index: DirIndex = { ...decoded.state, stamp, byOwner: new Map() };
    for (const entry of index.byIp.values()) this.own(index, entry);
    return index;
  }

  private drop(index: DirIndex, entry: FileEntry | CorruptFileEntry): void {
    this.stamped = false;
    unlinkSync(join(this.dir, entry.ip));
    this.unsynced = true;
    this.remove(index, entry);
    this.emit({ added: [], removed: [entry.ip] });
    this.restamp(index);
  }

  private restamp(index: DirIndex): void {
    index.stamp = this.stampNow();
    this.stamped = true;
  }

  private emit(change: FileStoreChange): void {
    for (const listener of this.listeners) listener(change);
  }

  // First look at the directory in this process: the index in the lock file if it still describes the
  // directory, else every file is read; nobody is told (there is no "before").
  private load(): DirIndex {
    const stamp = this.stampNow();
    const index = this.adopt(this.lock!, stamp) ?? emptyIndex();
    this.index = index;
    this.sweep(index, stamp, false);
    return index;
  }

  /**
   * Brings the index up to date. Unless `force`d, only if the directory's stamp moved since our last look:
   * someone else wrote, so their index in the lock file is taken if it is current, else every file is
   * read. `force` re-lists the names of the index in memory (`rereadAll`: and re-reads every file).
   */
  private refresh(force = false, rereadAll = false, stamp = this.stampNow()): void {
    const old = this.index;
    if (!old) return; // loaded on first use
    if (force) {
      const change = this.sweep(old, stamp, rereadAll);
      if (change.added.length > 0 || change.removed.length > 0) this.emit(change);
      return;
    }
    if (old.stamp === stamp) return;
    const next = this.adopt(this.lock!, stamp) ?? emptyIndex();
    this.index = next;
    this.sweep(next, stamp, false);
    const change: FileStoreChange = { added: [], removed: [] };
    for (const ip of [...next.byIp.keys(), ...next.corrupt.keys()]) if (!old.byIp.has(ip) && !old.corrupt.has(ip)) change.added.push(ip);
    for (const ip of [...old.byIp.keys(), ...old.corrupt.keys()]) if (!next.byIp.has(ip) && !next.corrupt.has(ip)) change.removed.push(ip);
    if (change.added.length > 0 || change.removed.length > 0) this.emit(change);
  }

  /**
   * Lists the directory against the index: new names are read, vanished ones dropped, and (`rereadAll`)
   * known ones read again. `stamp` was taken before the listing, so a change made after it moves the
   * stamp and is looked at again next time.
   */
  private sweep(index: DirIndex, stamp: string, rereadAll: boolean): FileStoreChange {
    const change: FileStoreChange = { added: [], removed: [] };
    const seen = new Set<string>();
    let cleaned = false;
    for (const name of readdirSync(this.dir)) {
      if (name.startsWith(TEMP_PREFIX)) {
        unlinkSync(join(this.dir, name)); // left by a process killed mid-write; we hold the lock
        cleaned = true;
        continue;
      }
      const known = index.byIp.has(name) || index.corrupt.has(name);
      // Known names are canonical IPs already; parsing only new names keeps a sweep near readdir's cost.
      if (!known && (name === LOCK_FILE || name.startsWith(LAST_RESERVED_PREFIX) || canonicalIp(name) !== name)) continue;
      seen.add(name);
      if (known && !rereadAll) continue;
      if (this.reread(index, name) && !known) change.added.push(name);
    }
    for (const name of [...index.byIp.keys(), ...index.corrupt.keys()]) {
      if (seen.has(name)) continue;
      this.remove(index, (index.byIp.get(name) ?? index.corrupt.get(name))!);
      change.removed.push(name);
    }
    // Someone else wrote here since our index was made: their cursor may have moved.
    if ((rereadAll || change.added.length > 0 || change.removed.length > 0) && index.lastReserved.size > 0) {
      index.lastReserved.clear();
      this.note(FORGET_LAST);
    }
    index.stamp = cleaned ? this.stampNow() : stamp;
    return change;
  }

  /** Reads one reservation file into the index (replacing what it held); undefined if it is gone. */
  private reread(index: DirIndex, name: string): FileEntry | CorruptFileEntry | undefined {
    let text: string | undefined;
    try {
      text = readFileSync(join(this.dir, name), 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'EISDIR') throw e;
    }
    const old = index.byIp.get(name) ?? index.corrupt.get(name);
    if (text === undefined) {
      if (old) {
        this.remove(index, old);
        this.emit({ added: [], removed: [name] });
      }
      return undefined;
    }
    const entry = parseContents(name, text);
    if (old && sameEntry(old, entry)) return old;
    if (old) this.remove(index, old);
    if (isCorrupt(entry)) {
      index.corrupt.set(name, entry);
      this.note(corruptRecord(entry));
    } else {
      this.add(index, entry);
    }
    return entry;
  }

  private add(index: DirIndex, entry: FileEntry): void {
    this.own(index, entry);
    this.note(holdRecord(entry));
  }

  // The index's maps only: for entries the lock file already holds.
  private own(index: DirIndex, entry: FileEntry): void {
    index.byIp.set(entry.ip, entry);
    const key = ownerKey(entry.containerId, entry.ifname);
    const ips = index.byOwner.get(key);
    if (ips) ips.add(entry.ip);
    else index.byOwner.set(key, new Set([entry.ip]));
  }

  private remove(index: DirIndex, entry: FileEntry | CorruptFileEntry): void {
    this.note(goneRecord(entry.ip));
    if (isCorrupt(entry)) {
      index.corrupt.delete(entry.ip);
      return;
    }
    index.byIp.delete(entry.ip);
    const key = ownerKey(entry.containerId, entry.ifname);
    const ips = index.byOwner.get(key);
    ips?.delete(entry.ip);
    if (ips?.size === 0) index.byOwner.delete(key);
  }
}
