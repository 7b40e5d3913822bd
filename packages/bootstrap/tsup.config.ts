import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { cni: 'src/cni/index.ts' },
  format: ['esm'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  tsconfig: '../../tsconfig.base.json',
});
