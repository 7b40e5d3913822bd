// The control plane of a kubelet lab: the lab's Kubernetes control plane (src/testing/control-plane.ts:
// etcd, kube-apiserver, kube-controller-manager) with the controllers real pods need, plus
// kube-scheduler, all in the underlay namespace, its network (pod and service CIDRs, node mask) read from
// the kubeadm ClusterConfiguration `netboot init` plans for the lab's options (saved beside it); and a kubelet kubeconfig per node (`kubeadm init phase
// kubeconfig kubelet --node-name NODE`: a client certificate for system:node:NODE in system:nodes, which
// the API server's Node authorizer admits).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NetbootError } from '@netboot/core/errors';
import { plan as initPlan } from '../../init/plan.js';
import { startControlPlane } from '../../testing/control-plane.js';
import { getIn } from '../netns-http.js';
import type { LabPlan } from '../plan.js';
import { isRunning, labProcess, spawnInNetns } from '../processes.js';
import type { LabProcess } from '../state.js';
import type { KubeletLabState } from './state.js';

/**
 * nodeipam gives nodes their pod CIDRs, nodelifecycle lifts the not-ready taint (else nothing is
 * scheduled), serviceaccount(-token) make the default ServiceAccount pods need, deployment and
 * replicaset run the lab's workload and its rollouts.
 */
const CONTROLLERS = ['nodeipam', 'nodelifecycle', 'serviceaccount', 'serviceaccount-token', 'deployment', 'replicaset'];
const SCHEDULER_PORT = 10259;

class SchedulerNotReadyError extends NetbootError {
  readonly kind = 'unavailable' as const;
}

/** What kubeadm needs to write kubeconfigs for the control plane. */
type KubeletControlPlane = Pick<KubeletLabState, 'kubeconfig' | 'server' | 'bin' | 'kubeadmConfig' | 'ca'>;

/** A kubeconfig from `kubeadm init phase kubeconfig WHAT`, its `server:` pointed at the lab's API server. */
function kubeadmKubeconfig(cp: KubeletControlPlane, what: 'scheduler' | 'kubelet', file: string, nodeName?: string): void {
  const dir = mkdtempSync(`${file}.d-`);
  try {
    const args = ['init', 'phase', 'kubeconfig', what, '--config', cp.kubeadmConfig, '--kubeconfig-dir', dir];
    execFileSync(join(cp.bin, 'kubeadm'), nodeName === undefined ? args : [...args, '--node-name', nodeName], { stdio: 'pipe' });
    const text = readFileSync(join(dir, `${what}.conf`), 'utf8');
    writeFileSync(file, text.replace(/server: https:\/\/\S+/, `server: ${cp.server}`), { mode: 0o600 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes node `name`'s kubelet kubeconfig to `file`. */
export function writeKubeletKubeconfig(cp: KubeletControlPlane, name: string, file: string): void {
  kubeadmKubeconfig(cp, 'kubelet', file, name);
}

/** A ClusterConfiguration without what the lab needs from it: `netboot init`'s plan changed shape. */
class InitPlanError extends NetbootError {
  readonly kind = 'internal' as const;
}

/**
 * The network `netboot init --pod-cidr … --node-mask … --mode …` would configure kubeadm with, read back
 * from its ClusterConfiguration (networking and the controller manager's extraArgs); its YAML is
 * written to `file`.
 */
function initNetwork(plan: LabPlan, file: string): { podCIDR: string; serviceCIDR: string; nodeMaskSize: number } {
  const p = initPlan({
    podCIDRs: [plan.options.podCIDR],
    nodeMask: { ipv4: plan.nodeMaskSize },
    mode: plan.options.mode,
    datastore: 'kubernetes',
    expectedNodes: plan.nodes.length,
  });
  if (p.kubeadm === undefined) throw new InitPlanError('netboot init planned no kubeadm config');
  writeFileSync(file, p.kubeadm.yaml);
  const cluster = p.kubeadm.object as {
    networking?: { podSubnet?: string; serviceSubnet?: string };
    controllerManager?: { extraArgs?: { name: string; value: string }[] };
  };
  const arg = (name: string) => cluster.controllerManager?.extraArgs?.find((a) => a.name === name)?.value;
  const podCIDR = cluster.networking?.podSubnet;
  const serviceCIDR = cluster.networking?.serviceSubnet;
  const mask = Number(arg('node-cidr-mask-size'));
  if (podCIDR === undefined || serviceCIDR === undefined || arg('allocate-node-cidrs') !== 'true' || arg('cluster-cidr') !== podCIDR || !Number.isInteger(mask))
    throw new InitPlanError(`netboot init's kubeadm config lacks the pod network (see ${file})`);
  return { podCIDR, serviceCIDR, nodeMaskSize: mask };
}

/**
 * Starts the control plane and kube-scheduler (kubeadm's scheduler flags, leader election off) in the
 * underlay namespace; `record` gets each process as it starts. Resolves when the scheduler is healthy.
 */
export async function startKubeletControlPlane(plan: LabPlan, record: (p: LabProcess) => void): Promise<KubeletControlPlane> {
  const dir = join(plan.dir, 'kubernetes');
  mkdirSync(dir, { recursive: true });
  const fixture = await startControlPlane({
    netns: plan.underlay.netns,
    address: plan.serviceIp,
    ...initNetwork(plan, join(plan.dir, 'netboot-init-kubeadm.yaml')),
    controllers: CONTROLLERS,
    dir,
    detached: true,
    onSpawn: (what, pid) => record(labProcess(what, pid)),
  });
  const cp: KubeletControlPlane = {
    kubeconfig: fixture.kubeconfig,
    server: fixture.server,
    bin: fixture.bin,
    kubeadmConfig: join(dir, 'kubeadm.yaml'),
    ca: join(dir, 'pki', 'ca.crt'),
  };
  const conf = join(dir, 'kc', 'scheduler.conf');
  kubeadmKubeconfig(cp, 'scheduler', conf);
  const log = join(dir, 'kube-scheduler.log');
  // biome-ignore format: one flag each
  const scheduler = spawnInNetns('kube-scheduler', plan.underlay.netns, [join(cp.bin, 'kube-scheduler'),
    `--kubeconfig=${conf}`, `--authentication-kubeconfig=${conf}`, `--authorization-kubeconfig=${conf}`,
    `--bind-address=${plan.serviceIp}`, `--secure-port=${SCHEDULER_PORT}`, '--leader-elect=false'], log);
  record(scheduler);
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (!isRunning(scheduler)) throw new SchedulerNotReadyError(`kube-scheduler exited; see ${log}`);
    if ((await getIn(plan.underlay.netns, `https://${plan.serviceIp}:${SCHEDULER_PORT}/healthz`))?.body.trim() === 'ok') return cp;
    if (Date.now() > deadline) throw new SchedulerNotReadyError(`kube-scheduler not healthy after 60 s; see ${log}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
