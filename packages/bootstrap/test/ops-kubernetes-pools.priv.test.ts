// `netboot pool …` and cluster `netboot ipam show|check` on the Kubernetes datastore, against a real API
// server and controller manager (src/testing/control-plane.ts): pools kept in ConfigMap
// kube-system/netboot-ipam (where agents run with --cluster-ipam keep them), and a cluster on the
// controller manager's node IPAM, whose `pool list` says so. Skips without the Kubernetes binaries
// (printing the command that builds them), except in CI.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { privileged } from '@netboot/core/testing';
import { type ControlPlane, missingKubernetes, startControlPlane } from '../src/testing/control-plane.js';
import { netboot } from './ops-fixture.js';

const it = privileged(test, () => (process.env.CI === 'true' ? undefined : missingKubernetes()));
let cp: ControlPlane | undefined;
it.after(async () => {
  await cp?.stop();
});

const nodeObject = (name: string) => JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name } });

it('pool list names the node IPAM; pool add|disable|enable|delete and ipam show|check work on the ConfigMap', async () => {
  cp = await startControlPlane({ podCIDR: '10.244.0.0/16' });
  cp.kubectl(['create', '-f', '-'], nodeObject('node1'));
  for (let i = 0; i < 100 && cp.kubectl(['get', 'node', 'node1', '-o', 'jsonpath={.spec.podCIDRs}']).trim() === ''; i++)
    await new Promise((r) => setTimeout(r, 100));
  const k8s = ['--datastore', 'kubernetes', '--kubeconfig', cp.kubeconfig];

  // No ConfigMap: the controller manager's node IPAM hands out the subnets; said plainly, exit 0.
  const before = await netboot('pool', 'list', ...k8s);
  assert.is(before.code, 0, before.stderr);
  assert.match(before.stdout, "kube-controller-manager's node IPAM");
  assert.match(before.stdout, '1 of 1 Node(s) have spec.podCIDRs');
  const beforeJson = await netboot('pool', 'list', ...k8s, '--json');
  assert.equal(beforeJson.json(), []);
  assert.match(beforeJson.stderr, 'does not exist');

  const add = await netboot('pool', 'add', '10.250.0.0/16', '--block-size', '26', ...k8s, '--json');
  assert.is(add.code, 0, add.stderr);
  assert.is(add.json().cidr, '10.250.0.0/16');
  // Independently: the pool is in the ConfigMap the agents read.
  assert.match(cp.kubectl(['-n', 'kube-system', 'get', 'configmap', 'netboot-ipam', '-o', 'jsonpath={.data.kv}']), '10.250.0.0/16');

  const disabled = await netboot('pool', 'disable', '10.250.0.0/16', ...k8s, '--json');
  assert.is(disabled.code, 0, disabled.stderr);
  assert.is(disabled.json().disabled, true);
  const listed = await netboot('pool', 'list', ...k8s, '--json');
  assert.equal(
    listed.json().map((p: { cidr: string; disabled: boolean; blockSize: number }) => [p.cidr, p.disabled, p.blockSize]),
    [['10.250.0.0/16', true, 26]],
  );
  assert.is((await netboot('pool', 'enable', '10.250.0.0/16', ...k8s)).code, 0);

  const show = await netboot('ipam', 'show', ...k8s, '--json');
  assert.is(show.code, 0, show.stderr);
  assert.match(show.json().store, 'ConfigMap kube-system/netboot-ipam on https://');
  assert.match(JSON.stringify(show.json()), '10.250.0.0/16');
  const check = await netboot('ipam', 'check', ...k8s, '--json');
  assert.is(check.code, 0, check.stdout + check.stderr);

  const del = await netboot('pool', 'delete', '10.250.0.0/16', ...k8s);
  assert.is(del.code, 0, del.stderr);
  const after = await netboot('pool', 'list', ...k8s);
  assert.is(after.code, 0);
  assert.match(after.stdout, 'no pools (netboot pool add CIDR)');
  assert.not.match(cp.kubectl(['-n', 'kube-system', 'get', 'configmap', 'netboot-ipam', '-o', 'jsonpath={.data.kv}']), '10.250.0.0/16');

  // A file datastore has no pools to manage: a usage error.
  assert.is((await netboot('pool', 'list', '--nodes-file', '/nonexistent.json')).code, 2);
});

test.run();
