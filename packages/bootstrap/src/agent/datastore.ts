// The configured datastore, opened. Each implementation is imported only when chosen: the Kubernetes
// client alone costs over a second of module loading, which a file- or etcd-backed agent never pays.
import type { Datastore } from '../datastore/index.js';
import type { AgentConfig } from './config.js';

export async function openDatastore(config: AgentConfig): Promise<Datastore> {
  const ds = config.datastore;
  const node = config.nodeName;
  switch (ds.type) {
    case 'file': {
      const { FileDatastore } = await import('../datastore/file.js');
      return new FileDatastore({ node, ...ds });
    }
    case 'etcd': {
      const { EtcdDatastore } = await import('../datastore/etcd.js');
      return new EtcdDatastore({
        node,
        ...ds,
        // The first agent of a cluster creates the pools; natOutgoing here is the pool's flag (the
        // agent's own setting decides its masquerade).
        pools: config.clusterCIDRs.map((cidr, i) => ({ name: i === 0 ? 'default' : `default-${i}`, cidr, natOutgoing: config.natOutgoing })),
      });
    }
    case 'kubernetes': {
      const { KubernetesDatastore } = await import('../datastore/kubernetes.js');
      return new KubernetesDatastore({ node, ...ds });
    }
  }
}
