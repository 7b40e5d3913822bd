// The plugin executable's entry: the process's env, stdin and stdout as the dispatcher's I/O.
// stdout and stderr are written with writeSync on the raw descriptors: creating process.stdout loads
// Node's stream machinery, ~5 ms of every call for a reply of a few hundred bytes.
import { readFileSync, writeSync } from 'node:fs';
import { dispatch } from './skel.js';
import { verbs } from './verbs/index.js';

function readStdin(): string {
  try {
    return readFileSync(0, 'utf8');
  } catch (err) {
    // No stdin at all (closed, or a terminal in non-blocking mode): the same as an empty one.
    if (['EAGAIN', 'EBADF', 'ENXIO'].includes((err as NodeJS.ErrnoException).code ?? '')) return '';
    throw err;
  }
}

/** Writes all of `text` to `fd`, waiting out EAGAIN if the runtime gave us a non-blocking pipe. */
function writeAll(fd: number, text: string): void {
  let rest = Buffer.from(text);
  while (rest.length > 0) {
    try {
      rest = rest.subarray(writeSync(fd, rest));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EPIPE' || code === 'EBADF') return; // nobody is reading: nothing more to do
      if (code !== 'EAGAIN') throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}

// Not top-level await: the binary is a CommonJS bundle (it starts ~5 ms faster than ESM).
// process.exit once the reply is written (all output is synchronous): leaving by an empty event loop
// also tears the V8 heap and the environment down, a few ms that nobody waits for.
void dispatch({ env: process.env, readStdin, stdout: (t) => writeAll(1, t), stderr: (t) => writeAll(2, t) }, verbs).then((code) => {
  process.exit(code);
});
