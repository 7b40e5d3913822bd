// EtcdHttpKv (the agent's KvStore on etcd's JSON gateway) against a real etcd: the KvStore contract
// @netboot/ipam runs against MemoryKv, EtcdKv (gRPC) and ConfigMapKv, each test under a prefix of its own.
import { type EtcdFixture, startEtcd } from '@netboot/core/testing';
import { kvContract } from '../../ipam/test/kv-contract.js';
import { EtcdHttp } from '../src/datastore/etcd-http.js';
import { EtcdHttpKv } from '../src/datastore/etcd-kv.js';

let etcd: EtcdFixture | undefined;
let stores = 0;

kvContract(
  'EtcdHttpKv on etcd',
  async () => {
    const client = new EtcdHttp({ endpoints: [etcd!.endpoint] });
    // The store leaves its client to the datastore that made it; here the test owns both.
    return Object.assign(new EtcdHttpKv(client, `/nbt-http-kv-${process.pid}-${stores++}`), { close: async () => client.close() });
  },
  {
    before: async () => {
      etcd = await startEtcd();
    },
    after: async () => {
      await etcd?.stop();
    },
  },
);
