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
/**
 * @netboot/core's directory as Node resolves it from here: packages/core in the workspace, the
 * installed package beside netboot in node_modules (both ship their src for this bundle).
 */
const CORE = dirname(createRequire(join(root, 'package.json')).resolve('@netboot/core/package.json'));

/** koffi's native module for this machine, from the installed @koromix/koffi-<platform> package. */
export function koffiNativePath(): string {
  const requireFromCore = createRequire(join(CORE, 'package.json'));
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
  /** `sea`: the single executable's main script (VERSION, the server, then the plugin asset); default the plugin. */
  entry?: 'plugin' | 'sea';
  /** The plugin exports `main` for the SEA's entry to call instead of running itself (main.ts). */
  library?: boolean;
}

const koffiPlugin: Plugin = {
  name: 'koffi-native',
  setup(b) {
    b.onResolve({ filter: /^koffi$/ }, () => ({ path: join(CNI_SRC, 'build/koffi-native.ts') }));
  },
};

/** core's generated netlink bindings (constants, struct layouts, name tables). */
const GENERATED = join(CORE, 'src/netlink/generated');

/** Every `export const` of the generated modules that generated/index.ts re-exports. */
function generatedNames(): string[] {
  const index = readFileSync(join(GENERATED, 'index.ts'), 'utf8');
  const files = [...index.matchAll(/^export \* from '\.\/(\w+)\.js';$/gm)].map((m) => `${m[1]}.ts`);
  const names = files.flatMap((f) => [...readFileSync(join(GENERATED, f), 'utf8').matchAll(/^export const (\w+)/gm)].map((m) => m[1]!));
  if (names.length === 0) throw new CniError(CniCode.Internal, `no generated bindings found through ${GENERATED}/index.ts`);
  return names;
}

/** The places that use the generated bindings as one namespace object, and what replaces each. */
const NAMESPACE_USES: Record<string, [from: string, to: string]> = {
  'core/src/netlink/schema.ts': ["import * as G from './generated/index.js';", "import G from 'netboot:generated';"],
  'core/src/index.ts': ["export * as constants from './netlink/generated/index.js';", "export { default as constants } from 'netboot:generated';"],
};

/**
 * In a CommonJS bundle esbuild stands in for an ES namespace object (`import * as G`, `export * as
 * constants`) with one getter closure per export, all made when the bundle loads: for core's ~1,250
 * generated netlink bindings that was 4–8 ms of every ADD and DEL (marks in the single executable).
 * The two modules that use them as a namespace — core's schema (lookups by kernel name) and core's
 * `constants` export — get one plain frozen object of the same values instead, made when first
 * imported (after the generated modules are initialised). If either line changes, the build fails
 * here rather than silently paying the cost again.
 */
const plainNamespacePlugin: Plugin = {
  name: 'plain-generated-namespace',
  setup(b) {
    b.onResolve({ filter: /^netboot:generated$/ }, () => ({ path: 'generated', namespace: 'netboot' }));
    b.onLoad({ filter: /^generated$/, namespace: 'netboot' }, () => {
      const names = generatedNames();
      const imports = names.map((n, i) => `${n} as g${i}`).join(', ');
      const fields = names.map((n, i) => `${n}: g${i}`).join(', ');
      return {
        contents: `import { ${imports} } from ${JSON.stringify(join(GENERATED, 'index.ts'))};\nexport default Object.freeze({ ${fields} });\n`,
        loader: 'js',
        resolveDir: GENERATED,
      };
    });
    b.onLoad({ filter: /\/core\/src\/(netlink\/schema|index)\.ts$/ }, ({ path }) => {
      const [from, to] = Object.entries(NAMESPACE_USES).find(([k]) => path.endsWith(k))![1];
      const source = readFileSync(path, 'utf8');
      if (!source.includes(from))
        throw new CniError(CniCode.Internal, `${path} no longer has \`${from}\`: update NAMESPACE_USES in ${fileURLToPath(import.meta.url)}`);
      return { contents: source.replace(from, to), loader: 'ts' };
    });
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
    plugins: [koffiPlugin, plainNamespacePlugin],
    define: {
      NETBOOT_KOFFI: JSON.stringify(o.koffi),
      NETBOOT_PLUGIN_LIBRARY: JSON.stringify(o.library ?? false),
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
