// The plugin executable's entry: the process's env, stdin and stdout as the dispatcher's I/O — after
// offering the call to a warm CNI server (forward.ts), which answers ADD in a fraction of what loading
// the verbs here costs. The dispatcher and the verbs are imported only when this process runs the verb
// itself (esbuild makes those imports deferred module initialisers), so the forwarded path never
// loads them.
import { forwardToServer } from './forward.js';
import { readStdin, writeAll } from './stdio.js';

/**
 * Set by the bundler: true in the single executable's plugin asset, which exports `main` for the SEA's
 * entry to call (that entry has already read stdin and tried the server); false where this bundle is
 * the program and runs itself.
 */
declare const NETBOOT_PLUGIN_LIBRARY: boolean;

const out = { stdout: (t: string) => writeAll(1, t), stderr: (t: string) => writeAll(2, t) };

/**
 * Runs one invocation and exits. `given.stdin`: the caller read stdin and the server already declined
 * (or there is none), so this process runs the verb without asking again.
 */
export async function main(given?: { stdin: string }): Promise<void> {
  let stdin: string | undefined = given?.stdin;
  let readError: unknown;
  if (stdin === undefined) {
    try {
      stdin = readStdin();
    } catch (err) {
      readError = err; // reported by the dispatcher, as a CNI error
    }
    if (stdin !== undefined) {
      const code = await forwardToServer(process.env, stdin, out);
      if (code !== undefined) process.exit(code);
    }
  }
  const [{ dispatch }, { verbs }] = await Promise.all([import('./skel.js'), import('./verbs/index.js')]);
  const readAgain = () => {
    if (stdin === undefined) throw readError;
    return stdin;
  };
  // process.exit once the reply is written (all output is synchronous): leaving by an empty event loop
  // also tears the V8 heap and the environment down, a few ms that nobody waits for.
  process.exit(await dispatch({ env: process.env, readStdin: readAgain, ...out }, verbs));
}

// Not top-level await: the binary is a CommonJS bundle (it starts ~5 ms faster than ESM).
if (!NETBOOT_PLUGIN_LIBRARY) void main();
