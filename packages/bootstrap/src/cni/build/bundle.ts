// Bundles the plugin (src/cni/main.ts and what it imports) into one CommonJS file with esbuild, with
// `koffi` replaced by koffi-native.ts. Used by `netboot cni build` and by the tests that run the plugin
// as a runtime does. The metafile lists every input, so a test can prove what ADD loads.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Metafile, type Plugin } from 'esbuild';
import { CniCode, CniError } from '../errors.js';
import type { KoffiSource } from './koffi-native.js';

/**
 * The netboot package's directory, found upwards from this module: it runs from src/cni/build (tsx)
 * or from dist/ (the built CLI), and the plugin is always bundled from its sources.
 */
function packageRoot(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'netboot') return dir;
  }
  throw new CniError(CniCode.Internal, 'cannot find the netboot package (its package.json) above this module');
}

const root = packageRoot();
const CNI_SRC = join(root, 'src/cni');

/** koffi's native module for this machine, from the installed @koromix/koffi-<platform> package. */
export function koffiNativePath(): string {
  const requireFromCore = createRequire(join(root, '../core/package.json'));
  // koffi's exports hide its package.json; its main file sits at the package root.
  const koffiDir = dirname(requireFromCore.resolve('koffi'));
  const pkg = `@koromix/koffi-${process.platform}-${process.arch}`;
  const requireFromKoffi = createRequire(join(koffiDir, 'index.cjs'));
  const native = join(dirname(requireFromKoffi.resolve(`${pkg}/package.json`)), `${process.platform}_${process.arch}`, 'koffi.node');
  readFileSync(native, { flag: 'r' }).subarray(0, 4); // fails here, naming the path, if it is missing
  return native;
}

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

export interface BundleOptions {
  outfile: string;
  /** How the bundle finds koffi's native module at run time. */
  koffi: KoffiSource;
  /** Interpreter line for a script that is executed directly (`#!/usr/bin/env node`); none for a SEA. */
  shebang?: string;
  minify?: boolean;
  /** `sea`: the single executable's main script (VERSION, then the plugin asset); default the plugin. */
  entry?: 'plugin' | 'sea';
}

const koffiPlugin: Plugin = {
  name: 'koffi-native',
  setup(b) {
    b.onResolve({ filter: /^koffi$/ }, () => ({ path: join(CNI_SRC, 'build/koffi-native.ts') }));
  },
};

export async function bundlePlugin(o: BundleOptions): Promise<Metafile> {
  const result = await build({
    entryPoints: [join(CNI_SRC, o.entry === 'sea' ? 'build/sea-entry.ts' : 'main.ts')],
    outfile: o.outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    conditions: ['source'],
    plugins: [koffiPlugin],
    define: {
      NETBOOT_KOFFI: JSON.stringify(o.koffi),
      ...(o.koffi.kind === 'embedded' ? { NETBOOT_KOFFI_DATA: JSON.stringify(readFileSync(koffiNativePath()).toString('base64')) } : {}),
    },
    minify: o.minify ?? false,
    legalComments: 'none',
    metafile: true,
    logLevel: 'silent',
    ...(o.shebang === undefined ? {} : { banner: { js: o.shebang } }),
  });
  return result.metafile;
}
