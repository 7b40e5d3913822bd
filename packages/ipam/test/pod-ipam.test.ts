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

podIpamContract('LocalIpam on a FileStore', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nbt-ipam-'));
  const local = () => new LocalIpam(new FileStore(dir, 'net'), [[{ subnet: '10.244.1.0/24' }]], { node: 'node-a' });
  return { ipam: local(), node: 'node-a', other: local, close: async () => rmSync(dir, { recursive: true, force: true }) };
});

podIpamContract('ClusterIpam.forNode on MemoryKv', async () => {
  const kv = new MemoryKv();
  await new ClusterIpam(kv).createPool({ name: 'pods', cidr: '10.244.0.0/16' });
  return { ipam: new ClusterIpam(kv).forNode('node-a'), node: 'node-a', other: () => new ClusterIpam(kv).forNode('node-a'), close: () => kv.close() };
});
