// The Datastore contract on a real Kubernetes API server (kube-apiserver + kube-controller-manager's node
// IPAM on loopback, see src/testing/control-plane.ts), plus what only this datastore does: a watch that
// survives the API server restarting. Without the binaries this file skips, printing the command that
// builds them — except in CI (CI=true), where a missing control plane is a failure.
import { execFileSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { skipIf } from '@netboot/core/testing';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { ClusterIpam } from '@netboot/ipam';
import { KubernetesDatastore } from '../src/datastore/index.js';
import { ConfigMapKv } from '../src/datastore/kube-kv.js';
import { type ControlPlane, missingKubernetes, startControlPlane } from '../src/testing/control-plane.js';
import { datastoreContract, firstLease, LeaseView, PeerView } from './datastore-contract.js';

const missing = process.env.CI === 'true' ? undefined : missingKubernetes();
/** A CoreV1Api on `kubeconfig`, as an operator's tool would make one. */
function coreApi(kubeconfig: string): CoreV1Api {
  const config = new KubeConfig();
  config.loadFromFile(kubeconfig);
  return config.makeApiClient(CoreV1Api);
}
const node = (name: string) => JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name } });

if (missing === undefined) {
  datastoreContract('Kubernetes API', async () => {
    const cp = await startControlPlane();
    return {
      clusterCIDR: '10.244.0.0/16',
      open: async (name) => new KubernetesDatastore({ node: name, kubeconfig: cp.kubeconfig }),
      addNode: async (name) => void cp.kubectl(['create', '-f', '-'], node(name)),
      removeNode: async (name) => void cp.kubectl(['delete', 'node', name]),
      moveNode: async (name) => {
        cp.kubectl(['delete', 'node', name]);
        cp.kubectl(['create', '-f', '-'], node(name));
      },
      close: () => cp.stop(),
    };
  });
}

const k8sTest = skipIf(test, missing);
let cp: ControlPlane | undefined;
k8sTest.after(async () => {
  await cp?.stop();
});

k8sTest(
  'Kubernetes: register creates a missing Node; the watch says it waits while the API server restarts, then resumes from its resourceVersion',
  async () => {
    cp = await startControlPlane();
    const a = new KubernetesDatastore({ node: 'restart-a', kubeconfig: cp.kubeconfig, register: true });
    const b = new KubernetesDatastore({ node: 'restart-b', kubeconfig: cp.kubeconfig, register: true });
    const view = new PeerView(b);
    try {
      const cidrs = (await firstLease(a)).podCIDRs;
      assert.ok(cp.kubectl(['get', 'node', 'restart-a', '-o', 'jsonpath={.spec.podCIDRs}']).includes(cidrs[0]!), 'the lease is the Node spec.podCIDRs');
      await a.publish({ name: 'restart-a', nodeIPs: ['192.168.1.11'], podCIDRs: cidrs });
      await view.until('restart-a', () => view.peers.has('restart-a'));
      await cp.restartApiServer();
      await view.until('a waiting event', () => view.events.some((e) => e.type === 'waiting'), 60_000);
      assert.ok(view.peers.has('restart-a'), 'the peer survives the restart');
      await a.publish({ name: 'restart-a', nodeIPs: ['192.168.1.31'], podCIDRs: cidrs });
      await view.until('the watch resumed', () => view.peers.get('restart-a')?.nodeIPs[0] === '192.168.1.31');
    } finally {
      await view.stop();
      await a.close();
      await b.close();
    }
  },
);

