// `netboot pool list|add|disable|enable|delete`: the cluster's IP pools on the agents' etcd, or on
// Kubernetes in the ConfigMap the agents keep them in with --cluster-ipam.
// Exit 0: done; 1: refused (in use, overlapping, no such pool); 2: usage.
import { ROUTING_MODES, type RoutingMode } from '@netboot/ipam';
import { chooseDatastore, DATASTORE_OPTIONS, DATASTORE_USAGE, openClusterIpam } from '../ops/datastore.js';
import { addPool, deletePool, listPools, renderPools, setPoolDisabled } from '../ops/pool.js';
import { Options, output, specOf, subcommand, UsageError } from './args.js';

const USAGE = `usage:
  netboot pool list    [datastore] [--json]
  netboot pool add     CIDR [--name NAME] [--block-size N] [--nat-outgoing | --no-nat-outgoing]
                       [--mode host-gw|vxlan|cross-subnet|ipip] [datastore] [--json]
  netboot pool disable CIDR [datastore]     no new pod IPs or node blocks from it; existing pod IPs stay valid
  netboot pool enable  CIDR [datastore]
  netboot pool delete  CIDR [--force] [datastore]   refused while pod IPs are in it (they are listed);
                                                    --force drops them

Pools live where the agents keep them: in etcd (--etcd-endpoint URL [--etcd-prefix P]), or with the
Kubernetes datastore in ConfigMap kube-system/netboot-ipam (agents run with --cluster-ipam). A cluster
whose controller manager assigns node CIDRs has no pools there: pool list says so (see netboot doctor).
A pool's name defaults to pool-<cidr>; NAT for pod traffic leaving the cluster is on by default.
${DATASTORE_USAGE}

examples:
  netboot pool list --etcd-endpoint http://127.0.0.1:2379 --json | jq '.[] | {cidr, allocated}'
  # migrating pods to a new pool:
  netboot pool add 10.245.0.0/16 --etcd-endpoint http://127.0.0.1:2379
  netboot pool disable 10.244.0.0/16 --etcd-endpoint http://127.0.0.1:2379
  # restart the pods: their new IPs come from 10.245.0.0/16
  netboot pool delete 10.244.0.0/16 --etcd-endpoint http://127.0.0.1:2379
  netboot pool list --datastore kubernetes --kubeconfig /etc/kubernetes/admin.conf`;

const ETCD = [...DATASTORE_OPTIONS];

export async function poolMain(argv: readonly string[]): Promise<number> {
  const sub = subcommand(argv, USAGE);
  if ('exit' in sub) return sub.exit;
  const { command, rest } = sub;
  const spec = specOf('pool', command, {
    list: { flags: ['json'], allowed: ETCD },
    add: { flags: ['json', 'nat-outgoing', 'no-nat-outgoing'], allowed: [...ETCD, 'name', 'block-size', 'mode'] },
    disable: { flags: ['json'], allowed: ETCD },
    enable: { flags: ['json'], allowed: ETCD },
    delete: { flags: ['json', 'force'], allowed: ETCD },
  });
  // The CIDR is the one positional argument (Options takes only --options).
  const positional = rest[0] !== undefined && !rest[0].startsWith('--') ? rest[0] : undefined;
  if (command !== 'list' && positional === undefined) throw new UsageError(`pool ${command} needs the pool's CIDR: netboot pool ${command} 10.245.0.0/16`);
  const opts = Options.parse(positional === undefined ? rest : rest.slice(1), spec);
  const choice = chooseDatastore(opts);
  if (choice.type === 'file')
    throw new UsageError(
      `pools live in the agents' etcd (--etcd-endpoint URL) or on Kubernetes (--datastore kubernetes); a nodes file names its pools itself: edit ${choice.path}`,
    );
  if (opts.has('nat-outgoing') && opts.has('no-nat-outgoing')) throw new UsageError('--nat-outgoing and --no-nat-outgoing together');
  const out = output(opts.has('json'));
  const { ipam, store, noPoolsBecause, close } = await openClusterIpam(choice);
  // A ConfigMap round trip per step on a slow API server can take seconds: say where we are.
  const slow = setTimeout(() => out.progress(`pool ${command}: waiting for ${store} …`), 1_000);
  try {
    switch (command) {
      case 'list': {
        const rows = await listPools(ipam);
        const why = rows.length === 0 ? await noPoolsBecause() : undefined;
        if (why !== undefined && out.json) process.stderr.write(`${why}\n`);
        out.result(rows, why ?? renderPools(rows));
        return 0;
      }
      case 'add': {
        const pool = await addPool(ipam, {
          cidr: positional!,
          ...(opts.has('name') && { name: opts.get('name')! }),
          ...(opts.has('block-size') && { blockSize: opts.int('block-size', 16, 126)! }),
          ...(opts.has('nat-outgoing') && { natOutgoing: true }),
          ...(opts.has('no-nat-outgoing') && { natOutgoing: false }),
          ...(opts.has('mode') && { mode: opts.choice<RoutingMode>('mode', ROUTING_MODES, 'vxlan') }),
        });
        out.result(pool, `added pool ${pool.cidr} (${pool.name}): /${pool.blockSize} node blocks, NAT ${pool.natOutgoing ? 'on' : 'off'}, ${pool.mode}`);
        return 0;
      }
      case 'disable':
      case 'enable': {
        const pool = await setPoolDisabled(ipam, positional!, command === 'disable');
        out.result(
          pool,
          command === 'disable'
            ? `disabled pool ${pool.cidr} (${pool.name}): no new pod IPs from it; existing ones stay until their pods go`
            : `enabled pool ${pool.cidr} (${pool.name})`,
        );
        return 0;
      }
      default: {
        const done = await deletePool(ipam, positional!, opts.has('force'));
        out.result(
          done,
          `deleted pool ${done.pool.cidr} (${done.pool.name}) and ${done.blocks.length} empty block(s)${done.released.length > 0 ? `; dropped ${done.released.length} pod IP(s): ${done.released.map((r) => r.ip).join(', ')}` : ''}`,
        );
        return 0;
      }
    }
  } finally {
    clearTimeout(slow);
    await close();
  }
}
