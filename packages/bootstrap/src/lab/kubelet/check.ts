// `netboot lab check` on a kubelet lab: Kubernetes workloads, not namespaces posing as pods. Deploys
// the check Deployment (scheduler-placed, spread over the nodes), waits until every pod is Ready, and
// runs the lab's connectivity matrix (../matrix.ts, ../probe.ts) from each pod's own network namespace
// — found through its cgroup (kubelet's `<root>/kubepods/…/pod<UID>/`, any process there) — so
// pod→pod across nodes must arrive un-NAT'd and pod→outside NAT'd to the node. Then a rollout restart
// (every pod deleted and recreated by the Deployment) must leave each node holding exactly its pods'
// IPs and veths and the nft set elements it had.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NetbootError } from '@netboot/core/errors';
import { output } from '../../cli/args.js';
import { checkLab } from '../check.js';
import { renderMatrix, reported, summary } from '../matrix.js';
import type { LabState } from '../state.js';
import { processesDir } from './cgroups.js';
import { getItems, kubectl } from './kubectl.js';
import { cgroupRootOf } from './layout.js';
import type { KubeletLabState } from './state.js';
import { DEPLOYMENT, deploymentManifest, leaks, type NodeHoldings, SELECTOR } from './workload.js';

class WorkloadError extends NetbootError {
  readonly kind = 'unavailable' as const;
}

interface PodObject {
  metadata: { name: string; uid: string; deletionTimestamp?: string };
  spec: { nodeName?: string };
  status: { podIPs?: { ip: string }[]; conditions?: { type: string; status: string }[] };
}

const ready = (p: PodObject) =>
  p.metadata.deletionTimestamp === undefined && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

