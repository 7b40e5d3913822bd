// The plugin executable's entry: the process's env, stdin and stdout as the dispatcher's I/O.
import { readFileSync } from 'node:fs';
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

// Not top-level await: the binary is a CommonJS bundle (it starts ~5 ms faster than ESM).
void dispatch({ env: process.env, readStdin, stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) }, verbs).then((code) => {
  process.exitCode = code;
});
