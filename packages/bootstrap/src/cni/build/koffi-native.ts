// Stands in for the `koffi` package inside the plugin bundle: loads koffi's native module directly
// (`process.dlopen`), skipping koffi's JS loader (~7 ms of start-up) and any node_modules lookup.
// Where the module comes from is fixed when the bundle is built (NETBOOT_KOFFI):
//   path      an absolute path (development and test builds)
//   asset     embedded in the single executable (SEA asset `koffi.node`)
//   embedded  base64 inside the bundled script itself (the fallback: one file, like the executable)
// An embedded module is written once to a root-only directory and loaded from there only if its
// SHA-256 matches the one built in; a changed or swapped file is rewritten, never loaded.
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { CniCode, CniError } from '../errors.js';

export type KoffiSource = { kind: 'path'; path: string } | { kind: 'asset'; sha256: string } | { kind: 'embedded'; sha256: string };

declare const NETBOOT_KOFFI: KoffiSource;
/** koffi.node in base64, defined only in `embedded` builds. */
declare const NETBOOT_KOFFI_DATA: string;

/** Where the asset is written; NETBOOT_NATIVE_DIR moves it (tests), the default is root-only tmpfs. */
const NATIVE_DIR = process.env.NETBOOT_NATIVE_DIR ?? '/run/netboot/native';

function dlopen(path: string): unknown {
  const module = { exports: {} as unknown };
  process.dlopen(module, path);
  return module.exports;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The directory must be ours and closed to others, or a local user could swap the library. */
function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  const uid = process.getuid?.() ?? 0;
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0) {
    throw new CniError(CniCode.Internal, `${dir} must be a directory owned by uid ${uid} and not writable by others`);
  }
}

/** The embedded module's bytes: the SEA asset, or the base64 the script carries. */
function embeddedBytes(kind: 'asset' | 'embedded'): Uint8Array {
  if (kind === 'embedded') return Buffer.from(NETBOOT_KOFFI_DATA, 'base64');
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- node:sea exists only as a builtin
  const { getAsset } = require('node:sea') as typeof import('node:sea');
  return new Uint8Array(getAsset('koffi.node'));
}

function fromEmbedded(kind: 'asset' | 'embedded', expected: string): unknown {
  const file = join(NATIVE_DIR, `koffi-${expected.slice(0, 16)}.node`);
  privateDir(NATIVE_DIR);
  try {
    if (sha256(readFileSync(file)) === expected) return dlopen(file);
  } catch {
    // not written yet (or unreadable): write it below
  }
  const bytes = embeddedBytes(kind);
  if (sha256(bytes) !== expected) throw new CniError(CniCode.Internal, 'the embedded koffi.node does not match the hash it was built with');
  const temp = `${file}.${process.pid}.tmp`;
  const fd = openSync(temp, 'w', 0o500);
  try {
    writeSync(fd, bytes);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(temp, 0o500);
  renameSync(temp, file);
  return dlopen(file);
}

const koffi = NETBOOT_KOFFI.kind === 'path' ? dlopen(NETBOOT_KOFFI.path) : fromEmbedded(NETBOOT_KOFFI.kind, NETBOOT_KOFFI.sha256);
export default koffi;
