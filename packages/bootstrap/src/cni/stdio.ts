// The plugin process's stdin and stdout/stderr, with plain synchronous fs calls: creating
// process.stdout loads Node's stream machinery, ~5 ms of every call for a reply of a few hundred bytes.
// Both run in every call of the single executable, so both are parenthesised function expressions,
// compiled eagerly into its code cache (see forward.ts).
// biome-ignore-all format: the parentheses around function expressions make V8 compile them eagerly (forward.ts)
import { readFileSync, writeSync } from 'node:fs';

/** The whole of stdin; '' when there is none (closed, or a terminal in non-blocking mode). */
export const readStdin = (function readStdin(): string {
  try {
    return readFileSync(0, 'utf8');
  } catch (err) {
    if (['EAGAIN', 'EBADF', 'ENXIO'].includes((err as NodeJS.ErrnoException).code ?? '')) return '';
    throw err;
  }
});

/**
 * Writes all of `text` to `fd`, waiting out EAGAIN if the runtime gave us a non-blocking pipe. An empty
 * `text` is one write(2) of nothing (which neither wakes a pipe's reader nor sends on a stream socket):
 * a process's first write compiles Node's write path, ~0.12 ms, and forward.ts has it done while it
 * waits for the server.
 */
export const writeAll = (function writeAll(fd: number, text: string): void {
  let rest = Buffer.from(text);
  do {
    try {
      rest = rest.subarray(writeSync(fd, rest));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EPIPE' || code === 'EBADF') return; // nobody is reading: nothing more to do
      if (code !== 'EAGAIN') throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  } while (rest.length > 0);
});
