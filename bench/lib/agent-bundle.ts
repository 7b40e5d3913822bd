// `netboot agent` as a deployment runs it: one bundled ESM file started by plain `node`, not the sources
// through tsx (whose loader thread and on-the-fly transpiling would add start-up time and RSS to what
// bench/agent.ts compares with flanneld). The workspace packages are bundled from their sources; the
// npm dependencies stay external and resolve through symlinks in the bundle's own node_modules.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');

/** Where `pkg` is installed, as seen from workspace package `from` (`packages/<from>`). */
function packageDir(from: string, pkg: string): string {
  const require = createRequire(join(ROOT, 'packages', from, 'package.json'));
  const main = require.resolve(pkg);
  // Walk up from the resolved entry to the directory named after the package.
  let dir = dirname(main);
  while (!dir.endsWith(`/node_modules/${pkg}`)) {
    if (dir === dirname(dir)) throw new Error(`cannot find ${pkg}'s directory above ${main}`);
    dir = dirname(dir);
  }
  return dir;
}

const EXTERNAL: [pkg: string, from: string][] = [
  ['koffi', 'core'],
  ['etcd3', 'ipam'], // for @netboot/ipam/etcd (netboot pool/ipam on etcd); the agent speaks to etcd over HTTP
  ['@kubernetes/client-node', 'bootstrap'],
];

/** The part of esbuild's API used here (its types live with bootstrap's copy). */
interface EsbuildApi {
  build(options: Record<string, unknown>): Promise<unknown>;
}

export interface AgentBundle {
  /** `node <file> agent …` runs the agent. */
  file: string;
  remove(): void;
}

/** Bundles packages/bootstrap/src/cli/main.ts with esbuild (bootstrap's own copy) into a temp dir. */
export async function bundleAgent(): Promise<AgentBundle> {
  const dir = mkdtempSync(join(tmpdir(), 'nbt-agent-bundle-'));
  try {
    for (const [pkg, from] of EXTERNAL) {
      const link = join(dir, 'node_modules', pkg);
      mkdirSync(dirname(link), { recursive: true });
      symlinkSync(packageDir(from, pkg), link);
    }
    // bootstrap's esbuild (`netboot cni build` uses it), found from there: the bench adds no copy of its own.
    const esbuild = (await import(createRequire(join(ROOT, 'packages/bootstrap/package.json')).resolve('esbuild'))) as EsbuildApi;
    await esbuild.build({
      entryPoints: { netboot: join(ROOT, 'packages/bootstrap/src/cli/main.ts') },
      outdir: dir,
      outExtension: { '.js': '.mjs' },
      // As tsup builds dist/cli.js: each command group's dynamic import stays a chunk of its own.
      splitting: true,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      conditions: ['source'],
      external: [...EXTERNAL.map(([pkg]) => pkg), 'esbuild', 'postject'],
      // CommonJS modules inside the bundle still call require().
      banner: { js: "import { createRequire as __nbtRequire } from 'node:module'; const require = __nbtRequire(import.meta.url);" },
      logLevel: 'error',
    });
    return { file: join(dir, 'netboot.mjs'), remove: () => rmSync(dir, { recursive: true, force: true }) };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
