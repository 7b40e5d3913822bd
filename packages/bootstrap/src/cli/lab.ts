// `netboot lab up|check|migrate-pool|down|list`: the seeds' cluster — an underlay, nodes running real
// agents, pods made by the real CNI plugin, an outside host behind NAT — built in namespaces on this
// machine, checked, and removed again.
import { existsSync } from 'node:fs';
import { errorKind } from '@netboot/core/errors';
import { LAB_DATASTORES, LAB_MODES, LAB_RUNTIMES, LabOptionError } from '../lab/plan.js';
import { LAB_RUN_DIR, listLabs, loadLabState } from '../lab/state.js';
import { Options, output, subcommand, UsageError } from './args.js';

const DEFAULT_NAME = 'netboot-lab';

export const LAB_USAGE = `usage:
  netboot lab up    [--name NAME] [--nodes N] [--pods N] [--mode host-gw|vxlan|cross-subnet]
                    [--pod-cidr CIDR] [--datastore file|etcd|kubernetes] [--runtime namespaces|kubelet]
                    [--resync-seconds N] [--json]
  netboot lab check [--name NAME] [--json] [--replicas N] [--skip-rollout]
  netboot lab migrate-pool [--name NAME] [--new-pool CIDR] [--node NODE] [--json]
  netboot lab down  [--name NAME]
  netboot lab list  [--json]

  up     builds lab NAME (default ${DEFAULT_NAME}): namespaces NAME-underlay (bridge 192.168.1.1/24; a
         second subnet 192.168.2.0/24 and routing for cross-subnet), NAME-outside (192.168.1.100, reached
         by pods only through NAT), NAME-node1… (192.168.1.11…, each running \`netboot agent\`), and
         NAME-nodeN-podM made by the CNI plugin's ADD. Defaults: 3 nodes, 2 pods each, vxlan,
         10.244.0.0/16, the file datastore. State, logs and data: /run/netboot-lab/NAME/.
         --runtime kubelet: real pods instead — every node runs containerd and kubelet (pause and
         busybox images built locally, no registry), the control plane adds kube-scheduler; the
         datastore is kubernetes and --pods is 0 (lab check deploys the pods).
         --resync-seconds N: passed to every agent (its full re-list and reconcile period; default 30).
  check  connects (TCP) from every pod to every pod, node and the outside host, per family, and
         checks the source each saw: the pod itself, except the outside sees the pod's node (NAT).
         A table (--json: a list of probes); exit 1 when any probe failed.
         A kubelet lab's pods come from a Deployment (--replicas, default 2 per node) spread over the
         nodes by the scheduler and Ready first; then a rollout restart must pass again and leave no
         IP, veth or nft element behind (--skip-rollout leaves it out).
  migrate-pool  (file or etcd datastore) adds --new-pool (default 10.245.0.0/16), disables the lab's
         pool (each node leases a subnet of the new one, keeping its old one for its pods), starts a pod
         on --node (default the first) from the new pool, probes that the old pods are still reachable,
         releases them (CNI DEL) and deletes the old pool. Exit 1 when a step failed.
  down   stops the lab's processes, CNI DELs its pods, deletes its namespaces and directory (also
         after a crashed up; nothing to do is not an error).

examples:
  netboot lab up && netboot lab check; netboot lab down
  netboot lab up --name demo --nodes 2 --pods 1 --mode host-gw --datastore etcd
  netboot lab up --name kl --runtime kubelet && netboot lab check --name kl   # a Deployment over 3 kubelets
  netboot lab up --name mp --datastore etcd && netboot lab migrate-pool --name mp   # Calico's pool migration
  ip netns exec netboot-lab-node1 ip route            # node1's routes to the other nodes' pods
  ip netns exec netboot-lab-node1-pod1 ping 10.244.2.2
  netboot lab down --name demo`;

function nameOf(opts: Options): string {
  return opts.get('name') ?? DEFAULT_NAME;
}

