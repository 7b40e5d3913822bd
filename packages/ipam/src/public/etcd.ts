// `@netboot/ipam/etcd`: the etcd-backed KvStore, kept off the main entry point because the etcd
// client (gRPC, protobuf) costs tens of milliseconds to load — too much for every CNI invocation,
// which only needs the node-local file store.
export { EtcdKv, type EtcdKvOptions, EtcdRequestError, openEtcdKv } from '../store/etcd.js';
