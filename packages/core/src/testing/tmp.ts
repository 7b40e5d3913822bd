// A throwaway directory for tests that write files (stores, generated code, scripts to run). Pure.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Runs `fn` with a fresh directory `<tmpdir>/<prefix>XXXXXX` and removes it afterwards, also on failure. */
export async function withTempDir<T>(fn: (dir: string) => T | Promise<T>, prefix = 'nbt-'): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
