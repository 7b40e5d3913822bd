// `netboot cni build`: the plugin as a Node single executable application — the bundle as the SEA's
// main script with its V8 code cache, koffi's native module as the asset `koffi.node` — and the
// bundled-script fallback (`netboot.cjs`, shebang, koffi embedded) for nodes where a SEA cannot run.
// Steps are Node's own: `node --experimental-sea-config`, a copy of this node binary, postject.
import { execFileSync, spawnSync } from 'node:child_process';
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
 * Only functions that ran are in it (the rest compile lazily on every start), so before the cache is
 * taken the child runs the calls a node makes: an ADD and then a DEL of a pod, in a network namespace
 * of its own (`unshare --net`, gone with the child; the pod end is made in that same namespace). That
 * compiles module set-up, the schema and codec, the IPAM store, bridge, veth, addresses, routes, the
 * result and the release, and — with ipMasq on where nft is installed (it creates the table in that
 * namespace) — the masquerade elements over nf_tables netlink. Without the right to make a namespace (not root) it runs one harmless ADD
 * for `lo` in its own namespace instead, refused with 102 before anything changes: set-up and the
 * first link read only.
 */
function writeCodeCache(plugin: string, cache: string, native: string, work: string): void {
  // Each run is the plugin's top level again (same Script, so what it compiled accumulates); the next
  // starts when the previous one's work is done (beforeExit), and every run reads the same config.
  const make = `const { Script } = require('node:vm'); const fs = require('node:fs');
const [plugin, cache, native, runs] = process.argv.slice(1);
const s = new Script(${JSON.stringify(wrapPlugin('@@SOURCE@@'))}.replace('@@SOURCE@@', () => fs.readFileSync(plugin, 'utf8')), { filename: ${JSON.stringify(PLUGIN_FILENAME)} });
const bytes = fs.readFileSync(native);
const sea = { getAsset: () => bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) };
const stdin = fs.readFileSync(0, 'utf8');
const load = (id) => (id === 'node:sea' ? sea : require(id));
const pending = runs.split(',');
const exit = process.exit;
process.exit = () => {}; // the plugin exits when done; here the next run (or the cache) comes first
const next = () => {
  process.env.CNI_COMMAND = pending.shift();
  const module = { exports: {} };
  s.runInThisContext()(load, module, module.exports);
  module.exports.main({ stdin }); // as the executable's entry calls it, after the server declined
};
next();
process.on('beforeExit', () => {
  // A run's work is all promise jobs: setImmediate keeps the loop alive so beforeExit comes again.
  if (pending.length > 0) return void setImmediate(next);
  fs.writeFileSync(cache, s.createCachedData());
  exit(0);
});`;
  const ownNetns = spawnSync('unshare', ['--net', 'true']).status === 0;
  const conf = {
    cniVersion: '1.1.0',
    name: 'netboot-build',
    type: 'netboot',
    ipMasq: ownNetns && spawnSync('nft', ['--version']).status === 0,
    ipam: { type: 'netboot', ranges: [[{ subnet: '192.0.2.0/24' }]], dataDir: join(work, 'data') },
  };
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    CNI_CONTAINERID: 'netboot-build',
    CNI_NETNS: '/proc/self/ns/net',
    CNI_IFNAME: ownNetns ? 'eth0' : 'lo',
    NETBOOT_NATIVE_DIR: join(work, 'native'),
  };
  const child = [process.execPath, '-e', make, plugin, cache, native, ownNetns ? 'ADD,DEL' : 'ADD'];
  const [file, ...args] = ownNetns ? ['unshare', '--net', ...child] : child;
  execFileSync(file!, args, { input: JSON.stringify(conf), stdio: 'pipe', env });
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
    await bundlePlugin({ outfile: plugin, koffi: { kind: 'asset', sha256, size }, minify: true, library: true });
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
