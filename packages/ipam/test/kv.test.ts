// The KvStore contract against the in-process MemoryKv (etcd.test.ts runs the same suite against etcd).
import { MemoryKv } from '../src/store/memory.js';
import { kvContract } from './kv-contract.js';

kvContract('MemoryKv', async () => new MemoryKv());
