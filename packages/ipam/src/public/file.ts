// `@netboot/ipam/file`: the host-local-compatible file store and node-local IPAM on it. The one ipam
// entry that loads the FFI (for flock), so the rest of @netboot/ipam stays pure.

// ---- The store: host-local's reservation files, one directory per network.
export {
  type CorruptFileEntry,
  DEFAULT_DATA_DIR,
  type FileEntry,
  FileStore,
  type FileStoreChange,
  StoreNotLockedError,
} from '../store/file.js';

// ---- Node-local pod IPAM on it (a PodIpam).
export { LocalIpam, NodeRangeExhaustedError } from '../local.js';
