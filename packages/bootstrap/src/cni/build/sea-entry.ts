// The single executable's main script. It answers VERSION itself — runtimes ask every plugin of every
// network for it on each pod start (podman 4.3: five calls per container) — and forwards the other
// verbs to a warm CNI server when one listens (forward.ts); only otherwise does it run the plugin
// bundle from the asset `plugin.cjs` with its V8 code cache. So neither VERSION nor a forwarded ADD
// compiles the ~350 KB plugin or deserialises its cache (~5 ms), and both cost about Node's own start.
// What VERSION and a forwarded call run is written as parenthesised function expressions, which V8
// compiles eagerly, into the executable's code cache (see forward.ts); loadPlugin's cost is elsewhere.
// biome-ignore-all format: the parentheses around function expressions make V8 compile them eagerly (forward.ts)
// biome-ignore-all lint/complexity/useArrowFunction: V8 compiles parenthesised `function` expressions eagerly, arrows not
import { Script } from 'node:vm';
import { forwardToServer } from '../forward.js';
import { readStdin, writeAll } from '../stdio.js';
import { version } from '../verbs/version.js';
import { PLUGIN_FILENAME, wrapPlugin } from './plugin-asset.js';

type PluginExports = { main(given: { stdin: string }): Promise<void> };

// The assets are read in place (getRawAsset: no copy of the ~350 KB bundle or its cache), and the
// bundle, ASCII only (esbuild escapes the rest; the build checks it), becomes a string through latin1:
// a plain copy, where getAsset(…, 'utf8') first loads Node's TextDecoder.
function loadPlugin(): PluginExports {
  const sea = require('node:sea') as typeof import('node:sea');
  const script = new Script(wrapPlugin(Buffer.from(sea.getRawAsset('plugin.cjs') as ArrayBuffer).toString('latin1')), {
    filename: PLUGIN_FILENAME,
    cachedData: Buffer.from(sea.getRawAsset('plugin.cache') as ArrayBuffer),
  });
  const module = { exports: {} };
  (script.runInThisContext() as (r: NodeRequire, m: object, e: object) => void)(require, module, module.exports);
  return module.exports as PluginExports;
}

const out = {
  stdout: (function (t: string) {
    writeAll(1, t);
  }),
  stderr: (function (t: string) {
    writeAll(2, t);
  }),
};

const readOrEmpty = (function readOrEmpty(): string {
  try {
    return readStdin();
  } catch {
    return ''; // an unreadable stdin: the plugin's dispatcher reports the missing config (error 6)
  }
});

/**
 * Ends the process once its output is written (all of it synchronous). process.exit first unhooks
 * Node's CommonJS runner and emits 'exit' — ~0.15 ms of JavaScript compiled on first use, with nothing
 * here listening — and leaving by an empty event loop also tears the V8 heap down; both end in
 * process.reallyExit (undocumented, but what process.exit calls and what userland hooks), used here.
 */
const exitNow = (function exitNow(code: number): void {
  const { reallyExit } = process as unknown as { reallyExit?: (code: number) => never };
  if (typeof reallyExit === 'function') reallyExit.call(process, code);
  process.exit(code);
});

if (process.env.CNI_COMMAND === 'VERSION') {
  readOrEmpty(); // the runtime writes the config; take it, as the plugin proper does
  writeAll(1, `${JSON.stringify(version())}\n`);
  exitNow(0);
} else {
  const stdin = readOrEmpty();
  void forwardToServer(process.env, stdin, out).then(
    (function (code: number | undefined) {
      return code === undefined ? loadPlugin().main({ stdin }) : exitNow(code);
    }),
  );
}
