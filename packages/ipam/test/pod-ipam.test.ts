// The PodIpam contract against a node of a ClusterIpam on MemoryKv: pure, no FFI, runs wherever Node does.
// local-pod-ipam.test.ts runs it against LocalIpam on files, etcd.test.ts against a ClusterIpam node on etcd.
import { ClusterIpam } from '../src/cluster.js';
import { MemoryKv } from '../src/store/memory.js';
import { podIpamContract } from './pod-ipam-contract.js';

podIpamContract('ClusterIpam.forNode on MemoryKv', async (shape, fn) => {
  const kv = new MemoryKv();
  try {
    await new ClusterIpam(kv).createPool({ name: 'pods', cidr: '10.244.0.0/16' });
    if (shape.dualStack) await new ClusterIpam(kv).createPool({ name: 'pods6', cidr: 'fd00:10:244::/56', blockSize: 120 });
    const node = () => new ClusterIpam(kv).forNode('node-a', shape.dualStack ? { families: [4, 6] } : {});
    await fn({ ipam: node(), node: 'node-a', other: node });
  } finally {
    await kv.close();
  }
});
