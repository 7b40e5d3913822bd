import { packageBuild } from '../../tsup.base.ts';

export default packageBuild({
  entry: {
    index: 'src/index.ts',
    testing: 'src/public/testing.ts',
    'testing/pure': 'src/public/testing/pure.ts',
    errors: 'src/public/errors.ts',
    ip: 'src/public/ip.ts',
    ifname: 'src/public/ifname.ts',
    flock: 'src/public/flock.ts',
  },
});
