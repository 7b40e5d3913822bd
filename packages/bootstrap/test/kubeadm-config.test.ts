// The kubeadm ClusterConfiguration netboot writes, and how it merges into a user's own config: pure
// (text in, text out). kubeadm-real.test.ts has the real kubeadm judge the same outputs.
import { throwsA } from '@netboot/core/testing/pure';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Document, parse, parseAllDocuments } from 'yaml';
import { InitOptionError, KubeadmConfigConflictError } from '../src/init/errors.js';
import { plan } from '../src/init/plan.js';
import { controllerManagerArgs } from '../src/kubeadm/config.js';
import { USER_CONFIG } from './kubeadm-fixtures.js';

type Cluster = { networking: Record<string, string>; controllerManager: { extraArgs: unknown } };
const cluster = (o: Parameters<typeof plan>[0]) => plan(o).kubeadm!.object as unknown as Cluster;

test('single-stack v1beta4: podSubnet, serviceSubnet and the controller manager flags as a {name, value} list', () => {
  const c = cluster({ podCIDRs: ['10.244.0.0/16'] });
  assert.equal(c.networking, { podSubnet: '10.244.0.0/16', serviceSubnet: '10.96.0.0/12' });
  assert.equal(c.controllerManager.extraArgs, [
    { name: 'allocate-node-cidrs', value: 'true' },
    { name: 'cluster-cidr', value: '10.244.0.0/16' },
    { name: 'node-cidr-mask-size', value: '24' },
  ]);
  const p = plan({ podCIDRs: ['10.244.0.0/16'] });
  assert.match(p.kubeadm!.yaml, /^apiVersion: kubeadm\.k8s\.io\/v1beta4\nkind: ClusterConfiguration\n/);
  // Values kubeadm reads as strings stay strings in YAML ("true", "24"), not a bool and an int.
  assert.match(p.kubeadm!.yaml, /value: "true"/);
  assert.match(p.kubeadm!.yaml, /value: "24"/);
});

test('dual-stack: both families comma-joined, IPv4 first, and the per-family mask flags', () => {
  const c = cluster({ podCIDRs: ['fd00:10:244::/56', '10.244.0.0/16'], serviceCIDRs: ['10.96.0.0/12,fd00:10:96::/112'], nodeMask: { ipv6: 80 } });
  assert.equal(c.networking, { podSubnet: '10.244.0.0/16,fd00:10:244::/56', serviceSubnet: '10.96.0.0/12,fd00:10:96::/112' });
  assert.equal(c.controllerManager.extraArgs, [
    { name: 'allocate-node-cidrs', value: 'true' },
    { name: 'cluster-cidr', value: '10.244.0.0/16,fd00:10:244::/56' },
    { name: 'node-cidr-mask-size-ipv4', value: '24' },
    { name: 'node-cidr-mask-size-ipv6', value: '80' },
  ]);
});

test('IPv6-only: the plain mask flag and an IPv6 service CIDR by default', () => {
  const c = cluster({ podCIDRs: ['fd00:10:244::/56'] });
  assert.is(c.networking.serviceSubnet, 'fd00:10:96::/112');
  assert.equal(controllerManagerArgs({ podCIDRs: ['fd00:10:244::/56'], nodeMask: { ipv6: 64 } }).at(-1), ['node-cidr-mask-size', '64']);
});

test('v1beta3 on request: extraArgs is a map', () => {
  const p = plan({ podCIDRs: ['10.244.0.0/16'], kubeadmApi: 'v1beta3' });
  assert.is(p.kubeadm!.api, 'v1beta3');
  assert.is((p.kubeadm!.object as { apiVersion: string }).apiVersion, 'kubeadm.k8s.io/v1beta3');
  assert.equal((p.kubeadm!.object as unknown as Cluster).controllerManager.extraArgs, {
    'allocate-node-cidrs': 'true',
    'cluster-cidr': '10.244.0.0/16',
    'node-cidr-mask-size': '24',
  });
});

test("a user's config: every other document, field, flag and comment is kept; netboot's flags replace theirs in place", () => {
  const p = plan({ podCIDRs: ['10.244.0.0/16'], kubeadmConfig: { text: USER_CONFIG, path: 'mine.yaml' } });
  const yaml = p.kubeadm!.yaml;
  const docs = parseAllDocuments(yaml) as Document.Parsed[];
  assert.equal(
    docs.map((d) => d.get('kind')),
    ['InitConfiguration', 'ClusterConfiguration', 'KubeletConfiguration'],
  );
  for (const comment of ['# my cluster', '# keep: the API server', '# who runs the kubelet', '# mine']) assert.ok(yaml.includes(comment), `${comment} kept`);
  const c = docs[1]!.toJS() as Cluster & { clusterName: string; apiServer: unknown };
  assert.is(c.clusterName, 'prod');
  assert.equal(c.apiServer, { certSANs: ['api.example.com'] });
  assert.equal(c.controllerManager.extraArgs, [
    { name: 'bind-address', value: '0.0.0.0' },
    { name: 'node-cidr-mask-size', value: '24' },
    { name: 'allocate-node-cidrs', value: 'true' },
    { name: 'cluster-cidr', value: '10.244.0.0/16' },
  ]);
  assert.equal(c.networking, { dnsDomain: 'cluster.local', podSubnet: '10.244.0.0/16', serviceSubnet: '10.96.0.0/12' });
  assert.is((docs[2]!.toJS() as { cgroupDriver: string }).cgroupDriver, 'systemd');
});

