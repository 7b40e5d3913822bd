// `netboot status`: nodes, their pod subnets, node IPs, modes and published health from the datastore,
// and the local agent's reconcile health from its health port. Exit 0: no problems; 1: problems (listed); 2: usage.
import { hostname } from 'node:os';
import { chooseDatastore, DATASTORE_OPTIONS, DATASTORE_USAGE, describeDatastore, listNodeRecords } from '../ops/datastore.js';
import { type AgentHealth, probeAgent } from '../ops/health.js';
import { judgeStatus, renderStatus } from '../ops/status.js';
import { Options, output } from './args.js';

const USAGE = `usage: netboot status [datastore options] [--node NAME] [--health-port N] [--json]

Every node's record (node IPs, pod subnets, routing mode) with the health summary its agent publishes
there (ready ✓/✗, last reconcile's age, reconcile errors; republished on a readiness change and once per
resync period), and the local agent asked directly (/readyz and /metrics on 127.0.0.1:--health-port,
default 9099; 0 asks nothing), which wins for this node. A record without a summary (an older agent)
shows "unknown". Exit 1 when a problem is found (overlapping pod subnets, a shared node IP, mixed
modes, the local agent not ready).

  --node NAME   this node's name (default the host name), whose agent is asked

${DATASTORE_USAGE}

examples:
  netboot status --etcd-endpoint http://127.0.0.1:2379
  netboot status --kubeconfig /etc/kubernetes/admin.conf --json | jq '.nodes[].podCIDRs'
  netboot status --nodes-file /etc/netboot/nodes.json --health-port 0`;

export async function statusMain(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const opts = Options.parse(argv, { flags: ['json'], allowed: [...DATASTORE_OPTIONS, 'node', 'health-port'] });
  const choice = chooseDatastore(opts);
  const port = opts.int('health-port', 0, 65_535) ?? 9099;
  const out = output(opts.has('json'));
  out.progress(`reading nodes from ${describeDatastore(choice)} …`);
  const [records, local] = await Promise.all([listNodeRecords(choice), port === 0 ? undefined : probeAgent(port)]);
  const health = new Map<string, AgentHealth>();
  if (local !== undefined) health.set(opts.get('node') ?? hostname(), local);
  const report = judgeStatus(describeDatastore(choice), records, health);
  out.result(report, renderStatus(report));
  return report.problems.length === 0 ? 0 : 1;
}
