// The configured datastore, opened. Each implementation is imported only when chosen: the Kubernetes
// client alone costs over a second of module loading, which a file- or etcd-backed agent never pays.
import type { IpPoolSpec } from '@netboot/ipam';
import type { Datastore } from '../datastore/index.js';
import type { AgentConfig } from './config.js';

/** The configured pools: `pools`, else one per cluster CIDR with the agent's natOutgoing. */
export function configuredPools(config: AgentConfig): { cidr: string; natOutgoing: boolean }[] {
  return config.pools ?? config.clusterCIDRs.map((cidr) => ({ cidr, natOutgoing: config.natOutgoing }));
}

/** The configured pools as ClusterIpam creates them (etcd, or Kubernetes with clusterIpam): `default`, `default-1`… */
function poolSpecs(config: AgentConfig): IpPoolSpec[] {
  return configuredPools(config).map((p, i) => ({ name: i === 0 ? 'default' : `default-${i}`, ...p }));
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
        pools: poolSpecs(config),
      });
    }
    case 'kubernetes': {
      const { KubernetesDatastore } = await import('../datastore/kubernetes.js');
      const { clusterIpam, ...rest } = ds;
      return new KubernetesDatastore({ node, ...rest, ...(clusterIpam === true && { clusterIpam: { pools: poolSpecs(config) } }) });
    }
  }
}
