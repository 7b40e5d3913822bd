import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { cni: 'src/cni/index.ts', cli: 'src/cli/main.ts' },
  // esbuild and postject are run by `netboot cni build`, not bundled into it.
  external: ['esbuild', 'postject'],
  format: ['esm'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  tsconfig: '../../tsconfig.base.json',
});
