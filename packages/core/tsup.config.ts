import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    testing: 'src/public/testing.ts',
    'testing/pure': 'src/public/testing/pure.ts',
    errors: 'src/public/errors.ts',
    ip: 'src/public/ip.ts',
    ifname: 'src/public/ifname.ts',
    flock: 'src/public/flock.ts',
  },
  format: ['esm'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  tsconfig: '../../tsconfig.base.json',
});
