// init and join against a real API server (src/testing/control-plane.ts): the manifests applied with
// kubectl when a kubeconfig works (and unchanged the second time, deleted by reset), and join reading the
// cluster's settings from the kubeadm-config ConfigMap that real `kubeadm init phase upload-config`
// writes and from init's netboot-config. Without the Kubernetes binaries this file skips with the
// command that builds them, except in CI, where it fails. The join case runs first: its objects are the
// ones init's case then updates and reset deletes (this control plane runs no namespace controller, so a
// deleted namespace stays Terminating). Its controller manager runs with the node IPAM flags real `kubeadm
// init --dry-run` renders from a dual-stack plan with non-default masks, and gives Nodes pod CIDRs inside its pools.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { skipIf, throwsA, withTempDir } from '@netboot/core/testing/pure';
import { Cidr } from '@netboot/ipam';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { apply } from '../src/init/apply.js';
import { readClusterSettings, withClusterSettings } from '../src/init/cluster.js';
import { KubeadmConfigConflictError } from '../src/init/errors.js';
import { gatherFacts } from '../src/init/facts.js';
import { plan } from '../src/init/plan.js';
import { formatChecks } from '../src/init/preflight.js';
import { reset } from '../src/init/reset.js';
import { type ControlPlane, kubeadmDryRunFlags, kubernetesBin, missingKubernetes, startControlPlane } from '../src/testing/control-plane.js';
import { goodFacts } from './init-fixtures.js';

const missing = process.env.CI === 'true' ? undefined : missingKubernetes();
const k8s = skipIf(test, missing);
// A dual-stack cluster with non-default node masks. The control plane's controller manager runs with the
// node IPAM flags real `kubeadm init --dry-run` renders from this plan's kubeadm config.
const NETWORK_OPTIONS = {
  podCIDRs: ['10.244.0.0/16', 'fd00:10:244::/56'],
  serviceCIDRs: ['10.96.0.0/12', 'fd00:10:96::/112'],
  nodeMask: { ipv4: 26, ipv6: 64 },
};
const NETWORK = plan(NETWORK_OPTIONS).settings;
const IPAM_FLAGS = /^--(allocate-node-cidrs|cluster-cidr|node-cidr-mask-size(-ipv4|-ipv6)?|service-cluster-ip-range)=/;
let cp: ControlPlane | undefined;
let kcmFlags: string[] = [];
k8s.before(async () => {
  const kubeadm = join(kubernetesBin()!, 'kubeadm');
  const version = execFileSync(kubeadm, ['version', '-o', 'short'], { encoding: 'utf8' }).trim();
  const p = plan({
    ...NETWORK_OPTIONS,
    kubeadmConfig: { text: `apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: ${version}\n`, path: 'user.yaml' },
  });
  kcmFlags = kubeadmDryRunFlags(p.kubeadm!.yaml).filter((f) => IPAM_FLAGS.test(f));
  cp = await startControlPlane({
    podCIDR: NETWORK.podCIDRs.join(','),
    serviceCIDR: NETWORK.serviceCIDRs.join(','),
    nodeMaskSize: NETWORK.nodeMask.ipv4!,
    controllerManagerFlags: kcmFlags,
  });
});
k8s.after(async () => {
  await cp?.stop();
});

k8s("join reads the cluster's settings: kubeadm's uploaded ClusterConfiguration and init's netboot-config", async () => {
  const c = cp!;
  const kubectl = join(c.bin, 'kubectl');
  await withTempDir(async (dir) => {
    const version = execFileSync(join(c.bin, 'kubeadm'), ['version', '-o', 'short'], { encoding: 'utf8' }).trim();
    const init = plan({
      podCIDRs: ['10.200.0.0/16', 'fd00:10:200::/56'],
      nodeMask: { ipv4: 26 },
      mode: 'cross-subnet',
      kubeadmConfig: { text: `apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: ${version}\n`, path: 'user.yaml' },
    });
    const config = join(dir, 'kubeadm.yaml');
    writeFileSync(config, init.kubeadm!.yaml);
    // The ConfigMap real `kubeadm init` uploads, by kubeadm itself.
    execFileSync(join(c.bin, 'kubeadm'), ['init', 'phase', 'upload-config', 'kubeadm', '--config', config, '--kubeconfig', c.kubeconfig], { stdio: 'pipe' });
    c.kubectl(['apply', '-f', '-'], init.manifests!.yaml);

    const cluster = readClusterSettings(kubectl, c.kubeconfig);
    assert.is(cluster.mode, 'cross-subnet');
    assert.is(cluster.datastore, 'kubernetes');
    const joined = plan(withClusterSettings({}, cluster));
    assert.is(joined.role, 'join');
    assert.equal(joined.settings.podCIDRs, ['10.200.0.0/16', 'fd00:10:200::/56']);
    assert.equal(joined.settings.nodeMask, { ipv4: 26, ipv6: 64 });
    assert.is(joined.settings.mode, 'cross-subnet');
    assert.is(joined.joinCommand, init.joinCommand);
    // A worker told something else than the cluster says is refused, naming both.
    throwsA(
      () => plan(withClusterSettings({ podCIDRs: ['10.244.0.0/16'] }, cluster)),
      KubeadmConfigConflictError,
      /--pod-cidr says .* 10\.244\.0\.0\/16 but the cluster’s kube-system\/kubeadm-config/,
    );
    throwsA(
      () => withClusterSettings({ mode: 'vxlan' }, cluster),
      KubeadmConfigConflictError,
      /--mode vxlan but the cluster's netboot-config says cross-subnet/,
    );
  }, 'nbt-join-');
});

