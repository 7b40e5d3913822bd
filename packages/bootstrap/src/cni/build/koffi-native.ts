// Stands in for the `koffi` package inside the plugin bundle: loads koffi's native module directly
// (`process.dlopen`), skipping koffi's JS loader (~7 ms of start-up) and any node_modules lookup.
// Where the module comes from is fixed when the bundle is built (NETBOOT_KOFFI):
//   path      an absolute path (development and test builds)
//   asset     embedded in the single executable (SEA asset `koffi.node`)
//   embedded  base64 inside the bundled script itself (the fallback: one file, like the executable)
// An embedded module is written to a root-only directory (0700, owned by us) only after its SHA-256
// matched the one built in, as a read-only file named by that hash. Later starts load it after
// checking owner, mode and size — whoever could change it there is root already — so the steady
// state needs neither node:crypto (several ms to load) nor hashing 1 MB; anything off is rewritten.
import { closeSync, fstatSync, fsyncSync, lstatSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { CniCode, CniError } from '../errors.js';

export type KoffiSource = { kind: 'path'; path: string } | { kind: 'asset' | 'embedded'; sha256: string; size: number };

declare const NETBOOT_KOFFI: KoffiSource;
/** koffi.node in base64, defined only in `embedded` builds. */
declare const NETBOOT_KOFFI_DATA: string;

/** Where the module is written; NETBOOT_NATIVE_DIR moves it (tests), the default is root-only tmpfs. */
const NATIVE_DIR = process.env.NETBOOT_NATIVE_DIR ?? '/run/netboot/native';
const MODE = 0o500;

function dlopen(path: string): unknown {
  const module = { exports: {} as unknown };
  process.dlopen(module, path);
  return module.exports;
}

const uid = () => process.getuid?.() ?? 0;

/** The directory must be ours and closed to others, or a local user could swap the library. */
function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.uid !== uid() || (st.mode & 0o077) !== 0) {
    throw new CniError(CniCode.Internal, `${dir} must be a directory owned by uid ${uid()} and closed to others (mode 0700)`);
  }
}

/** Whether `file` is the module we wrote: a regular file of ours, read-only, of the right size. */
function isOurs(file: string, size: number): boolean {
  try {
    const st = lstatSync(file);
    return st.isFile() && st.uid === uid() && (st.mode & 0o777) === MODE && st.size === size;
  } catch {
    return false;
  }
}

/** The embedded bytes, checked against the hash built in. */
function embeddedBytes(source: { kind: 'asset' | 'embedded'; sha256: string }): Uint8Array {
  // Only the first start (or a repair) gets here, so these loads cost nothing in the steady state.
  const { createHash } = require('node:crypto') as typeof import('node:crypto');
  const bytes =
    source.kind === 'embedded'
      ? Buffer.from(NETBOOT_KOFFI_DATA, 'base64')
      : new Uint8Array((require('node:sea') as typeof import('node:sea')).getAsset('koffi.node'));
  if (createHash('sha256').update(bytes).digest('hex') !== source.sha256) {
    throw new CniError(CniCode.Internal, 'the embedded koffi.node does not match the hash it was built with');
  }
  return bytes;
}

function fromEmbedded(source: { kind: 'asset' | 'embedded'; sha256: string; size: number }): unknown {
  privateDir(NATIVE_DIR);
  const file = join(NATIVE_DIR, `koffi-${source.sha256.slice(0, 16)}.node`);
  if (isOurs(file, source.size)) return dlopen(file);
  const bytes = embeddedBytes(source);
  const temp = `${file}.${process.pid}.tmp`;
  const fd = openSync(temp, 'w', MODE);
  try {
    writeSync(fd, bytes);
    fsyncSync(fd);
    if (fstatSync(fd).size !== source.size) throw new CniError(CniCode.IoFailure, `short write of ${temp}`);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, file);
  return dlopen(file);
}

const koffi = NETBOOT_KOFFI.kind === 'path' ? dlopen(NETBOOT_KOFFI.path) : fromEmbedded(NETBOOT_KOFFI);
export default koffi;
