// The PodIpam contract against LocalIpam: host-local's files in a temporary directory, flock through the
// FFI. pod-ipam.test.ts runs the same suite against a ClusterIpam node on MemoryKv.
import { withTempDir } from '@netboot/core/testing/pure';
import { LocalIpam } from '../src/local.js';
import { FileStore } from '../src/store/file.js';
import { podIpamContract } from './pod-ipam-contract.js';

podIpamContract('LocalIpam on a FileStore', (shape, fn) =>
  withTempDir(async (dir) => {
    const ranges = shape.dualStack ? [[{ subnet: '10.244.1.0/24' }], [{ subnet: 'fd00:10:244:1::/120' }]] : [[{ subnet: '10.244.1.0/24' }]];
    const local = () => new LocalIpam(new FileStore(dir, 'net'), ranges, { node: 'node-a' });
    await fn({ ipam: local(), node: 'node-a', other: local });
  }, 'nbt-ipam-'),
);