/** Waits until the Deployment has `replicas` Ready pods and no other (old, terminating) pod; returns them. */
async function settledPods(ks: KubeletLabState, replicas: number, timeoutMs: number): Promise<PodObject[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pods = await getItems<PodObject>(ks, ['pods', '-n', 'default', '-l', SELECTOR]);
    if (pods.length === replicas && pods.every(ready)) return pods;
    if (Date.now() > deadline) {
      const states = pods.map(
        (p) => `${p.metadata.name}@${p.spec.nodeName ?? '-'} ${p.metadata.deletionTimestamp ? 'terminating' : ready(p) ? 'ready' : 'not ready'}`,
      );
      throw new WorkloadError(
        `${DEPLOYMENT}: not ${replicas} Ready pods after ${timeoutMs / 1000} s: ${states.join(', ') || 'none'} (kubectl describe pods; each node's kubelet.log)`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** A process in pod `uid`'s cgroup on its node (the pause, or any container): its /proc/PID/ns/net is the pod's. */
function podNetns(ks: KubeletLabState, lab: string, node: string, uid: string): string {
  const root = join(processesDir(cgroupRootOf(lab, node)), 'kubepods');
  const find = (dir: string): string | undefined => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      if (e.name === `pod${uid}`) return join(dir, e.name);
      const below = e.name.startsWith('pod') ? undefined : find(join(dir, e.name));
      if (below !== undefined) return below;
    }
    return undefined;
  };
  const dir = existsSync(root) ? find(root) : undefined;
  const procs = (d: string): string[] => [
    ...readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean),
    ...readdirSync(d, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .flatMap((e) => procs(join(d, e.name))),
  ];
  const pid = dir === undefined ? undefined : procs(dir)[0];
  if (pid === undefined) throw new WorkloadError(`pod ${uid} on ${node}: no process in its cgroup under ${root} (kubeconfig ${ks.kubeconfig})`);
  return `/proc/${pid}/ns/net`;
}

/** The lab's state with the Deployment's pods in it, each by the namespace of a process of its own. */
function withPods(state: LabState, ks: KubeletLabState, pods: readonly PodObject[]): LabState {
  return {
    ...state,
    pods: pods.map((p) => ({
      name: p.metadata.name,
      node: p.spec.nodeName!,
      netns: podNetns(ks, state.name, p.spec.nodeName!, p.metadata.uid),
      containerId: p.metadata.uid,
      ifname: 'eth0',
      ips: (p.status.podIPs ?? []).map((i) => i.ip),
    })),
  };
}

/** What each node holds, by `ip`, `nft` and the IPAM dir; `pods` from the API. */
function holdings(state: LabState, pods: readonly PodObject[]): NodeHoldings[] {
  return state.nodes.map((n) => {
    const ipamDir = join(n.dir, 'ipam');
    const ips = existsSync(ipamDir)
      ? readdirSync(ipamDir, { recursive: true, encoding: 'utf8' }).filter((f) => /(^|\/)[0-9a-f.:]+$/.test(f) && /[.:]/.test(f.split('/').at(-1)!))
      : [];
    const links = JSON.parse(execFileSync('ip', ['-n', n.netns, '-j', 'link', 'show', 'type', 'veth'], { encoding: 'utf8' }) || '[]') as { ifname: string }[];
    const ruleset = JSON.parse(execFileSync('ip', ['netns', 'exec', n.netns, 'nft', '-j', 'list', 'ruleset'], { encoding: 'utf8' })) as {
      nftables: { set?: { elem?: unknown[] } }[];
    };
    return {
      node: n.name,
      pods: pods.filter((p) => p.spec.nodeName === n.name).length,
      ips,
      veths: links.map((l) => l.ifname).filter((name) => name !== 'eth0'),
      nftElements: ruleset.nftables.reduce((sum, o) => sum + (o.set?.elem?.length ?? 0), 0),
    };
  });
}

export interface KubeletCheckOptions {
  json: boolean;
  /** Pods in the Deployment; default two per node. */
  replicas?: number;
  /** Leave out the rollout restart. */
  skipRollout?: boolean;
  timeoutMs?: number;
}

/**
 * `netboot lab check` for a kubelet lab: deploy, matrix, rollout, leak check. Prints the matrix (or
 * JSON `{pods, probes, rollout}`) and returns 0 when everything passed, else 1.
 */
export async function kubeletLabCheck(state: LabState, ks: KubeletLabState, opts: KubeletCheckOptions): Promise<number> {
  const out = output(opts.json);
  const replicas = opts.replicas ?? 2 * state.nodes.length;
  const timeoutMs = opts.timeoutMs ?? 180_000;
  let t = Date.now();
  await kubectl(ks, ['apply', '-f', '-'], deploymentManifest(replicas));
  let pods = await settledPods(ks, replicas, timeoutMs);
  const spread = state.nodes.map((n) => `${n.name} ${pods.filter((p) => p.spec.nodeName === n.name).length}`).join(', ');
  out.progress(`deployment/${DEPLOYMENT}: ${replicas} pods Ready (${spread}) in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  let lab = withPods(state, ks, pods);
  const results = await checkLab(lab);
  let text = `${renderMatrix(lab, results)}\n\n${summary(results)}`;
  let ok = results.length > 0 && results.every((r) => r.ok);
  let rollout: { ok: boolean; leaks: string[]; probes: string } | undefined;
  if (opts.skipRollout !== true) {
    const before = holdings(state, pods);
    const oldUids = new Set(pods.map((p) => p.metadata.uid));
    t = Date.now();
    await kubectl(ks, ['rollout', 'restart', `deployment/${DEPLOYMENT}`]);
    await kubectl(ks, ['rollout', 'status', `deployment/${DEPLOYMENT}`, `--timeout=${Math.round(timeoutMs / 1000)}s`]);
    pods = await settledPods(ks, replicas, timeoutMs);
    if (pods.some((p) => oldUids.has(p.metadata.uid))) throw new WorkloadError(`${DEPLOYMENT}: the rollout kept old pods`);
    out.progress(`rollout restart: ${replicas} new pods Ready in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    const found = leaks(before, holdings(state, pods));
    lab = withPods(state, ks, pods);
    const again = await checkLab(lab);
    rollout = { ok: found.length === 0 && again.every((r) => r.ok), leaks: found, probes: summary(again) };
    ok &&= rollout.ok;
    text += `\nafter rollout restart: ${summary(again)}; ${found.length === 0 ? 'nothing leaked (IPs, veths, nft elements)' : `leaked: ${found.join('; ')}`}`;
  }
  const list = results.map(reported);
  out.result({ pods: lab.pods.map(({ name, node, ips }) => ({ name, node, ips })), probes: list, rollout }, text);
  return ok ? 0 : 1;
}
