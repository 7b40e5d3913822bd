// The build every package shares: ESM with `.d.ts` and source maps for Node 20, from the strict base tsconfig.
// Each package's tsup.config.ts names only its entry points (and anything it adds, like externals).
import { defineConfig, type Options } from 'tsup';

export function packageBuild(options: Options & Required<Pick<Options, 'entry'>>) {
  return defineConfig({
    format: ['esm'],
    dts: true,
    clean: true,
    sourcemap: true,
    target: 'node20',
    tsconfig: '../../tsconfig.base.json',
    ...options,
  });
}
