import { packageBuild } from '../../tsup.base.ts';

export default packageBuild({
  entry: { index: 'src/index.ts', cni: 'src/cni/index.ts', cli: 'src/cli/main.ts' },
  // esbuild and postject are run by `netboot cni build`, not bundled into it.
  external: ['esbuild', 'postject'],
});
