// `netboot ipam show|check|release|gc`: calicoctl ipam's jobs on the cluster store (etcd) or on one
// node's host-local directory. Exit 0: fine; 1: problems found (or left for a human); 2: usage.
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Attachment } from '@netboot/ipam';
import { DEFAULT_CNI_CACHE_DIR } from '../ops/cni-cache.js';
import { chooseDatastore, DATASTORE_OPTIONS, DATASTORE_USAGE } from '../ops/datastore.js';
import {
  check,
  type IpamSource,
  openClusterSource,
  openLocalSource,
  planGc,
  readReport,
  releaseFromReport,
  renderCheck,
  renderGcPlan,
  renderRelease,
  renderShow,
  show,
} from '../ops/ipam.js';
import { Options, output, specOf, subcommand, UsageError } from './args.js';

const USAGE = `usage:
  netboot ipam show    [--pool NAME|CIDR] [--node NAME] [--blocks] [--ip ADDR] [store] [--json]
  netboot ipam check   [store] [--json]                  exit 1 when problems are found
  netboot ipam release --from-report FILE [store] [--json]
  netboot ipam gc      [--dry-run] [--valid CONTAINER_ID/IFNAME]... [store] [--json]

store: the cluster's, on the agents' etcd (--etcd-endpoint URL [--etcd-prefix P]) or with
  --datastore kubernetes in the agents' --cluster-ipam ConfigMap kube-system/netboot-ipam; or else this node's
  host-local directory: --data-dir DIR (default /var/lib/cni/networks/<--network, default netboot>),
  its subnets from --subnet CIDR (repeatable) or the lease file (--lease-file, default
  /run/netboot/subnet.json), live pods from libcni's cache (--cache-dir, default /var/lib/cni).
  Cluster checks take the nodes from the datastore: ${DATASTORE_USAGE.replace(/\n/g, ' ')}

show     usage per pool; --ip: who holds an address (node, container ID, interface); --blocks: node
         blocks; --pool/--node: also list the pod IPs.
check    leaks and inconsistencies: blocks of deleted pools or of nodes without a record, IPs held
         twice, corrupt entries; node-local: addresses outside the node's subnets, reservations of no
         live pod. --json writes the report that release reads.
release  releases exactly what a check report lists, each only while still true as reported (stale
         entries are refused and listed); duplicates and corrupt entries are left for a human.
gc       releases what needs no human: node-local, reservations of no live pod; cluster, blocks of
         deleted pools and empty blocks of nodes without a record. --dry-run shows it.

examples:
  netboot ipam show --ip 10.244.1.7 --etcd-endpoint http://127.0.0.1:2379
  netboot ipam show --blocks --node node1 --etcd-endpoint http://127.0.0.1:2379
  netboot ipam check --json --etcd-endpoint http://127.0.0.1:2379 > report.json
  netboot ipam release --from-report report.json --etcd-endpoint http://127.0.0.1:2379
  netboot ipam gc --dry-run --data-dir /var/lib/cni/networks/netboot`;

const STORE_OPTIONS = [...DATASTORE_OPTIONS, 'data-dir', 'network', 'subnet', 'lease-file', 'cache-dir', 'node'];

async function openSource(opts: Options): Promise<IpamSource> {
  const choice = chooseDatastore(opts);
  // Kubernetes only when asked for: a bare `netboot ipam show` on a node means its own reservations.
  const cluster = choice.type === 'etcd' || (choice.type === 'kubernetes' && opts.get('datastore') === 'kubernetes');
  if (cluster && !opts.has('data-dir')) return openClusterSource(choice);
  return openLocalSource({
    dataDir: opts.get('data-dir') ?? join('/var/lib/cni/networks', opts.get('network') ?? 'netboot'),
    subnets: opts.all('subnet'),
    leaseFile: opts.get('lease-file') ?? '/run/netboot/subnet.json',
    node: opts.get('node') ?? hostname(),
    cacheDir: opts.get('cache-dir') ?? DEFAULT_CNI_CACHE_DIR,
  });
}

function parseValid(list: string[]): Attachment[] | undefined {
  if (list.length === 0) return undefined;
  return list.map((v) => {
    const [containerId, ifname, ...rest] = v.split('/');
    if (!containerId || !ifname || rest.length > 0) throw new UsageError(`--valid ${v}: expected CONTAINER_ID/IFNAME`);
    return { containerId, ifname };
  });
}

export async function ipamMain(argv: readonly string[]): Promise<number> {
  const sub = subcommand(argv, USAGE);
  if ('exit' in sub) return sub.exit;
  const { command, rest } = sub;
  const spec = specOf('ipam', command, {
    show: { flags: ['json', 'blocks'], allowed: [...STORE_OPTIONS, 'pool', 'ip'] },
    check: { flags: ['json'], allowed: STORE_OPTIONS },
    release: { flags: ['json'], allowed: [...STORE_OPTIONS, 'from-report'] },
    gc: { flags: ['json', 'dry-run'], allowed: [...STORE_OPTIONS, 'valid'] },
  });
  const opts = Options.parse(rest, spec);
  const out = output(opts.has('json'));
  if (command === 'release' && !opts.has('from-report')) throw new UsageError('ipam release needs --from-report FILE (written by `netboot ipam check --json`)');
  const valid = parseValid(opts.all('valid'));
  const src = await openSource(opts);
  out.progress(`${command === 'show' ? 'reading' : 'checking'} ${src.store} …`);
  try {
    switch (command) {
      case 'show': {
        const s = await show(src, {
          ...(opts.has('pool') && { pool: opts.get('pool')! }),
          ...(opts.has('node') && src.kind === 'cluster' && { node: opts.get('node')! }),
          ...(opts.has('ip') && { ip: opts.get('ip')! }),
          blocks: opts.has('blocks'),
        });
        out.result(s, renderShow(s));
        return 0;
      }
      case 'check': {
        const report = await check(src);
        out.result(report, renderCheck(report));
        return report.problems.length === 0 ? 0 : 1;
      }
      case 'release': {
        const outcome = await releaseFromReport(src, readReport(opts.get('from-report')!, src));
        out.result(outcome, renderRelease(outcome));
        return outcome.skipped.length + outcome.stale.length === 0 ? 0 : 1;
      }
      default: {
        const plan = await planGc(src, valid);
        if (opts.has('dry-run')) {
          out.result(plan, renderGcPlan(plan));
          return plan.left.length === 0 ? 0 : 1;
        }
        const outcome = { ...(await releaseFromReport(src, plan.report)), left: plan.left };
        out.result(outcome, `${renderRelease(outcome)}${plan.left.map((p) => `\n✗ left for a human: ${p.detail}`).join('')}`);
        return plan.left.length === 0 ? 0 : 1;
      }
    }
  } finally {
    await src.close();
  }
}
