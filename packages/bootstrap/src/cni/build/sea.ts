// `netboot cni build`: the plugin as a Node single executable application — the bundle as the SEA's
// main script with its V8 code cache, koffi's native module as the asset `koffi.node` — and the
// bundled-script fallback (`netboot.cjs`, shebang, koffi embedded) for nodes where a SEA cannot run.
// Steps are Node's own: `node --experimental-sea-config`, a copy of this node binary, postject.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CniCode, CniError } from '../errors.js';
import { bundlePlugin, koffiNativePath, sha256File } from './bundle.js';
import { PLUGIN_FILENAME, wrapPlugin } from './plugin-asset.js';

/** Node's sentinel for SEA blobs (fixed by Node, printed in its SEA docs). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

export interface BuildOptions {
  /** Output directory; gets `netboot` (the executable) and `netboot.cjs` (the fallback). */
  out: string;
  /** Skip the single executable (only the script), e.g. where postject cannot run. */
  scriptOnly?: boolean;
}

export interface BuildOutput {
  executable: string | undefined;
  script: string;
}

/**
 * V8's code cache for the plugin asset, made by this node binary (the executable's own) with default
 * flags in a child process: a cache made under other flags (tsx's loader here) would be rejected.
 * Before the cache is taken the plugin is run once, harmlessly — an ADD for `lo` in the child's own
 * namespace, refused (102, the interface exists) before anything is reserved or created — so the
 * functions every call runs (module set-up, the netlink schema and codec, the first link read) are
 * compiled and land in the cache instead of being compiled on every start.
 */
function writeCodeCache(plugin: string, cache: string, native: string, work: string): void {
  const make = `const { Script } = require('node:vm'); const fs = require('node:fs');
const [plugin, cache, native] = process.argv.slice(1);
const s = new Script(${JSON.stringify(wrapPlugin('@@SOURCE@@'))}.replace('@@SOURCE@@', () => fs.readFileSync(plugin, 'utf8')), { filename: ${JSON.stringify(PLUGIN_FILENAME)} });
const bytes = fs.readFileSync(native);
const sea = { getAsset: () => bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) };
const module = { exports: {} };
s.runInThisContext()((id) => (id === 'node:sea' ? sea : require(id)), module, module.exports);
process.on('beforeExit', () => { fs.writeFileSync(cache, s.createCachedData()); process.exit(0); });`;
  const conf = {
    cniVersion: '1.1.0',
    name: 'netboot-build',
    type: 'netboot',
    ipam: { type: 'netboot', ranges: [[{ subnet: '192.0.2.0/24' }]], dataDir: join(work, 'data') },
  };
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    CNI_COMMAND: 'ADD',
    CNI_CONTAINERID: 'netboot-build',
    CNI_NETNS: '/proc/self/ns/net',
    CNI_IFNAME: 'lo',
    NETBOOT_NATIVE_DIR: join(work, 'native'),
  };
  execFileSync(process.execPath, ['-e', make, plugin, cache, native], { input: JSON.stringify(conf), stdio: 'pipe', env });
}

export async function buildCni(o: BuildOptions): Promise<BuildOutput> {
  const out = resolve(o.out);
  mkdirSync(out, { recursive: true });
  const native = koffiNativePath();
  const sha256 = sha256File(native);
  const size = statSync(native).size;

  const script = join(out, 'netboot.cjs');
  await bundlePlugin({ outfile: script, koffi: { kind: 'embedded', sha256, size }, shebang: '#!/usr/bin/env node', minify: true });
  chmodSync(script, 0o755);
  if (o.scriptOnly) return { executable: undefined, script };

  const work = join(out, '.sea');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work);
  try {
    const plugin = join(work, 'plugin.cjs');
    await bundlePlugin({ outfile: plugin, koffi: { kind: 'asset', sha256, size }, minify: true });
    // sea-entry.ts reads the bundle as latin1, which is only right for ASCII.
    if (readFileSync(plugin).some((byte) => byte > 0x7f)) throw new CniError(CniCode.Internal, `${plugin} is not ASCII: sea-entry.ts cannot read it as latin1`);
    const cache = join(work, 'plugin.cache');
    writeCodeCache(plugin, cache, native, work);
    const main = join(work, 'main.cjs');
    await bundlePlugin({ outfile: main, koffi: { kind: 'asset', sha256, size }, minify: true, entry: 'sea' });
    const blob = join(work, 'sea.blob');
    const assets = { 'koffi.node': native, 'plugin.cjs': plugin, 'plugin.cache': cache };
    const config = { main, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true, assets };
    writeFileSync(join(work, 'sea-config.json'), JSON.stringify(config));
    execFileSync(process.execPath, ['--experimental-sea-config', join(work, 'sea-config.json')], { stdio: 'pipe' });
    const staged = join(work, 'netboot');
    copyFileSync(process.execPath, staged);
    chmodSync(staged, 0o755);
    const { inject } = await import('postject');
    await inject(staged, 'NODE_SEA_BLOB', readFileSync(blob), { sentinelFuse: SEA_FUSE });
    const executable = join(out, 'netboot');
    renameSync(staged, executable);
    return { executable, script };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
