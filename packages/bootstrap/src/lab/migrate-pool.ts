// `netboot lab migrate-pool`: the seeds' Calico exercise on a running lab, done as an operator would —
// add a second pool, disable the first (each agent then leases a subnet of the new pool beside its old
// one, without a restart, and the lease file sends new pods there), start a new pod with the real CNI
// ADD and show its address is from the new pool, probe that the old pods are still reachable, release
// the old pods (CNI DEL) and delete the old pool (the agents drop its subnets, the peers their routes).
//
// The pools live where the lab's datastore keeps them: in the nodes file (`pools` beside `nodes`, edited
// under the agents' lock), or in etcd, changed by `netboot pool add|disable|delete` run inside the
// underlay namespace, where etcd listens. The Kubernetes datastore has no pools (kube-controller-manager
// assigns one podCIDR per Node for the Node's life), so it is refused.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { deleteNetns, NetnsNotFoundError, Rtnl } from '@netboot/core';
import { NetbootError } from '@netboot/core/errors';
import { bitsOf } from '@netboot/core/ip';
import { Cidr } from '@netboot/ipam';
import { NETBOOT_PROTOCOL } from '@netboot/routes';
import { Options, output, UsageError } from '../cli/args.js';
import { editNodesFile } from '../datastore/file.js';
import { leaseFileOf, missingRoutes } from './agents.js';
import { checkLab } from './check.js';
import { renderMatrix, summary } from './matrix.js';
import { planLab } from './plan.js';
import { cniAdd, cniDel, labPlugin } from './pods.js';
import { type LabNode, type LabState, saveLabState } from './state.js';
import { buildPodNetns } from './topology.js';

/** A step that did not happen in time, or did not do what it must. */
class MigrationError extends NetbootError {
  readonly kind = 'unavailable' as const;
}

/** The lease file as the agents write it (../agent/lease-file.ts). */
interface LeaseFile {
  subnets: string[];
  disabledSubnets?: string[];
}

/** How the lab's pools are changed, per datastore. */
interface Pools {
  add(cidr: string): Promise<void>;
  /** Disables `cidr`; the file datastore also gives each node its subnet of `next`, as etcd's agents claim one. */
  disable(cidr: string, next: string): Promise<void>;
  remove(cidr: string): Promise<void>;
}

