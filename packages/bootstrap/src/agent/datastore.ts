// The configured datastore, opened. Each implementation is imported only when chosen: the Kubernetes
// client alone costs over a second of module loading, which a file- or etcd-backed agent never pays.
import type { Datastore } from '../datastore/index.js';
import type { AgentConfig } from './config.js';

/** The configured pools: `pools`, else one per cluster CIDR with the agent's natOutgoing. */
export function configuredPools(config: AgentConfig): { cidr: string; natOutgoing: boolean }[] {
  return config.pools ?? config.clusterCIDRs.map((cidr) => ({ cidr, natOutgoing: config.natOutgoing }));
}

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
        // The first agent of a cluster creates the pools; from then on etcd's pools decide (allocation, NAT).
        pools: configuredPools(config).map((p, i) => ({ name: i === 0 ? 'default' : `default-${i}`, ...p })),
      });
    }
    case 'kubernetes': {
      const { KubernetesDatastore } = await import('../datastore/kubernetes.js');
      return new KubernetesDatastore({ node, ...ds });
    }
  }
}