test("without --pod-cidr the user's podSubnet and mask are the network; agreeing flags are fine", () => {
  const text = USER_CONFIG.replace('dnsDomain: cluster.local', 'dnsDomain: cluster.local\n  podSubnet: 192.168.0.0/16');
  const p = plan({ kubeadmConfig: { text, path: 'mine.yaml' } });
  assert.equal(p.settings.podCIDRs, ['192.168.0.0/16']);
  assert.equal(p.settings.nodeMask, { ipv4: 24 });
  assert.equal(plan({ podCIDRs: ['192.168.0.0/16'], nodeMask: { ipv4: 24 }, kubeadmConfig: { text, path: 'mine.yaml' } }).settings.podCIDRs, [
    '192.168.0.0/16',
  ]);
});

test('a flag that disagrees with the user config is refused, naming both (the flannel mismatch)', () => {
  const text = USER_CONFIG.replace('dnsDomain: cluster.local', 'dnsDomain: cluster.local\n  podSubnet: 192.168.0.0/16');
  const err = throwsA(() => plan({ podCIDRs: ['10.244.0.0/16'], kubeadmConfig: { text, path: 'mine.yaml' } }), KubeadmConfigConflictError);
  assert.match(err.message, /--pod-cidr says the pod CIDR is 10\.244\.0\.0\/16 but mine\.yaml networking\.podSubnet says 192\.168\.0\.0\/16/);
  throwsA(
    () => plan({ nodeMask: { ipv4: 26 }, kubeadmConfig: { text, path: 'mine.yaml' } }),
    KubeadmConfigConflictError,
    /--node-mask says \/26 but mine\.yaml says/,
  );
  const off = USER_CONFIG.replace('value: "24"', 'value: "24"\n    - name: allocate-node-cidrs\n      value: "false"');
  throwsA(() => plan({ kubeadmConfig: { text: off, path: 'mine.yaml' } }), KubeadmConfigConflictError, /allocate-node-cidrs "false"/);
});

test("the user's API version is kept; asking for another, mixing two, or an old one is refused", () => {
  const v3 = USER_CONFIG.replaceAll('v1beta4', 'v1beta3').replace(/extraArgs:\n(.|\n)*?\n(?=\S)/, 'extraArgs:\n    bind-address: 0.0.0.0\n');
  const p = plan({ kubeadmConfig: { text: v3, path: 'v3.yaml' } });
  assert.is(p.kubeadm!.api, 'v1beta3');
  assert.equal(parse(p.kubeadm!.yaml.split('---\n')[1]!).controllerManager.extraArgs, {
    'bind-address': '0.0.0.0',
    'allocate-node-cidrs': 'true',
    'cluster-cidr': '10.244.0.0/16',
    'node-cidr-mask-size': '24',
  });
  throwsA(
    () => plan({ kubeadmApi: 'v1beta4', kubeadmConfig: { text: v3, path: 'v3.yaml' } }),
    KubeadmConfigConflictError,
    /v3\.yaml is kubeadm\.k8s\.io\/v1beta3/,
  );
  const mixed = USER_CONFIG.replace('kubeadm.k8s.io/v1beta4', 'kubeadm.k8s.io/v1beta3');
  throwsA(() => plan({ kubeadmConfig: { text: mixed, path: 'm.yaml' } }), InitOptionError, /mixes kubeadm API versions/);
  throwsA(() => plan({ kubeadmConfig: { text: USER_CONFIG.replaceAll('v1beta4', 'v1beta2'), path: 'o.yaml' } }), InitOptionError, /kubeadm config migrate/);
});

test('a file that is not YAML and masks that are not are InitOptionErrors; CIDRs that are not fail preflight', () => {
  throwsA(() => plan({ kubeadmConfig: { text: 'a: [1, 2\n', path: 'bad.yaml' } }), InitOptionError, /bad\.yaml: not valid YAML/);
  const cidrFailure = (p: ReturnType<typeof plan>) => p.preflight.find((c) => c.id === 'cidr-valid' && c.status === 'fail')?.message;
  assert.match(cidrFailure(plan({ podCIDRs: ['10.244.1.0/16'] })) ?? '', /--pod-cidr 10\.244\.1\.0\/16 .*host bits/);
  assert.match(cidrFailure(plan({ podCIDRs: ['10.244.0.0/16', '10.245.0.0/16'] })) ?? '', /one CIDR per IP family/);
  throwsA(() => plan({ nodeMask: { ipv4: 33 } }), InitOptionError, /--node-mask \(IPv4\) 33/);
  throwsA(() => plan({ datastore: 'etcd' }), InitOptionError, /--etcd-endpoint/);
});

test('a ClusterConfiguration is appended to a user file that has none, behind its own ---', () => {
  const init = 'apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n';
  const yaml = plan({ kubeadmConfig: { text: init, path: 'i.yaml' } }).kubeadm!.yaml;
  assert.match(
    yaml,
    /^apiVersion: kubeadm\.k8s\.io\/v1beta4\nkind: InitConfiguration\n---\napiVersion: kubeadm\.k8s\.io\/v1beta4\nkind: ClusterConfiguration\n/,
  );
});

test.run();