k8s('init applies the manifests with kubectl when the kubeconfig answers; a second run is unchanged; reset deletes them', async () => {
  const c = cp!;
  const kubectl = join(c.bin, 'kubectl');
  await withTempDir(async (root) => {
    const plugin = join(root, 'plugin');
    writeFileSync(plugin, 'stand-in');
    // What gatherFacts sees of this API server, through the real kubectl.
    const seen = gatherFacts({ root, kubeconfig: c.kubeconfig, probeKernel: false });
    assert.equal(seen.kubeconfig, { path: c.kubeconfig, works: true });
    const facts = { ...goodFacts(), programs: { nft: '/usr/sbin/nft', kubectl }, kubeconfig: seen.kubeconfig! };
    const p = plan({ podCIDRs: ['10.244.0.0/16'], mode: 'host-gw', root, cniBinary: plugin, facts });
    assert.ok(p.ok, formatChecks(p.preflight));
    assert.equal(p.manifests!.target, { kind: 'kubectl', kubeconfig: c.kubeconfig, kubectl });
    const first = await apply(p);
    assert.is(first.steps.find((s) => s.step === 'manifests')!.action, 'updated');
    const ds = JSON.parse(c.kubectl(['-n', 'netboot-system', 'get', 'daemonset', 'netboot', '-o', 'json']));
    assert.is(ds.metadata.name, 'netboot');
    const agent = JSON.parse(c.kubectl(['-n', 'netboot-system', 'get', 'configmap', 'netboot-config', '-o', 'jsonpath={.data.agent\\.json}']));
    assert.equal(agent.clusterCIDRs, ['10.244.0.0/16']);
    assert.is(agent.mode, 'host-gw');

    const second = await apply(p);
    const step = second.steps.find((s) => s.step === 'manifests')!;
    assert.is(step.action, 'unchanged', step.detail);
    const dry = await apply(p, { dryRun: true });
    assert.is(dry.steps.find((s) => s.step === 'manifests')!.action, 'unchanged', 'kubectl diff finds nothing');

    const r = reset({ root, kubectl });
    assert.equal(r.left, []);
    assert.ok(r.done.some((l) => l.startsWith('deleted Namespace/netboot-system')));
    const left = execFileSync(kubectl, ['--kubeconfig', c.kubeconfig, 'get', 'clusterrole', 'netboot', '--ignore-not-found', '-o', 'name'], {
      encoding: 'utf8',
    });
    assert.is(left.trim(), '', 'the ClusterRole is gone');
  }, 'nbt-init-kubectl-');
});

k8s('the real controller manager, run with the flags kubeadm renders from the plan, gives Nodes pod CIDRs inside the plan’s pools with its masks', async () => {
  const c = cp!;
  assert.equal([...kcmFlags].sort(), [
    '--allocate-node-cidrs=true',
    '--cluster-cidr=10.244.0.0/16,fd00:10:244::/56',
    '--node-cidr-mask-size-ipv4=26',
    '--node-cidr-mask-size-ipv6=64',
    '--service-cluster-ip-range=10.96.0.0/12,fd00:10:96::/112',
  ]);
  const names = ['nbt-init-node-a', 'nbt-init-node-b'];
  for (const name of names) c.kubectl(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name } }));
  const pools = NETWORK.podCIDRs.map((p) => Cidr.parse(p));
  const masks = [NETWORK.nodeMask.ipv4, NETWORK.nodeMask.ipv6];
  const seen: string[] = [];
  for (const name of names) {
    let podCIDRs: string[] = [];
    for (let i = 0; i < 120 && podCIDRs.length === 0; i++) {
      podCIDRs = JSON.parse(c.kubectl(['get', 'node', name, '-o', 'jsonpath={.spec.podCIDRs}']).trim() || '[]');
      if (podCIDRs.length === 0) await new Promise((r) => setTimeout(r, 250));
    }
    assert.is(podCIDRs.length, 2, `${name}: one pod CIDR per family, got ${JSON.stringify(podCIDRs)}`);
    podCIDRs.forEach((cidr, i) => {
      const got = Cidr.parse(cidr);
      assert.ok(pools[i]!.contains(got), `${name}: ${cidr} inside ${pools[i]}`);
      assert.is(got.prefixLen, masks[i], `${name}: ${cidr} is a /${masks[i]}`);
    });
    seen.push(...podCIDRs);
  }
  assert.is(new Set(seen).size, seen.length, `no two Nodes share a pod CIDR: ${seen.join(' ')}`);
  c.kubectl(['delete', 'node', ...names]);
});

test.run();
