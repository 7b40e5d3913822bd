// The PodIpam contract's fixture for a ClusterIpam node, on any KvStore (MemoryKv in pod-ipam.test.ts,
// etcd in etcd.test.ts): one IPv4 pool, and an IPv6 one with node families [4, 6] for dual-stack.
import { Cidr } from '../src/cidr.js';
import { ClusterIpam } from '../src/cluster.js';
import { IpamKeys } from '../src/keys.js';
import type { KvStore } from '../src/store/kv.js';
import type { PodIpamFixture } from './pod-ipam-contract.js';

/** `kv` for the fixture's own PodIpam, `second` (another client of the same store, or `kv`) for `other()`. */
export async function clusterPodIpam(kv: KvStore, second: KvStore, shape: { dualStack?: boolean }): Promise<PodIpamFixture> {
  await new ClusterIpam(kv).createPool({ name: 'pods', cidr: '10.244.0.0/16' });
  if (shape.dualStack) await new ClusterIpam(kv).createPool({ name: 'pods6', cidr: 'fd00:10:244::/56', blockSize: 120 });
  const opts = shape.dualStack ? { families: [4, 6] as const } : {};
  return {
    ipam: new ClusterIpam(kv).forNode('node-a', opts),
    node: 'node-a',
    other: () => new ClusterIpam(second).forNode('node-a', opts),
    elsewhere: () => new ClusterIpam(kv).forNode('node-b', opts),
    corrupt: async (ip) => {
      const keys = new IpamKeys();
      const [block] = (await kv.list(keys.blocks)).filter((e) => Cidr.parse(keys.parseBlock(e.key)!).contains(ip));
      await kv.commit([{ op: 'put', key: block!.key, value: '{not json' }]);
    },
  };
}
