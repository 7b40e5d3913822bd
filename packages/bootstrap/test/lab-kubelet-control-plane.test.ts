// The kubelet lab's control plane comes from init's plan as real kubeadm renders it: the kubeadm config
// the lab writes is `netboot init`'s plan of the lab's options merged into the lab's own config (release,
// advertise address, external etcd), and the command lines it runs are kubeadm's static pod manifests for
// that config (`kubeadm init phase control-plane all --dry-run`, written only into
// KUBEADM_INIT_DRYRUN_DIR, a temp dir) with only the program and the /etc/kubernetes paths changed
// (labCommand). Without the Kubernetes binaries this file skips with the command that builds them,
// except in CI, where it fails.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { skipIf, withTempDir } from '@netboot/core/testing/pure';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseAllDocuments } from 'yaml';
import { labCommand, labKubeadmConfig, labUserKubeadmConfig, manifestCommand } from '../src/lab/kubelet/control-plane.js';
import { planLab } from '../src/lab/plan.js';
import { kubernetesBin, missingKubernetes } from '../src/testing/control-plane.js';

const k8s = skipIf(test, process.env.CI === 'true' ? undefined : missingKubernetes());

// Not kubeadm's defaults, so a flag that came from anywhere but the plan shows.
const lab = planLab({ name: 't', nodes: 3, pods: 0, mode: 'vxlan', podCIDR: '10.32.0.0/16', datastore: 'kubernetes', runtime: 'kubelet' });
const ROOT = '/run/netboot-lab/t/kubernetes';
const user = labUserKubeadmConfig({ version: 'v1.37.2', address: lab.serviceIp, etcd: `http://${lab.serviceIp}:2379` });

test("the kubeadm config is init's plan of the lab's options merged into the lab's own config", () => {
  const docs = parseAllDocuments(labKubeadmConfig(lab, user)).map((d) => d.toJS());
  const init = docs.find((d) => d.kind === 'InitConfiguration');
  const cluster = docs.find((d) => d.kind === 'ClusterConfiguration');
  assert.equal(init.localAPIEndpoint, { advertiseAddress: '192.168.1.1', bindPort: 6443 });
  assert.is(cluster.kubernetesVersion, 'v1.37.2');
  assert.equal(cluster.etcd, { external: { endpoints: ['http://192.168.1.1:2379'] } });
  assert.equal(cluster.networking, { podSubnet: '10.32.0.0/16', serviceSubnet: '10.96.0.0/12' });
  assert.equal(cluster.controllerManager.extraArgs, [
    { name: 'allocate-node-cidrs', value: 'true' },
    { name: 'cluster-cidr', value: '10.32.0.0/16' },
    { name: 'node-cidr-mask-size', value: '24' },
  ]);
});

test('labCommand: the program from the build, /etc/kubernetes paths under the root, nothing else', () => {
  const command = ['kube-scheduler', '--kubeconfig=/etc/kubernetes/scheduler.conf', '--bind-address=127.0.0.1', '--leader-elect=true'];
  assert.equal(labCommand(command, ROOT, '/k8s/bin'), [
    '/k8s/bin/kube-scheduler',
    `--kubeconfig=${ROOT}/etc/kubernetes/scheduler.conf`,
    '--bind-address=127.0.0.1',
    '--leader-elect=true',
  ]);
});

/** Every component's manifest command from real `kubeadm init phase control-plane all --dry-run` on `yaml`. */
function renderedCommands(yaml: string): Promise<Record<string, string[]>> {
  return withTempDir((dir) => {
    writeFileSync(join(dir, 'kubeadm.yaml'), yaml);
    execFileSync(join(kubernetesBin()!, 'kubeadm'), ['init', 'phase', 'control-plane', 'all', '--dry-run', '--config', join(dir, 'kubeadm.yaml')], {
      env: { ...process.env, KUBEADM_INIT_DRYRUN_DIR: join(dir, 'out') },
      stdio: 'pipe',
    });
    const out: Record<string, string[]> = {};
    for (const c of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler']) out[c] = manifestCommand(join(dir, 'out', `${c}.yaml`));
    return out;
  }, 'nbt-kubeadm-');
}

k8s("real kubeadm's manifests for the lab's config run as kubeadm wrote them, with the plan's network and the lab's addresses", async () => {
  const bin = kubernetesBin()!;
  const version = execFileSync(join(bin, 'kubeadm'), ['version', '-o', 'short'], { encoding: 'utf8' }).trim();
  const yaml = labKubeadmConfig(lab, labUserKubeadmConfig({ version, address: lab.serviceIp, etcd: `http://${lab.serviceIp}:2379` }));
  const commands = await renderedCommands(yaml);
  const run: Record<string, string[]> = {};
  for (const [component, command] of Object.entries(commands)) {
    const argv = labCommand(command, ROOT, bin);
    run[component] = argv;
    assert.is(argv[0], join(bin, component));
    assert.is(argv.length, command.length, `${component}: no flag added or dropped`);
    argv.slice(1).forEach((flag, i) => {
      assert.not.match(flag, /=\/etc\/kubernetes/, `${component}: ${flag}`);
      assert.is(flag.replace(`${ROOT}/etc/kubernetes/`, '/etc/kubernetes/'), command[i + 1], `${component}: only the root changes in ${flag}`);
    });
  }
  const has = (component: string, ...flags: string[]) => {
    for (const f of flags) assert.ok(run[component]!.includes(f), `${component} ${f} in ${run[component]!.join(' ')}`);
  };
  has('kube-apiserver', '--advertise-address=192.168.1.1', '--secure-port=6443', '--etcd-servers=http://192.168.1.1:2379');
  has('kube-apiserver', '--service-cluster-ip-range=10.96.0.0/12', `--client-ca-file=${ROOT}/etc/kubernetes/pki/ca.crt`);
  has('kube-controller-manager', '--allocate-node-cidrs=true', '--cluster-cidr=10.32.0.0/16', '--node-cidr-mask-size=24');
  has('kube-controller-manager', '--controllers=*,bootstrapsigner,tokencleaner', `--kubeconfig=${ROOT}/etc/kubernetes/controller-manager.conf`);
  has('kube-scheduler', `--kubeconfig=${ROOT}/etc/kubernetes/scheduler.conf`);
});

test.run();
