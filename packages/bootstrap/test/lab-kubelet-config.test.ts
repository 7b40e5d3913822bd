// A kubelet lab's pure pieces, without root: containerd's and kubelet's configs for a node, the check
// Deployment, and how a rollout is judged leak-free.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { containerdConfig } from '../src/lab/kubelet/containerd.js';
import { kubeletArgs, kubeletConfig } from '../src/lab/kubelet/kubelet.js';
import { cgroupRootOf, runtimeLayout } from '../src/lab/kubelet/layout.js';
import { deploymentManifest, leaks, type NodeHoldings } from '../src/lab/kubelet/workload.js';

const l = runtimeLayout('/run/netboot-lab/t/node1');

test('every path of a node lives under its node dir', () => {
  for (const [key, path] of Object.entries(l)) assert.ok(path.startsWith('/run/netboot-lab/t/node1/'), `${key}: ${path}`);
  assert.is(cgroupRootOf('t', 'node1'), '/netboot-lab-t-node1');
});

test("containerd's config: own root/state/socket, the settings these machines need, the node's CNI", () => {
  const toml = containerdConfig(l, { sandboxImage: 'docker.io/netboot/pause:1' });
  for (const line of [
    'version = 2',
    `root = "${l.containerdRoot}"`,
    `state = "${l.containerdState}"`,
    `  address = "${l.socket}"`,
    '  sandbox_image = "docker.io/netboot/pause:1"',
    '  netns_mounts_under_state_dir = true',
    '  restrict_oom_score_adj = true',
    '  disable_apparmor = true',
    '  SystemdCgroup = false',
    `  Root = "${l.runcRoot}"`,
    `  bin_dir = "${l.cniBin}"`,
    `  conf_dir = "${l.cniConf}"`,
    '  max_conf_num = 1',
  ])
    assert.ok(toml.split('\n').includes(line), `missing: ${line}`);
});

test("kubelet's config and flags", () => {
  const s = { name: 'node1', ip: '192.168.1.11', cgroupRoot: '/netboot-lab-t-node1', clientCA: '/x/ca.crt', clusterDNS: '10.96.0.10' };
  const c = JSON.parse(kubeletConfig(s, l));
  assert.is(c.kind, 'KubeletConfiguration');
  assert.is(c.failCgroupV1, false);
  assert.is(c.cgroupDriver, 'cgroupfs');
  assert.is(c.cgroupRoot, s.cgroupRoot);
  assert.is(c.containerRuntimeEndpoint, `unix://${l.socket}`);
  assert.is(c.authentication.anonymous.enabled, false);
  assert.is(c.authentication.x509.clientCAFile, '/x/ca.crt');
  const args = kubeletArgs(s, l);
  assert.ok(args.includes('--hostname-override=node1'));
  assert.ok(args.includes('--node-ip=192.168.1.11'));
  assert.ok(args.includes(`--kubeconfig=${l.kubeconfig}`));
  assert.ok(args.includes(`--cert-dir=${l.certDir}`));
});

test('the check Deployment: local image never pulled, spread over hostnames, Ready by HTTP', () => {
  const d = JSON.parse(deploymentManifest(12));
  assert.is(d.spec.replicas, 12);
  const pod = d.spec.template.spec;
  assert.is(pod.containers[0].imagePullPolicy, 'Never');
  assert.is(pod.containers[0].image, 'docker.io/netboot/busybox-http:1');
  assert.is(pod.topologySpreadConstraints[0].topologyKey, 'kubernetes.io/hostname');
  assert.is(pod.topologySpreadConstraints[0].maxSkew, 1);
  assert.is(pod.containers[0].readinessProbe.httpGet.port, 8080);
});

test('leaks: extra IPs or veths for the pods a node runs, or changed nft elements', () => {
  const node = (o: Partial<NodeHoldings>): NodeHoldings => ({
    node: 'node1',
    pods: 2,
    ips: ['10.244.1.2', '10.244.1.3'],
    veths: ['a', 'b'],
    nftElements: 3,
    ...o,
  });
  assert.equal(leaks([node({})], [node({})]), []);
  assert.equal(leaks([node({})], [node({ ips: ['10.244.1.2', '10.244.1.3', '10.244.1.4'] })]), [
    'node1: 3 IPs allocated for 2 pods (10.244.1.2, 10.244.1.3, 10.244.1.4)',
  ]);
  assert.equal(leaks([node({})], [node({ veths: ['a', 'b', 'c'] })]), ['node1: 3 veths for 2 pods (a, b, c)']);
  assert.equal(leaks([node({})], [node({ nftElements: 5 })]), ['node1: nft set elements 3 → 5']);
});

test.run();
