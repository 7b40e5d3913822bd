// The single executable's main script. It answers VERSION itself — runtimes ask every plugin of every
// network for it on each pod start (podman 4.3: five calls per container) — and otherwise runs the
// plugin bundle from the asset `plugin.cjs` with its V8 code cache. So VERSION never compiles the
// ~350 KB plugin, and costs about what Node's own start does.
import { readFileSync, writeSync } from 'node:fs';
import { Script } from 'node:vm';
import { version } from '../verbs/version.js';
import { PLUGIN_FILENAME, wrapPlugin } from './plugin-asset.js';

// The assets are read in place (getRawAsset: no copy of the ~350 KB bundle or its cache), and the
// bundle, ASCII only (esbuild escapes the rest; the build checks it), becomes a string through latin1:
// a plain copy, where getAsset(…, 'utf8') first loads Node's TextDecoder.
function runPlugin(): void {
  const sea = require('node:sea') as typeof import('node:sea');
  const script = new Script(wrapPlugin(Buffer.from(sea.getRawAsset('plugin.cjs') as ArrayBuffer).toString('latin1')), {
    filename: PLUGIN_FILENAME,
    cachedData: Buffer.from(sea.getRawAsset('plugin.cache') as ArrayBuffer),
  });
  const module = { exports: {} };
  (script.runInThisContext() as (r: NodeRequire, m: object, e: object) => void)(require, module, module.exports);
}

if (process.env.CNI_COMMAND === 'VERSION') {
  try {
    readFileSync(0); // the runtime writes the config; take it, as the plugin proper does
  } catch {
    // no stdin: nothing to take
  }
  writeSync(1, `${JSON.stringify(version())}\n`);
} else {
  runPlugin();
}
