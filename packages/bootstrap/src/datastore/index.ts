// The datastores the agent can use, behind one interface (types.ts).
export { EtcdDatastore } from './etcd.js';
export { FileDatastore } from './file.js';
export { KubernetesDatastore } from './kubernetes.js';
export type { Datastore, NodeLease, NodeRecord, PeerEvent, PoolState } from './types.js';
