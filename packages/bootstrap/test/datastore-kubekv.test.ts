// ConfigMapKv (@netboot/ipam's KvStore in one ConfigMap) against a real kube-apiserver: the KvStore
// contract @netboot/ipam runs against MemoryKv and EtcdKv, each test on a ConfigMap of its own. Without
// the Kubernetes binaries it skips, printing the build command (in CI it fails).
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { kvContract } from '../../ipam/test/kv-contract.js';
import { ConfigMapKv } from '../src/datastore/kube-kv.js';
import { type ControlPlane, missingKubernetes, startControlPlane } from '../src/testing/control-plane.js';

let cp: ControlPlane | undefined;
let api: CoreV1Api;
let stores = 0;
kvContract('ConfigMapKv on kube-apiserver', async () => new ConfigMapKv(api, { namespace: 'default', name: `nbt-kv-${stores++}` }), {
  skip: process.env.CI === 'true' ? undefined : missingKubernetes(),
  before: async () => {
    cp = await startControlPlane();
    const config = new KubeConfig();
    config.loadFromFile(cp.kubeconfig);
    api = config.makeApiClient(CoreV1Api);
  },
  after: async () => {
    await cp?.stop();
  },
});