export async function labMain(argv: readonly string[]): Promise<number> {
  const sub = subcommand(argv, LAB_USAGE);
  if ('exit' in sub) return sub.exit;
  const { command, rest } = sub;
  switch (command) {
    case 'up': {
      const opts = Options.parse(rest, { flags: ['json'], allowed: ['name', 'nodes', 'pods', 'mode', 'pod-cidr', 'datastore', 'runtime', 'resync-seconds'] });
      const out = output(opts.has('json'));
      const { labUp } = await import('../lab/up.js');
      const name = nameOf(opts);
      const runtime = opts.choice('runtime', LAB_RUNTIMES, 'namespaces');
      const kubelet = runtime === 'kubelet';
      const options = {
        name,
        nodes: opts.int('nodes', 1, 50) ?? 3,
        pods: opts.int('pods', 0, 50) ?? (kubelet ? 0 : 2),
        mode: opts.choice('mode', LAB_MODES, 'vxlan'),
        podCIDR: opts.get('pod-cidr') ?? '10.244.0.0/16',
        datastore: opts.choice('datastore', LAB_DATASTORES, kubelet ? 'kubernetes' : 'file'),
        runtime,
        resyncSeconds: opts.int('resync-seconds', 1, 86_400),
      };
      // Interrupted half-way: what was made is recorded, so say how to remove it.
      const onSignal = (signal: NodeJS.Signals) => {
        process.stderr.write(`\nnetboot lab up: ${signal}; \`netboot lab down --name ${name}\` removes what was made\n`);
        process.exit(signal === 'SIGINT' ? 130 : 143);
      };
      process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
      try {
        const state = await labUp(options, (line) => out.progress(line));
        out.result(state, `next: netboot lab check --name ${name}; netboot lab down --name ${name}`);
        return 0;
      } catch (e) {
        if (e instanceof LabOptionError) throw new UsageError(e.message);
        const dir = `${LAB_RUN_DIR}/${name}/`;
        // Refused before anything was made (the name is taken, no Kubernetes binaries): nothing to clean.
        const made = errorKind(e) !== 'exists' && existsSync(`${dir}state.json`);
        const hint = made ? `\nlogs and state are in ${dir}; \`netboot lab down --name ${name}\` removes what was made` : '';
        process.stderr.write(`netboot lab up: ${(e as Error).message}${hint}\n`);
        return 1;
      } finally {
        process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
      }
    }
    case 'down': {
      const opts = Options.parse(rest, { allowed: ['name'] });
      const name = nameOf(opts);
      const { labDown } = await import('../lab/down.js');
      const line = (l: string) => process.stderr.write(`${l}\n`);
      if (!(await labDown(name, line))) line(`lab ${name}: nothing to do`);
      return 0;
    }
    case 'list': {
      const opts = Options.parse(rest, { flags: ['json'] });
      const labs = listLabs();
      const { isRunning } = await import('../lab/processes.js');
      const text = labs.map((s) => {
        const running = s.processes.filter(isRunning).length;
        const state = s.complete ? 'up' : 'incomplete';
        return `${s.name}  ${s.mode}  ${s.datastore}  ${s.nodes.length} nodes  ${s.pods.length} pods  ${state}, ${running}/${s.processes.length} processes running`;
      });
      output(opts.has('json')).result(labs, labs.length === 0 ? 'no labs' : text.join('\n'));
      return 0;
    }
    case 'check': {
      const opts = Options.parse(rest, { flags: ['json', 'skip-rollout'], allowed: ['name', 'replicas'] });
      const state = loadLabState(nameOf(opts));
      const ks = (await import('../lab/kubelet/state.js')).loadKubeletState(state.dir);
      if (ks !== undefined) {
        const { kubeletLabCheck } = await import('../lab/kubelet/check.js');
        return kubeletLabCheck(state, ks, { json: opts.has('json'), replicas: opts.int('replicas', 1, 200), skipRollout: opts.has('skip-rollout') });
      }
      if (opts.has('replicas') || opts.has('skip-rollout'))
        throw new UsageError(`lab ${state.name} runs no kubelets: --replicas and --skip-rollout are for --runtime kubelet labs`);
      const { labCheck } = await import('../lab/check.js');
      return labCheck(state, { json: opts.has('json') });
    }
    case 'migrate-pool': {
      // The helper parses its own options; only --name is read here.
      const i = rest.indexOf('--name');
      const state = loadLabState(i === -1 ? DEFAULT_NAME : (rest[i + 1] ?? DEFAULT_NAME));
      return (await import('../lab/migrate-pool.js')).labMigratePool(state, rest);
    }
    default:
      throw new UsageError(`unknown command lab ${command}\n${LAB_USAGE}`);
  }
}
