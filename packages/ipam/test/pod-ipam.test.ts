// The PodIpam contract against a node of a ClusterIpam on MemoryKv: pure, no FFI, runs wherever Node does.
// local-pod-ipam.test.ts runs it against LocalIpam on files, etcd.test.ts against a ClusterIpam node on etcd.
import { MemoryKv } from '../src/store/memory.js';
import { clusterPodIpam } from './cluster-pod-ipam.js';
import { podIpamContract } from './pod-ipam-contract.js';

podIpamContract('ClusterIpam.forNode on MemoryKv', async (shape, fn) => {
  const kv = new MemoryKv();
  try {
    await fn(await clusterPodIpam(kv, kv, shape));
  } finally {
    await kv.close();
  }
});