k8sTest('Kubernetes: a watch resuming from a compacted resourceVersion gets 410 Gone and lists again (a sync)', async () => {
  cp ??= await startControlPlane();
  const a = new KubernetesDatastore({ node: 'gone-a', kubeconfig: cp.kubeconfig, register: true });
  const b = new KubernetesDatastore({ node: 'gone-b', kubeconfig: cp.kubeconfig, register: true });
  const view = new PeerView(b);
  try {
    const cidrs = (await firstLease(a)).podCIDRs;
    await a.publish({ name: 'gone-a', nodeIPs: ['192.168.1.11'], podCIDRs: cidrs });
    await view.until('gone-a', () => view.peers.has('gone-a'));
    const syncs = view.events.filter((e) => e.type === 'sync').length;
    // Compact etcd up to now and restart the API server (its watch cache starts afresh): the version
    // the watch resumes from no longer exists.
    const status = JSON.parse(execFileSync('etcdctl', ['--endpoints', cp.etcd.endpoint, 'endpoint', 'status', '-w', 'json'], { encoding: 'utf8' }));
    execFileSync('etcdctl', ['--endpoints', cp.etcd.endpoint, 'compact', String(status[0].Status.header.revision)], { stdio: 'pipe' });
    await cp.restartApiServer();
    await view.until('a new list', () => view.events.filter((e) => e.type === 'sync').length > syncs, 60_000);
    assert.ok(view.peers.has('gone-a'), 'the re-list still holds gone-a');
  } finally {
    await view.stop();
    await a.close();
    await b.close();
  }
});

k8sTest(
  'Kubernetes with clusterIpam: subnets from ClusterIpam pools in a ConfigMap (not spec.podCIDRs), published as an annotation; a pool migration arrives as a new lease',
  async () => {
    cp ??= await startControlPlane();
    const store = { namespace: 'default', name: 'nbt-ipam-test' };
    const clusterIpam = { pools: [{ name: 'default', cidr: '10.250.0.0/16' }], ...store };
    const a = new KubernetesDatastore({ node: 'cipam-a', kubeconfig: cp.kubeconfig, register: true, clusterIpam });
    const b = new KubernetesDatastore({ node: 'cipam-b', kubeconfig: cp.kubeconfig, register: true, clusterIpam });
    const view = new PeerView(b);
    const leases = new LeaseView(a);
    try {
      const first = await leases.until('the first lease');
      assert.match(first.podCIDRs[0]!, /^10\.250\.\d+\.0\/24$/, 'a block of the ClusterIpam pool');
      assert.equal(first.pools, [{ cidr: '10.250.0.0/16', disabled: false, natOutgoing: true }]);
      const other = (await firstLease(b)).podCIDRs;
      assert.is.not(other[0], first.podCIDRs[0], 'another node, another block');
      await a.publish({ name: 'cipam-a', nodeIPs: ['192.168.1.11'], podCIDRs: first.podCIDRs });
      await view.until('cipam-a with its ClusterIpam subnet', () => view.peers.get('cipam-a')?.podCIDRs[0] === first.podCIDRs[0]);
      assert.is(cp.kubectl(['get', 'node', 'cipam-a', '-o', 'jsonpath={.metadata.annotations.netboot\\.io/pod-cidrs}']), first.podCIDRs[0]);
      const blocks = JSON.parse(JSON.parse(cp.kubectl(['get', 'configmap', '-n', 'default', 'nbt-ipam-test', '-o', 'json'])).data.kv).entries;
      assert.ok(
        Object.keys(blocks).some((k) => k.includes('/affinities/cipam-a/')),
        'the affinity is in the ConfigMap',
      );
      // calicoctl create ippool second; calicoctl patch ippool default disabled: through the same store.
      const ipam = new ClusterIpam(new ConfigMapKv(coreApi(cp.kubeconfig), store));
      await ipam.createPool({ name: 'second', cidr: '10.251.0.0/16' });
      await ipam.disablePool('default');
      const moved = await leases.until('a block of the new pool', (l) => l.disabled.length > 0);
      assert.match(moved.podCIDRs[0]!, /^10\.251\.\d+\.0\/24$/);
      assert.equal(moved.disabled, [first.podCIDRs[0]]);
    } finally {
      await leases.stop();
      await view.stop();
      await a.close();
      await b.close();
    }
  },
);

k8sTest.run();
