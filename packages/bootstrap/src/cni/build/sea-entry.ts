// The single executable's main script. It answers VERSION itself — runtimes ask every plugin of every
// network for it on each pod start (podman 4.3: five calls per container) — and forwards the other
// verbs to a warm CNI server when one listens (forward.ts); only otherwise does it run the plugin
// bundle from the asset `plugin.cjs` with its V8 code cache. So neither VERSION nor a forwarded ADD
// compiles the ~350 KB plugin or deserialises its cache (~5 ms), and both cost about Node's own start.
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

const out = { stdout: (t: string) => writeAll(1, t), stderr: (t: string) => writeAll(2, t) };

function readOrEmpty(): string {
  try {
    return readStdin();
  } catch {
    return ''; // an unreadable stdin: the plugin's dispatcher reports the missing config (error 6)
  }
}

if (process.env.CNI_COMMAND === 'VERSION') {
  readOrEmpty(); // the runtime writes the config; take it, as the plugin proper does
  writeAll(1, `${JSON.stringify(version())}\n`);
} else {
  const stdin = readOrEmpty();
  void forwardToServer(process.env, stdin, out).then((code) => (code === undefined ? loadPlugin().main({ stdin }) : process.exit(code)));
}