const seconds = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)} s`;

export async function labMigratePool(state: LabState, argv: readonly string[]): Promise<number> {
  const opts = Options.parse(argv, { flags: ['json'], allowed: ['name', 'new-pool', 'node'] });
  const out = output(opts.has('json'));
  const oldPool = state.podCIDRs[0]!;
  const newPool = parseNewPool(opts.get('new-pool') ?? '10.245.0.0/16', oldPool);
  const node = opts.has('node') ? state.nodes.find((n) => n.name === opts.get('node')) : state.nodes[0];
  if (node === undefined) throw new UsageError(`--node ${opts.get('node')}: lab ${state.name} has ${state.nodes.map((n) => n.name).join(', ')}`);
  if (state.datastore === 'kubernetes')
    throw new UsageError(
      `lab ${state.name} uses the kubernetes datastore, which has no pools: each Node's podCIDR comes from kube-controller-manager for the Node's life. Build the lab with --datastore etcd or file to migrate pools`,
    );
  if (!state.complete)
    throw new UsageError(`lab ${state.name} is incomplete (its \`lab up\` did not finish): \`netboot lab down --name ${state.name}\` and up again`);
  const pools = state.datastore === 'file' ? filePools(state) : etcdPools(state);
  const save = () => saveLabState(state);
  const started = Date.now();
  let t = Date.now();

  await pools.add(newPool);
  out.progress(`pool ${newPool} added (NAT for traffic leaving the cluster: on)`);
  await pools.disable(oldPool, newPool);
  out.progress(`pool ${oldPool} disabled: no new subnets or pod addresses from it; its pods keep theirs`);
  const before = new Map(state.nodes.map((n) => [n.name, [...n.podCIDRs]]));
  await Promise.all(
    state.nodes.map(async (n) => {
      const lease = await waitForLease(n, (l) => l.subnets.some((s) => inside(s, newPool)) && (l.disabledSubnets ?? []).some((s) => inside(s, oldPool)));
      n.podCIDRs = [...lease.subnets, ...(lease.disabledSubnets ?? [])];
      out.progress(`${n.name}: leased ${lease.subnets.join(', ')} for new pods; ${lease.disabledSubnets!.join(', ')} kept, disabled (${seconds(t)})`);
    }),
  );
  state.podCIDRs = [newPool, oldPool];
  save();
  t = Date.now();
  await until('every node routing its peers’ old and new subnets', () => state.nodes.every((n) => missingRoutes(n, state.nodes).length === 0));
  out.progress(`routes: every node routes its peers’ subnets of both pools (${seconds(t)})`);

  // A new pod, made as a runtime makes one: the node's conflist, the plugin's ADD in the node's namespace.
  const plugin = labPlugin(state.dir);
  const taken = new Set(state.pods.map((p) => p.name));
  let k = 1;
  while (taken.has(`${node.name}-pod${k}`)) k++;
  const pod = {
    name: `${node.name}-pod${k}`,
    node: node.name,
    netns: `${node.netns}-pod${k}`,
    containerId: `${node.netns}-pod${k}`,
    ifname: 'eth0',
    ips: [] as string[],
  };
  buildPodNetns(pod.netns, (ns) => {
    state.namespaces.push(ns);
    save();
  });
  state.pods.push(pod);
  save();
  pod.ips = await cniAdd(plugin, node, pod);
  save();
  if (!pod.ips.some((ip) => inside(ip, newPool))) throw new MigrationError(`${pod.name} got ${pod.ips.join(', ')}, not an address of the new pool ${newPool}`);
  out.progress(`${pod.name}: ${pod.ips.join(', ')} from the new pool (CNI ADD in ${node.netns})`);

  const oldPods = state.pods.filter((p) => p.ips.some((ip) => inside(ip, oldPool)));
  out.progress(`probing: ${oldPods.length} old pods and the new one, to every pod, node and the outside…`);
  const during = await checkLab(state);
  out.progress(`old and new pods: ${summary(during)}`);
  if (!out.json) out.progress(renderMatrix(state, during));
  if (!during.every((r) => r.ok)) {
    const failed = during.filter((r) => !r.ok).map((r) => `${r.from} → ${r.to}: ${r.reason}`);
    throw new MigrationError(`with both pools in use, ${failed.length} probes failed (the old pool is still there): ${failed.join('; ')}`);
  }

  for (const p of oldPods) {
    const on = state.nodes.find((n) => n.name === p.node)!;
    await cniDel(plugin, on, p);
    try {
      deleteNetns(p.netns);
    } catch (e) {
      if (!(e instanceof NetnsNotFoundError)) throw e;
    }
    state.pods = state.pods.filter((x) => x !== p);
    state.namespaces = state.namespaces.filter((ns) => ns !== p.netns);
    save();
    out.progress(`${p.name}: released ${p.ips.join(', ')} (CNI DEL), namespace deleted`);
  }

  t = Date.now();
  await pools.remove(oldPool);
  out.progress(`pool ${oldPool} deleted`);
  await Promise.all(
    state.nodes.map(async (n) => {
      const lease = await waitForLease(n, (l) => (l.disabledSubnets ?? []).length === 0 && l.subnets.every((s) => inside(s, newPool)));
      n.podCIDRs = lease.subnets;
    }),
  );
  state.podCIDRs = [newPool];
  save();
  await until('no node routing a subnet of the old pool', () => state.nodes.every((n) => routedIn(n, oldPool).length === 0));
  out.progress(`every node dropped its old subnet and its peers’ routes to ${oldPool} (${seconds(t)})`);

  const after = await checkLab(state);
  out.progress(`after the migration: ${summary(after)}`);
  const ok = after.every((r) => r.ok);
  const result = {
    oldPool,
    newPool,
    nodes: state.nodes.map((n) => ({ name: n.name, before: before.get(n.name), after: n.podCIDRs })),
    newPod: { name: pod.name, node: pod.node, ips: pod.ips },
    released: oldPods.map((p) => ({ name: p.name, ips: p.ips })),
    checks: { during: counts(during), after: counts(after) },
    seconds: Number(((Date.now() - started) / 1000).toFixed(1)),
  };
  const text = `${renderMatrix(state, after)}\n\nlab ${state.name} moved from ${oldPool} to ${newPool} in ${result.seconds} s; ${summary(after)}`;
  out.result(result, text);
  return ok ? 0 : 1;
}

function counts(results: readonly { ok: boolean }[]): { passed: number; failed: number } {
  const passed = results.filter((r) => r.ok).length;
  return { passed, failed: results.length - passed };
}

function parseNewPool(text: string, oldPool: string): string {
  let pool: Cidr;
  try {
    pool = Cidr.parse(text);
  } catch (e) {
    throw new UsageError(`--new-pool ${text}: ${(e as Error).message}`);
  }
  const old = Cidr.parse(oldPool);
  if (pool.family !== old.family) throw new UsageError(`--new-pool ${text}: the lab's pool ${oldPool} is IPv${old.family}`);
  if (pool.overlaps(old)) throw new UsageError(`--new-pool ${text} overlaps the lab's pool ${oldPool}: give a CIDR beside it, e.g. 10.245.0.0/16`);
  if (pool.overlaps(Cidr.parse('192.168.0.0/16'))) throw new UsageError(`--new-pool ${text} overlaps the lab's underlay (192.168.0.0/16)`);
  return pool.toString();
}

