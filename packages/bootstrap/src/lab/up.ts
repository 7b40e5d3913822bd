// `netboot lab up`: the seeds' cluster on one machine. In order — underlay, outside host, node
// namespaces, the datastore, one real agent per node (waited on through /readyz), every node routing
// every other's pods, then pods made by the real CNI plugin. state.json is rewritten after each step, so
// `lab down` can remove whatever a crash left behind.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NetbootError } from '@netboot/core/errors';
import { type AgentDatastore, missingRoutes, startAgent, waitForAgent } from './agents.js';
import { startLabEtcd } from './etcd.js';
import type { LabOptions, LabPlan } from './plan.js';
import { planLab } from './plan.js';
import { buildLabPlugin, cniAdd, writeConflist } from './pods.js';
import { type LabState, saveLabState } from './state.js';
import { buildNode, buildOutside, buildPodNetns, buildUnderlay } from './topology.js';

/** A lab of that name exists already. */
class LabExistsError extends NetbootError {
  readonly kind = 'exists' as const;
}

/** Routes did not converge, or another step outran its time. */
class LabTimeoutError extends NetbootError {
  readonly kind = 'unavailable' as const;
}

const seconds = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)} s`;

/** Builds the lab `options` describe; `progress` gets one line per step. Resolves with the final state. */
export async function labUp(options: LabOptions, progress: (line: string) => void): Promise<LabState> {
  const plan = planLab(options);
  if (existsSync(join(plan.dir, 'state.json')) || existsSync(`/run/netns/${plan.underlay.netns}`))
    throw new LabExistsError(`lab ${options.name} exists: \`netboot lab down --name ${options.name}\` removes it first`);
  if (options.datastore === 'kubernetes') (await import('./kubernetes.js')).requireKubernetes();
  const kubelet = options.runtime === 'kubelet' ? await import('./kubelet/up.js') : undefined;
  kubelet?.requireKubeletRuntime();
  const state: LabState = {
    name: options.name,
    dir: plan.dir,
    mode: options.mode,
    datastore: options.datastore,
    podCIDRs: [options.podCIDR],
    namespaces: [],
    processes: [],
    outside: { netns: plan.outside.netns, ips: [] },
    nodes: [],
    pods: [],
    complete: false,
  };
  const save = () => saveLabState(state);
  const record = (ns: string) => {
    state.namespaces.push(ns);
    save();
  };
  save();
  const started = Date.now();
  let t = Date.now();

  buildUnderlay(plan, record);
  const subnets = plan.underlay.subnets.map((s) => s.cidr).join(' + ');
  progress(`underlay ${subnets} in ${plan.underlay.netns}${plan.underlay.forwarding ? ' (routed between them)' : ''} … ok`);
  buildOutside(plan, record);
  state.outside.ips = [plan.outside.ip];
  save();
  progress(`outside ${plan.outside.ip} in ${plan.outside.netns} (no route to ${options.podCIDR}) … ok`);
  for (const node of plan.nodes) {
    mkdirSync(node.dir, { recursive: true });
    buildNode(plan, node, record);
    state.nodes.push({ name: node.name, netns: node.netns, ips: [node.ip], podCIDRs: [], dir: node.dir });
    save();
  }
  progress(`nodes ${plan.nodes.map((n) => `${n.name} ${n.ip}`).join(', ')} … ok (${seconds(t)})`);

  // The plugin bundles while the datastore and agents start: both take seconds.
  const plugin = buildLabPlugin(plan.dir);
  plugin.catch(() => {}); // awaited below; a failure must not go unhandled meanwhile

  t = Date.now();
  const ds = await startDatastore(plan, state, save);
  progress(`datastore ${describe(ds)} … ok (${seconds(t)})`);
  // Kubelets register the Nodes the agents wait for.
  if (kubelet !== undefined)
    await kubelet.startKubelets(
      plan,
      await plugin,
      (p) => {
        state.processes.push(p);
        save();
      },
      progress,
    );

  t = Date.now();
  const procs = plan.nodes.map((node) => {
    const proc = startAgent(plan, node, ds, kubelet?.agentLaunch(node, state.processes));
    state.processes.push(proc);
    save();
    return proc;
  });
  const timeoutMs = options.datastore === 'kubernetes' ? 90_000 : 45_000;
  await Promise.all(
    state.nodes.map(async (node, i) => {
      node.podCIDRs = await waitForAgent(node, procs[i]!, timeoutMs);
      save();
      progress(`${node.name}: agent ready, ${node.podCIDRs.join(', ')} (${seconds(t)})`);
    }),
  );

  t = Date.now();
  await converge(state);
  if (state.nodes.length > 1) progress(`routes: every node routes its ${state.nodes.length - 1} peers' pods (${options.mode}, ${seconds(t)})`);
  await kubelet?.kubeletNodesReady(plan, progress);

  t = Date.now();
  const binary = await plugin;
  if (plan.options.pods > 0) progress(`CNI plugin built: ${binary}`);
  await Promise.all(
    plan.nodes.map(async (node) => {
      writeConflist(node);
      for (const pod of node.pods) {
        buildPodNetns(pod.netns, record);
        const labPod = { name: pod.name, node: node.name, netns: pod.netns, containerId: pod.netns, ifname: 'eth0', ips: [] as string[] };
        state.pods.push(labPod); // before ADD: a crash during it still gets a DEL from `down`
        save();
        labPod.ips = await cniAdd(binary, node, labPod);
        save();
        progress(`${pod.name}: ${labPod.ips.join(', ')} (CNI ADD in ${node.netns})`);
      }
    }),
  );

  state.complete = true;
  save();
  progress(`lab ${options.name} is up (${seconds(started)})`);
  return state;
}

async function startDatastore(plan: LabPlan, state: LabState, save: () => void): Promise<AgentDatastore> {
  const record = (p: LabState['processes'][number]) => {
    state.processes.push(p);
    save();
  };
  switch (plan.options.datastore) {
    case 'file': {
      // Each node's slice of the cluster CIDR; the agents add their addresses and VTEP MACs themselves.
      const nodesFile = join(plan.dir, 'nodes.json');
      writeFileSync(nodesFile, `${JSON.stringify({ nodes: plan.nodes.map((n) => ({ name: n.name, podCIDRs: [n.podCIDR] })) }, null, 2)}\n`);
      return { type: 'file', nodesFile };
    }
    case 'etcd':
      return { type: 'etcd', endpoint: await startLabEtcd(plan.underlay.netns, plan.serviceIp, plan.dir, record) };
    case 'kubernetes': {
      if (plan.options.runtime === 'kubelet')
        return { type: 'kubernetes', kubeconfig: await (await import('./kubelet/up.js')).startKubeletDatastore(plan, record), register: false };
      const { startLabKubernetes } = await import('./kubernetes.js');
      return { type: 'kubernetes', kubeconfig: await startLabKubernetes(plan, record) };
    }
  }
}

function describe(ds: AgentDatastore): string {
  switch (ds.type) {
    case 'file':
      return `file ${ds.nodesFile}`;
    case 'etcd':
      return `etcd ${ds.endpoint}`;
    case 'kubernetes':
      return `kubernetes (kubeconfig ${ds.kubeconfig})`;
  }
}

/** Waits until each node has a route to every other node's pod CIDRs. */
async function converge(state: LabState, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const missing = state.nodes.flatMap((n) => missingRoutes(n, state.nodes).map((c) => `${n.name} → ${c}`));
    if (missing.length === 0) return;
    if (Date.now() > deadline) throw new LabTimeoutError(`routes missing after ${timeoutMs / 1000} s: ${missing.join(', ')} (see each node's agent.log)`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
