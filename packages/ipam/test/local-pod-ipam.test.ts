// The PodIpam contract against LocalIpam: host-local's files in a temporary directory, flock through the
// FFI. pod-ipam.test.ts runs the same suite against a ClusterIpam node on MemoryKv.
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withTempDir } from '@netboot/core/testing/pure';
import { LocalIpam } from '../src/local.js';
import { FileStore } from '../src/store/file.js';
import { podIpamContract } from './pod-ipam-contract.js';

podIpamContract('LocalIpam on a FileStore', (shape, fn) =>
  withTempDir(async (dir) => {
    const ranges = (n: number) =>
      shape.dualStack ? [[{ subnet: `10.244.${n}.0/24` }], [{ subnet: `fd00:10:244:${n}::/120` }]] : [[{ subnet: `10.244.${n}.0/24` }]];
    const local = () => new LocalIpam(new FileStore(join(dir, 'a'), 'net'), ranges(1), { node: 'node-a' });
    await fn({
      ipam: local(),
      node: 'node-a',
      other: local,
      // Another node keeps its files on its own disk, with a range of its own.
      elsewhere: () => new LocalIpam(new FileStore(join(dir, 'b'), 'net'), ranges(2), { node: 'node-b' }),
      corrupt: async (ip) => {
        // A new file renamed over the old one, as an editor would: the directory's stamp moves.
        const file = join(dir, 'a', 'net', ip);
        writeFileSync(`${file}.tmp`, 'not/an-id');
        renameSync(`${file}.tmp`, file);
      },
    });
  }, 'nbt-ipam-'),
);