function inside(addressOrCidr: string, pool: string): boolean {
  const p = Cidr.parse(pool);
  return addressOrCidr.includes('/') ? p.contains(Cidr.parse(addressOrCidr)) : p.contains(addressOrCidr);
}

/** The agent's routes (`ip -n NODE route show proto 78`) to destinations inside `pool`. */
function routedIn(node: LabNode, pool: string): string[] {
  using rtnl = Rtnl.open({ netns: node.netns });
  return rtnl.route
    .list({ family: Cidr.parse(pool).family, protocol: NETBOOT_PROTOCOL })
    .map((r) => r.dst)
    .filter((dst): dst is string => dst?.includes('/') === true && inside(dst, pool));
}

async function until(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new MigrationError(`${what}: not within ${timeoutMs / 1000} s (see each node's agent.log)`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The node's lease file once `check` holds for it (its agent re-leased). */
async function waitForLease(node: LabNode, check: (lease: LeaseFile) => boolean): Promise<LeaseFile> {
  const file = leaseFileOf(node);
  let lease: LeaseFile | undefined;
  await until(`${node.name}'s lease file ${file} saying so`, () => {
    try {
      lease = JSON.parse(readFileSync(file, 'utf8')) as LeaseFile;
      return check(lease);
    } catch {
      return false;
    }
  });
  return lease!;
}

/**
 * The file datastore's pools: `pools` in the nodes file beside `nodes`, changed under the lock every
 * agent's publish takes. Disabling gives each node the subnet of the new pool at its old subnet's index
 * (node1's 10.244.1.0/24 → 10.245.1.0/24), listed first: where its new pods go.
 */
function filePools(state: LabState): Pools {
  const path = `${state.dir}/nodes.json`;
  if (!existsSync(path)) throw new MigrationError(`lab ${state.name}: no nodes file ${path}`);
  const edit = (fn: Parameters<typeof editNodesFile>[1]) => editNodesFile(path, fn);
  return {
    async add(cidr) {
      edit((file) => {
        file.pools ??= state.podCIDRs.map((c) => ({ cidr: c, disabled: false, natOutgoing: true }));
        if (!file.pools.some((p) => p.cidr === cidr)) file.pools.push({ cidr, disabled: false, natOutgoing: true });
      });
    },
    async disable(cidr, next) {
      edit((file) => {
        for (const p of file.pools ?? []) if (p.cidr === cidr) p.disabled = true;
        const from = Cidr.parse(cidr);
        const to = Cidr.parse(next);
        for (const record of file.nodes.values()) {
          const old = record.podCIDRs.find((s) => from.contains(Cidr.parse(s)));
          if (old === undefined || record.podCIDRs.some((s) => to.contains(Cidr.parse(s)))) continue;
          const o = Cidr.parse(old);
          const index = (o.network - from.network) >> BigInt(bitsOf(o.family) - o.prefixLen);
          record.podCIDRs = [to.nthSubnet(o.prefixLen, index).toString(), ...record.podCIDRs];
        }
      });
    },
    async remove(cidr) {
      const pool = Cidr.parse(cidr);
      edit((file) => {
        file.pools = (file.pools ?? []).filter((p) => p.cidr !== cidr);
        for (const record of file.nodes.values()) record.podCIDRs = record.podCIDRs.filter((s) => !pool.contains(Cidr.parse(s)));
      });
    },
  };
}

/**
 * etcd's pools, through `netboot pool …` run inside the underlay namespace, where etcd listens (its
 * gRPC sockets must be made there): the operator's own commands, ClusterIpam's rules (a pool is deleted
 * only when empty). The agents claim their new blocks themselves.
 */
function etcdPools(state: LabState): Pools {
  const plan = planLab({ name: state.name, nodes: state.nodes.length, pods: 0, mode: 'vxlan', podCIDR: state.podCIDRs[0]!, datastore: 'etcd' });
  const endpoint = `http://${plan.serviceIp}:2379`;
  // This same CLI (the Node binary, its flags and script), as the lab's agents are run.
  const self = [process.execPath, ...process.execArgv, process.argv[1]!];
  const pool = (...args: string[]) =>
    new Promise<void>((resolve, reject) => {
      const argv = ['netns', 'exec', plan.underlay.netns, ...self, 'pool', ...args, '--etcd-endpoint', endpoint];
      execFile('ip', argv, { encoding: 'utf8', timeout: 30_000 }, (err, _stdout, stderr) =>
        err === null ? resolve() : reject(new MigrationError(`netboot pool ${args.join(' ')} (etcd ${endpoint}) failed: ${stderr.trim() || err.message}`)),
      );
    });
  return {
    add: (cidr) => pool('add', cidr, '--nat-outgoing'),
    disable: (cidr) => pool('disable', cidr),
    remove: (cidr) => pool('delete', cidr),
  };
}
