// renderManifests: the objects, what each says (rights, capabilities, probes, tolerations, mounts), the
// YAML that `kubectl apply -f` reads, and bad options refused naming the option. That the API server
// accepts them and that the rights suffice is test/rbac.priv.test.ts, on a real control plane.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseAllDocuments } from 'yaml';
import { InvalidInputError } from '@netboot/core/errors';
import { parseAgentArgs } from '../src/agent/config.js';
import { DEFAULT_IMAGE, renderManifests } from '../src/manifests/index.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
const base = { clusterCIDRs: ['10.244.0.0/16'] };

test('defaults: Namespace, ServiceAccount, ClusterRole(Binding), ValidatingAdmissionPolicy(Binding), ConfigMap, DaemonSet, in apply order', () => {
  const m = renderManifests(base);
  assert.equal(
    m.objects.map((o) => `${o.kind}/${o.metadata?.name}`),
    [
      'Namespace/netboot-system',
      'ServiceAccount/netboot',
      'ClusterRole/netboot',
      'ClusterRoleBinding/netboot',
      'ValidatingAdmissionPolicy/netboot-agent-node',
      'ValidatingAdmissionPolicyBinding/netboot-agent-node',
      'ConfigMap/netboot-config',
      'DaemonSet/netboot',
    ],
  );
  for (const o of [m.serviceAccount, m.configMap, m.daemonSet]) assert.is(o.metadata?.namespace, 'netboot-system', o.kind);
  assert.is(m.namespace.metadata?.labels?.['pod-security.kubernetes.io/enforce'], 'privileged');
  assert.is(DEFAULT_IMAGE, `ghcr.io/netboot/netboot:${pkg.version}`, 'the default image is tagged with package.json’s version');
  assert.is(m.daemonSet.spec?.template.spec?.containers[0]?.image, DEFAULT_IMAGE);
});

