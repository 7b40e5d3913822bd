import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', etcd: 'src/public/etcd.ts', file: 'src/public/file.ts' },
  format: ['esm'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  tsconfig: '../../tsconfig.base.json',
});
