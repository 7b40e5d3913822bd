// The datastores the agent can use, behind one interface (types.ts).
export { Backoff, type BackoffOptions, pause } from './backoff.js';
export { EtcdDatastore, type EtcdDatastoreOptions } from './etcd.js';
export { FileDatastore, type FileDatastoreOptions } from './file.js';
export { ANNOTATIONS, KubernetesDatastore, type KubernetesDatastoreOptions } from './kubernetes.js';
export { type Datastore, DatastoreRecordError, DatastoreUnavailableError, type NodeRecord, type PeerEvent } from './types.js';