test('RBAC: nodes get/list/watch/patch and nothing else, bound to the ServiceAccount', () => {
  const m = renderManifests(base);
  assert.equal(m.clusterRole?.rules, [{ apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch', 'patch'] }]);
  assert.equal(m.clusterRoleBinding?.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'netboot' });
  assert.equal(m.clusterRoleBinding?.subjects, [{ kind: 'ServiceAccount', name: 'netboot', namespace: 'netboot-system' }]);
  assert.is(m.daemonSet.spec?.template.spec?.serviceAccountName, 'netboot');
  assert.is(m.daemonSet.spec?.template.spec?.automountServiceAccountToken, true);
});

test('the node policy: matches the agent’s ServiceAccount only, denies; nodePolicy: false leaves it out', () => {
  const m = renderManifests({ ...base, namespace: 'kube-network' });
  assert.equal(m.nodePolicy?.spec?.matchConditions, [
    { name: 'netboot-agent', expression: "request.userInfo.username == 'system:serviceaccount:kube-network:netboot'" },
  ]);
  assert.is(m.nodePolicy?.spec?.failurePolicy, 'Fail');
  assert.equal(m.nodePolicyBinding?.spec, { policyName: 'netboot-agent-node', validationActions: ['Deny'] });
  const without = renderManifests({ ...base, nodePolicy: false });
  assert.is(without.nodePolicy, undefined);
  assert.not.ok(without.objects.some((o) => o.kind?.startsWith('ValidatingAdmissionPolicy')));
});

test('etcd datastore: no ClusterRole at all and no token mounted (that agent never calls the API server)', () => {
  const m = renderManifests({ ...base, datastore: { type: 'etcd', endpoints: ['http://10.0.0.1:2379'] } });
  assert.is(m.clusterRole, undefined);
  assert.is(m.clusterRoleBinding, undefined);
  assert.is(m.nodePolicy, undefined);
  assert.equal(
    m.objects.map((o) => o.kind),
    ['Namespace', 'ServiceAccount', 'ConfigMap', 'DaemonSet'],
  );
  assert.is(m.daemonSet.spec?.template.spec?.automountServiceAccountToken, false);
  assert.equal(JSON.parse(m.configMap.data!['agent.json']!).datastore, { type: 'etcd', endpoints: ['http://10.0.0.1:2379'] });
});

test('clusterIpam: a Role in kube-system for its one ConfigMap (get/update by name, create), bound to the ServiceAccount; the agent config asks for it', () => {
  const m = renderManifests({ ...base, datastore: { type: 'kubernetes', clusterIpam: true } });
  assert.equal(m.ipamRole?.metadata, { name: 'netboot-ipam', namespace: 'kube-system', labels: m.clusterRole!.metadata!.labels });
  assert.equal(m.ipamRole?.rules, [
    { apiGroups: [''], resources: ['configmaps'], resourceNames: ['netboot-ipam'], verbs: ['get', 'update'] },
    { apiGroups: [''], resources: ['configmaps'], verbs: ['create'] },
  ]);
  assert.equal(m.ipamRoleBinding?.subjects, [{ kind: 'ServiceAccount', name: 'netboot', namespace: 'netboot-system' }]);
  assert.equal(m.ipamRoleBinding?.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'netboot-ipam' });
  assert.equal(JSON.parse(m.configMap.data!['agent.json']!).datastore, { type: 'kubernetes', clusterIpam: true });
  assert.is(renderManifests(base).ipamRole, undefined);
  const kinds = m.objects.map((o) => o.kind);
  assert.ok(kinds.indexOf('RoleBinding') < kinds.indexOf('DaemonSet'));
});

test('DaemonSet: hostNetwork, NET_ADMIN only, probes on the health port, NODE_NAME, control-plane tolerations, mounts', () => {
  const m = renderManifests({ ...base, healthPort: 9199, image: 'registry.example/netboot:dev' });
  const pod = m.daemonSet.spec!.template.spec!;
  const agent = pod.containers[0]!;
  assert.is(pod.hostNetwork, true);
  assert.is(pod.priorityClassName, 'system-node-critical');
  assert.equal(agent.securityContext?.capabilities, { drop: ['ALL'], add: ['NET_ADMIN'] });
  assert.is(agent.securityContext?.privileged, false);
  assert.is(agent.securityContext?.allowPrivilegeEscalation, false);
  assert.equal(agent.livenessProbe?.httpGet, { host: '127.0.0.1', path: '/healthz', port: 9199 });
  assert.equal(agent.readinessProbe?.httpGet, { host: '127.0.0.1', path: '/readyz', port: 9199 });
  assert.equal(agent.env, [{ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }]);
  assert.equal(agent.args, ['--config', '/etc/netboot/agent.json', '--node-name', '$(NODE_NAME)']);
  assert.is(agent.image, 'registry.example/netboot:dev');
  // Tolerating every NoSchedule taint covers node-role.kubernetes.io/control-plane and node.kubernetes.io/not-ready.
  assert.ok(pod.tolerations?.some((t) => t.operator === 'Exists' && t.effect === 'NoSchedule' && t.key === undefined));
  const hostPaths = Object.fromEntries((pod.volumes ?? []).filter((v) => v.hostPath).map((v) => [v.name, v.hostPath!.path]));
  assert.equal(hostPaths, { 'run-netboot': '/run/netboot', 'cni-bin': '/opt/cni/bin', 'cni-conf': '/etc/cni/net.d' });
  assert.equal(
    agent.volumeMounts?.map((v) => v.mountPath),
    ['/run/netboot', '/etc/netboot'],
    'the agent mounts the lease dir and its config only (the CNI dirs are the init container’s)',
  );
  const init = pod.initContainers?.[0];
  assert.equal(init?.command, ['netboot', 'cni', 'install', '--from', '/usr/lib/netboot/cni', '--root', '/host']);
  assert.equal(init?.securityContext?.capabilities, { drop: ['ALL'] });
  const without = renderManifests({ ...base, installCni: false, natOutgoing: false }).daemonSet.spec!.template.spec!;
  assert.is(without.initContainers, undefined);
  assert.equal(
    without.volumes?.map((v) => v.name),
    ['run-netboot', 'config'],
  );
  assert.ok(renderManifests({ ...base, natOutgoing: false }).daemonSet.spec!.template.spec!.initContainers![0]!.command!.includes('--no-masq'));
});

test('ConfigMap: agent.json is what `netboot agent --config` accepts, CIDRs normalized; a changed config changes the pod template', () => {
  const m = renderManifests({ clusterCIDRs: ['10.244.1.7/16', 'FD00:10:244::/56'], mode: 'host-gw', vni: 7, natOutgoing: false });
  const json = JSON.parse(m.configMap.data!['agent.json']!);
  assert.equal(json, {
    clusterCIDRs: ['10.244.0.0/16', 'fd00:10:244::/56'],
    mode: 'host-gw',
    vni: 7,
    natOutgoing: false,
    healthPort: 9099,
    datastore: { type: 'kubernetes' },
  });
  const hash = (o: ReturnType<typeof renderManifests>) => o.daemonSet.spec?.template.metadata?.annotations?.['netboot.io/config-hash'];
  assert.is.not(hash(m), hash(renderManifests(base)));
  assert.is(hash(renderManifests(base)), hash(renderManifests(base)), 'the same config hashes the same (no rollout on a re-apply)');
});

test('the ConfigMap round-trips through the agent’s own parser', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nbt-manifests-'));
  try {
    const file = join(dir, 'agent.json');
    writeFileSync(file, renderManifests({ ...base, mode: 'cross-subnet', vxlanPort: 8472 }).configMap.data!['agent.json']!);
    const c = parseAgentArgs(['--config', file, '--node-name', 'node1']);
    assert.is(c.mode, 'cross-subnet');
    assert.is(c.vxlanPort, 8472);
    assert.equal(c.clusterCIDRs, ['10.244.0.0/16']);
    assert.equal(c.datastore, { type: 'kubernetes' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('YAML: one document per object, parsing back to the same objects', () => {
  const m = renderManifests({ ...base, namespace: 'kube-network' });
  assert.match(m.yaml, /^# netboot /);
  const docs = parseAllDocuments(m.yaml);
  assert.is(docs.length, m.objects.length);
  for (const [i, d] of docs.entries()) {
    assert.equal(d.errors, []);
    assert.equal(d.toJS(), JSON.parse(JSON.stringify(m.objects[i])));
  }
  assert.ok(m.yaml.includes('namespace: kube-network'));
});

test('bad options are refused naming the option', () => {
  const refuses = (o: Parameters<typeof renderManifests>[0], pattern: RegExp) => {
    try {
      renderManifests(o);
    } catch (e) {
      assert.instance(e, InvalidInputError);
      assert.match((e as Error).message, pattern);
      return;
    }
    assert.unreachable(`accepted ${JSON.stringify(o)}`);
  };
  refuses({ clusterCIDRs: ['10.244.0.0/33'] }, /clusterCIDRs has "10.244.0.0\/33", not a CIDR/);
  refuses({ clusterCIDRs: [] }, /clusterCIDRs is empty/);
  refuses({ ...base, mode: 'bgp' as never }, /mode "bgp" is not one of/);
  refuses({ ...base, namespace: 'Netboot' }, /namespace "Netboot" is not a DNS-1123 label/);
  refuses({ ...base, healthPort: 0 }, /healthPort 0 turns off \/healthz/);
  refuses({ ...base, healthPort: 70000 }, /healthPort must be an integer/);
  refuses({ ...base, image: '' }, /image "" is not an image reference/);
  refuses({ ...base, datastore: { type: 'etcd', endpoints: [] } }, /datastore.endpoints must list etcd client URLs/);
});

test.run();
