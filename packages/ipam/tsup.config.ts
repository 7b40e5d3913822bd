import { packageBuild } from '../../tsup.base.ts';

export default packageBuild({
  entry: { index: 'src/index.ts', etcd: 'src/public/etcd.ts', file: 'src/public/file.ts' },
});
