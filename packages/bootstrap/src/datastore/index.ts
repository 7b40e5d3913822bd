// The datastores the agent can use, behind one interface (types.ts).
export { EtcdDatastore, type EtcdDatastoreOptions } from './etcd.js';
export { FileDatastore, type FileDatastoreOptions } from './file.js';
export { ANNOTATIONS, KubernetesDatastore, type KubernetesDatastoreOptions } from './kubernetes.js';
export { type Datastore, DatastoreAbortedError, DatastoreRecordError, type NodeRecord, type PeerEvent } from './types.js';
