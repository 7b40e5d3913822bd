// The control plane of a kubelet lab, wholly from the kubeadm config `netboot init` plans: etcd, then
// kube-apiserver, kube-controller-manager and kube-scheduler run with exactly the command lines kubeadm
// renders into its static pod manifests for that config, in the underlay namespace.
//
// The lab gives init a kubeadm config of its own, as a user would with `netboot init --kubeadm-config`
// (labUserKubeadmConfig): the pinned release, the API server's advertise address and the external etcd
// the lab runs. init merges its network into it (pod/service CIDRs, the controller manager's node IPAM
// flags) and what it plans is written unchanged to ROOT/kubeadm.yaml. kubeadm then runs chrooted into
// ROOT (`kubeadm --rootfs ROOT init phase … --config /kubeadm.yaml`), so certificates, kubeconfigs and
// manifests land in ROOT/etc/kubernetes instead of the host's /etc/kubernetes. From a manifest's command
// only the program (the pinned build's binary) and the /etc/kubernetes paths (under ROOT) change
// (labCommand): addresses, ports and the etcd endpoint are already the lab's, because the config says
// them and the namespace is the control plane's own.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NetbootError } from '@netboot/core/errors';
import { parse } from 'yaml';
import { plan as initPlan } from '../../init/plan.js';
import { kubernetesBin } from '../../testing/control-plane.js';
import { startLabEtcd } from '../etcd.js';
import { getIn } from '../netns-http.js';
import type { LabPlan } from '../plan.js';
import { isRunning, spawnInNetns } from '../processes.js';
import type { LabProcess } from '../state.js';
import type { KubeletLabState } from './state.js';

/** The control plane's node name in the kubeadm config (kubeadm would take the machine's hostname). */
const CONTROL_PLANE_NODE = 'lab-control-plane';
const API_PORT = 6443;
/** Where each component answers its health probe, on the loopback kubeadm binds the two controllers to. */
const HEALTH = {
  'kube-apiserver': (address: string) => `https://${address}:${API_PORT}/readyz`,
  'kube-controller-manager': () => 'https://127.0.0.1:10257/healthz',
  'kube-scheduler': () => 'https://127.0.0.1:10259/healthz',
};
type Component = keyof typeof HEALTH;

class ControlPlaneNotReadyError extends NetbootError {
  readonly kind = 'unavailable' as const;
}

/** `netboot init` planned no kubeadm config, or kubeadm rendered no command for a component. */
class InitPlanError extends NetbootError {
  readonly kind = 'internal' as const;
}

/** What kubelets and `lab check` need of the control plane. */
type KubeletControlPlane = Pick<KubeletLabState, 'kubeconfig' | 'server' | 'bin' | 'kubeadmRoot' | 'ca'>;

/**
 * The kubeadm config the lab hands `netboot init` as the user's (`--kubeadm-config`): the release it
 * runs (so kubeadm asks no release server), the control plane's address and node name, and the lab's
 * etcd as an external one (kubeadm then renders `--etcd-servers` with it and no etcd of its own).
 */
export function labUserKubeadmConfig(o: { version: string; address: string; etcd: string }): string {
  return `apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: ${o.address}
  bindPort: ${API_PORT}
nodeRegistration:
  name: ${CONTROL_PLANE_NODE}
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: ${o.version}
etcd:
  external:
    endpoints: ["${o.etcd}"]
`;
}

/** The options `netboot init --pod-cidr … --node-mask … --mode … --datastore kubernetes --nodes N` gets for the lab. */
function labInitOptions(plan: Pick<LabPlan, 'options' | 'nodeMaskSize' | 'nodes'>) {
  return {
    podCIDRs: [plan.options.podCIDR],
    nodeMask: { ipv4: plan.nodeMaskSize },
    mode: plan.options.mode,
    datastore: 'kubernetes' as const,
    expectedNodes: plan.nodes.length,
  };
}

/** The kubeadm config `netboot init` plans for the lab with `user` as the user's config (its YAML, as init writes it). */
export function labKubeadmConfig(plan: Pick<LabPlan, 'options' | 'nodeMaskSize' | 'nodes'>, user: string): string {
  const p = initPlan({ ...labInitOptions(plan), kubeadmConfig: { text: user, path: 'lab-kubeadm.yaml' } });
  if (p.kubeadm === undefined) throw new InitPlanError('netboot init planned no kubeadm config');
  return p.kubeadm.yaml;
}

/**
 * A static pod manifest's `command` as the lab runs it: the program from `bin` (the pinned build) and
 * every `/etc/kubernetes/…` flag value under `root` (where `kubeadm --rootfs ROOT` wrote the file).
 * Nothing else changes. Pure.
 */
