// The PodIpam contract against LocalIpam (host-local's files in a temporary directory) and a node of a
// ClusterIpam on MemoryKv; etcd.test.ts runs it against a ClusterIpam node on etcd.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClusterIpam } from '../src/cluster.js';
import { LocalIpam } from '../src/local.js';
import { FileStore } from '../src/store/file.js';
import { MemoryKv } from '../src/store/memory.js';
import { podIpamContract } from './pod-ipam-contract.js';

podIpamContract('LocalIpam on a FileStore', async (shape) => {
  const dir = mkdtempSync(join(tmpdir(), 'nbt-ipam-'));
  const ranges = shape?.dualStack ? [[{ subnet: '10.244.1.0/24' }], [{ subnet: 'fd00:10:244:1::/120' }]] : [[{ subnet: '10.244.1.0/24' }]];
  const local = () => new LocalIpam(new FileStore(dir, 'net'), ranges, { node: 'node-a' });
  return { ipam: local(), node: 'node-a', other: local, close: async () => rmSync(dir, { recursive: true, force: true }) };
});

podIpamContract('ClusterIpam.forNode on MemoryKv', async (shape) => {
  const kv = new MemoryKv();
  await new ClusterIpam(kv).createPool({ name: 'pods', cidr: '10.244.0.0/16' });
  if (shape?.dualStack) await new ClusterIpam(kv).createPool({ name: 'pods6', cidr: 'fd00:10:244::/56', blockSize: 120 });
  const node = () => new ClusterIpam(kv).forNode('node-a', shape?.dualStack ? { families: [4, 6] } : {});
  return { ipam: node(), node: 'node-a', other: node, close: () => kv.close() };
});
