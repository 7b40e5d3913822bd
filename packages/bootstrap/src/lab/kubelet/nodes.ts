// `netboot lab up --runtime kubelet`'s node half: for each lab node, the CNI plugin and conflist laid
// out as `netboot cni install --root NODE_DIR` does, its cgroups, containerd (images imported), and
// kubelet registering the Node — then waiting for every Node to be Ready.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NetbootError } from '@netboot/core/errors';
import { install } from '../../cni/install.js';
import { leaseFileOf } from '../agents.js';
import type { LabPlan, PlannedNode } from '../plan.js';
import type { LabProcess } from '../state.js';
import { buildLabImages, PAUSE } from '../images/busybox.js';
import { makeNodeCgroups } from './cgroups.js';
import { writeKubeletKubeconfig } from './control-plane.js';
import { getItems } from './kubectl.js';
import { kubeletArgs, kubeletConfig } from './kubelet.js';
import { cgroupRootOf, runtimeLayout } from './layout.js';
import { importImages, startContainerd, startKubelet, waitForContainerd } from './runtime.js';
import type { KubeletLabState } from './state.js';

/**
 * From Debian's containernetworking-plugins: `portmap`, which the conflist chains after netboot, and
 * `loopback`, which containerd's CRI runs itself for every sandbox's lo.
 */
const REFERENCE_CNI = '/usr/lib/cni';
const REFERENCE_PLUGINS = ['portmap', 'loopback'];

class NodesNotReadyError extends NetbootError {
  readonly kind = 'unavailable' as const;
}

/**
 * `netboot cni install --root NODE_DIR` with the lab's settings, then in the conflist the node's own
 * lease file and IPAM dir (each lab node's agent writes its lease under the node dir, not /run/netboot)
 * and its agent's CNI socket as `server` (the agent runs beside containerd, so the plugin's calls go to
 * it warm); ipMasq off, as the agent masquerades for the node.
 */
function installCni(node: PlannedNode, plugin: string): void {
  const { conflist } = install({ binary: plugin, root: node.dir, ipMasq: false, force: true });
  const list = JSON.parse(readFileSync(conflist, 'utf8')) as { plugins: { ipam?: Record<string, unknown>; server?: string }[] };
  const l = runtimeLayout(node.dir);
  list.plugins[0]!.ipam = { ...list.plugins[0]!.ipam, leaseFile: leaseFileOf(node), dataDir: join(node.dir, 'ipam') };
  list.plugins[0]!.server = l.cniSocket;
  writeFileSync(conflist, `${JSON.stringify(list, null, 2)}\n`);
  const bin = l.cniBin;
  for (const p of REFERENCE_PLUGINS) if (existsSync(join(REFERENCE_CNI, p))) copyFileSync(join(REFERENCE_CNI, p), join(bin, p));
}

/**
 * Starts containerd and kubelet on every node (in parallel); `record` gets each process as it starts,
 * `progress` a line per node.
 */
export async function startKubeletNodes(
  plan: LabPlan,
  cp: KubeletLabState,
  plugin: string,
  record: (p: LabProcess) => void,
  progress: (line: string) => void,
): Promise<void> {
  const images = buildLabImages(join(plan.dir, 'images'));
  await Promise.all(
    plan.nodes.map(async (node) => {
      const t = Date.now();
      const l = runtimeLayout(node.dir);
      installCni(node, plugin);
      const procs = makeNodeCgroups(cgroupRootOf(plan.options.name, node.name));
      const containerd = startContainerd(node.netns, l, PAUSE.name, procs);
      record(containerd);
      await waitForContainerd(containerd, l);
      await importImages(
        l,
        images.map((i) => i.archive),
      );
      const settings = { name: node.name, ip: node.ip, cgroupRoot: cgroupRootOf(plan.options.name, node.name), clientCA: cp.ca, clusterDNS: '10.96.0.10' };
      mkdirSync(join(node.dir, 'kubelet'), { recursive: true });
      writeFileSync(l.kubeletConfig, kubeletConfig(settings, l));
      writeKubeletKubeconfig(cp, node.name, l.kubeconfig);
      record(startKubelet(node.netns, containerd, join(cp.bin, 'kubelet'), kubeletArgs(settings, l), l, procs));
      progress(`${node.name}: containerd (images imported) and kubelet started (${((Date.now() - t) / 1000).toFixed(1)} s)`);
    }),
  );
}

interface NodeObject {
  metadata: { name: string };
  spec: { podCIDRs?: string[]; taints?: { key: string }[] };
  status?: { conditions?: { type: string; status: string; message?: string }[] };
}

/** Waits until every node in `names` is Ready with no not-ready taint left (pods may be scheduled there). */
export async function waitNodesReady(api: KubeletLabState, names: readonly string[], timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let waiting: string[] = [...names];
  for (;;) {
    let nodes: NodeObject[] = [];
    try {
      nodes = await getItems<NodeObject>(api, ['nodes']);
    } catch {}
    const ready = (n: NodeObject) =>
      n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true &&
      !(n.spec.taints ?? []).some((t) => t.key.startsWith('node.kubernetes.io/not-ready'));
    waiting = names.filter((name) => !nodes.some((n) => n.metadata.name === name && ready(n)));
    if (waiting.length === 0) return;
    if (Date.now() > deadline)
      throw new NodesNotReadyError(`nodes not Ready after ${timeoutMs / 1000} s: ${waiting.join(', ')} (see each node's kubelet.log and containerd.log)`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}