export function labCommand(command: readonly string[], root: string, bin: string): string[] {
  const [program, ...flags] = command;
  if (program === undefined) throw new InitPlanError('kubeadm rendered an empty command');
  return [join(bin, program), ...flags.map((f) => f.replace(/^(--[^=]+=)\/etc\/kubernetes\//, `$1${root}/etc/kubernetes/`))];
}

/** The `command` of the static pod manifest `file` (kubeadm's: one container). */
export function manifestCommand(file: string): string[] {
  const pod = parse(readFileSync(file, 'utf8')) as { spec?: { containers?: { command?: string[] }[] } };
  const command = pod.spec?.containers?.[0]?.command;
  if (command === undefined) throw new InitPlanError(`${file}: no container command`);
  return command;
}

/** `kubeadm --rootfs ROOT init phase ARGS… --config /kubeadm.yaml`, in `netns` when given (phases that call the API server). */
function kubeadmPhase(cp: Pick<KubeletControlPlane, 'bin' | 'kubeadmRoot'>, args: readonly string[], netns?: string): void {
  const argv = [join(cp.bin, 'kubeadm'), '--rootfs', cp.kubeadmRoot, 'init', 'phase', ...args, '--config', '/kubeadm.yaml'];
  const [cmd, ...rest] = netns === undefined ? argv : ['ip', 'netns', 'exec', netns, ...argv];
  execFileSync(cmd!, rest, { stdio: 'pipe' });
}

/**
 * Writes node `name`'s kubelet kubeconfig to `file`: `kubeadm init phase kubeconfig kubelet --node-name
 * NODE` (a client certificate for system:node:NODE in system:nodes, which the Node authorizer admits).
 */
export function writeKubeletKubeconfig(cp: KubeletControlPlane, name: string, file: string): void {
  const dir = `/etc/kubernetes/nodes/${name}`;
  kubeadmPhase(cp, ['kubeconfig', 'kubelet', '--node-name', name, '--kubeconfig-dir', dir]);
  copyFileSync(join(cp.kubeadmRoot, dir, 'kubelet.conf'), file);
}

/** Waits until `url` answers "ok" inside `netns`; fails at once if `proc` exits. */
async function waitHealthy(netns: string, url: string, proc: LabProcess, log: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!isRunning(proc)) throw new ControlPlaneNotReadyError(`${proc.what} exited; see ${log}`);
    if ((await getIn(netns, url))?.body.trim() === 'ok') return;
    if (Date.now() > deadline) throw new ControlPlaneNotReadyError(`${proc.what} not healthy after ${timeoutMs / 1000} s; see ${log}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Plans the kubeadm config with `netboot init`, lets kubeadm write certificates, kubeconfigs and
 * manifests under ROOT (plan.dir/kubernetes), then starts etcd, the API server, kubeadm's upload-config
 * phase (ClusterConfiguration into kube-system/kubeadm-config, as `kubeadm init` does; it also binds
 * admin.conf's group to cluster-admin), the controller manager and the scheduler, each once the one
 * before is healthy; `record` gets each process as it starts.
 */
export async function startKubeletControlPlane(plan: LabPlan, record: (p: LabProcess) => void): Promise<KubeletControlPlane> {
  const root = join(plan.dir, 'kubernetes');
  mkdirSync(root, { recursive: true });
  const bin = kubernetesBin()!;
  const version = execFileSync(join(bin, 'kubeadm'), ['version', '-o', 'short'], { encoding: 'utf8' }).trim();
  const etcdEndpoint = `http://${plan.serviceIp}:2379`;
  const user = labUserKubeadmConfig({ version, address: plan.serviceIp, etcd: etcdEndpoint });
  writeFileSync(join(root, 'user-kubeadm.yaml'), user);
  writeFileSync(join(root, 'kubeadm.yaml'), labKubeadmConfig(plan, user));
  const etc = join(root, 'etc', 'kubernetes');
  const cp: KubeletControlPlane = {
    kubeconfig: join(etc, 'admin.conf'),
    server: `https://${plan.serviceIp}:${API_PORT}`,
    bin,
    kubeadmRoot: root,
    ca: join(etc, 'pki', 'ca.crt'),
  };
  for (const phase of ['certs all', 'kubeconfig admin', 'kubeconfig super-admin', 'kubeconfig controller-manager', 'kubeconfig scheduler', 'control-plane all'])
    kubeadmPhase(cp, phase.split(' '));
  const netns = plan.underlay.netns;
  if ((await startLabEtcd(netns, plan.serviceIp, root, record)) !== etcdEndpoint)
    throw new InitPlanError(`the lab's etcd is not at ${etcdEndpoint}, where the kubeadm config says`);
  const start = async (component: Component) => {
    const log = join(root, `${component}.log`);
    const argv = labCommand(manifestCommand(join(etc, 'manifests', `${component}.yaml`)), root, bin);
    const proc = spawnInNetns(component, netns, argv, log);
    record(proc);
    await waitHealthy(netns, HEALTH[component](plan.serviceIp), proc, log);
  };
  await start('kube-apiserver');
  kubeadmPhase(cp, ['upload-config', 'kubeadm'], netns);
  await start('kube-controller-manager');
  await start('kube-scheduler');
  return cp;
}
