// `netboot init` (control-plane node), `netboot join` (worker) and `netboot reset`: the command-line
// face of plan/apply/reset (src/init). Read the host, plan, print preflight, ask, apply, say what changed.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { InvalidInputError } from '@netboot/core/errors';
import { readClusterSettings, withClusterSettings } from '../init/cluster.js';
import { apply, writeArtifacts } from '../init/apply.js';
import { gatherFacts } from '../init/facts.js';
import { plan } from '../init/plan.js';
import { formatChecks } from '../init/preflight.js';
import { reset } from '../init/reset.js';
import type { ApplyReport, HostFacts, KubeadmApi, Plan, PlanOptions, StepReport } from '../init/types.js';
import { Options, type Output, output, UsageError } from './args.js';

const NETWORK_USAGE = `  --pod-cidr CIDR[,CIDR]   pod network, IPv4 and/or IPv6 (dual-stack); default 10.244.0.0/16
  --service-cidr CIDR      default 10.96.0.0/12
  --node-mask N[,M]        each node's slice: IPv4[,IPv6] prefix length; default 24,64
  --mode MODE              auto | host-gw | vxlan | cross-subnet (auto: host-gw when every --peer shares
                           this node's subnet, else vxlan)
  --peer IP                another node's address, for --mode auto (repeat)
  --datastore KIND         kubernetes (default) | etcd (with --etcd-endpoint URL, repeat)
  --nodes N                nodes the pod CIDR must have slices for (default 1)
  --cni-from DIR           where the built plugin is (default dist/cni; built there when missing)
  --root DIR               stand-in filesystem root (tests, image builds); kubeadm is then never run
  --force                  replace another pod network's CNI config (set aside; reset restores it)
  --dry-run                change nothing: print the preflight and what would change
  --yes                    do not ask before changing this node
  --json                   the plan and the report as JSON`;

const INIT_USAGE = `usage: netboot init [options]

Sets up this control-plane node's pod network: preflight, a kubeadm ClusterConfiguration that agrees with
the network, \`kubeadm init --config\` (when kubeadm is installed), the CNI plugin and conflist, the agent's
manifests (kubectl apply when a kubeconfig works, else a file), and the \`netboot join\` line for workers.
A second run changes nothing and says so; \`netboot reset\` removes what init installed.

${NETWORK_USAGE}
  --kubeadm-config FILE    merge into your kubeadm config (other documents, fields and comments kept)
  --kubeadm-api API        v1beta4 (default; kubeadm >= 1.31) | v1beta3 (kubeadm <= 1.36)
  --out DIR                write kubeadm.yaml and netboot.yaml here instead of /etc/netboot and kubectl
  --kubeconfig FILE        apply the manifests with this (default $KUBECONFIG, /etc/kubernetes/admin.conf)
  --image REF              the agent's image (default ghcr.io/netboot/netboot:<version>)

examples:
  netboot init --pod-cidr 10.244.0.0/16 --yes
  netboot init --pod-cidr 10.244.0.0/16,fd00:10:244::/56 --service-cidr 10.96.0.0/12,fd00:10:96::/112
  netboot init --kubeadm-config my-kubeadm.yaml --dry-run        # preflight + the merged config, nothing changed
  netboot init --dry-run --pod-cidr 10.244.0.0/16 --out /tmp/netboot   # only write the artifacts to /tmp/netboot`;

const JOIN_USAGE = `usage: netboot join [options]

Prepares a worker: preflight with the cluster's settings (read from its kubeadm-config and netboot-config
ConfigMaps when a kubeconfig answers, else from the flags init printed), then the CNI plugin and conflist.
Join the node to Kubernetes itself with \`kubeadm join\` (\`kubeadm token create --print-join-command\`).

${NETWORK_USAGE}
  --kubeconfig FILE        read the cluster's settings with this (default $KUBECONFIG, /etc/kubernetes/kubelet.conf)

examples:
  netboot join --pod-cidr 10.244.0.0/16 --service-cidr 10.96.0.0/12 --node-mask 24 --mode vxlan --yes
  netboot join --kubeconfig /etc/kubernetes/kubelet.conf --yes`;

const RESET_USAGE = `usage: netboot reset [--root DIR] [--dry-run] [--yes] [--json]

Removes what init/join installed on this node, as their record (/var/lib/netboot/installed.json) lists it:
the plugin, the conflist, the kubeadm config, the manifests file or the applied objects; other pod
networks' configs set aside by --force are put back. \`kubeadm reset\` undoes kubeadm's part.

examples:
  netboot reset
  netboot reset --root /tmp/stand-in --dry-run`;

const NETWORK_FLAGS = ['force', 'dry-run', 'yes', 'json'];
const NETWORK_OPTIONS = ['pod-cidr', 'service-cidr', 'node-mask', 'mode', 'peer', 'datastore', 'etcd-endpoint', 'nodes', 'cni-from', 'root', 'kubeconfig'];

/** `--node-mask 24`, `--node-mask 24,64`: IPv4 then IPv6, or the one family the pod CIDRs have. */
function nodeMask(opts: Options, podCIDRs: string[]): PlanOptions['nodeMask'] {
  const text = opts.get('node-mask');
  if (text === undefined) return undefined;
  const parts = text.split(',').map((p) => {
    const n = Number(p);
    if (!Number.isInteger(n) || n < 1 || n > 128) throw new UsageError(`--node-mask ${text}: expected N or N,M (prefix lengths)`);
    return n;
  });
  if (parts.length === 2) return { ipv4: parts[0]!, ipv6: parts[1]! };
  if (parts.length !== 1) throw new UsageError(`--node-mask ${text}: expected N or N,M`);
  const v6Only = podCIDRs.length > 0 && podCIDRs.every((c) => c.includes(':'));
  return v6Only ? { ipv6: parts[0]! } : { ipv4: parts[0]! };
}

/** The plan options every command's flags share. */
function networkOptions(opts: Options): PlanOptions {
  const list = (key: string) => opts.all(key).flatMap((v) => v.split(','));
  const podCIDRs = list('pod-cidr');
  const o: PlanOptions = { force: opts.has('force') };
  if (podCIDRs.length > 0) o.podCIDRs = podCIDRs;
  if (opts.has('service-cidr')) o.serviceCIDRs = list('service-cidr');
  const mask = nodeMask(opts, podCIDRs);
  if (mask !== undefined) o.nodeMask = mask;
  if (opts.has('mode')) o.mode = opts.choice('mode', ['auto', 'host-gw', 'vxlan', 'cross-subnet'] as const, 'auto');
  if (opts.has('datastore')) o.datastore = opts.choice('datastore', ['kubernetes', 'etcd'] as const, 'kubernetes');
  if (opts.has('etcd-endpoint')) o.etcdEndpoints = opts.all('etcd-endpoint');
  if (opts.has('peer')) o.peers = list('peer');
  const nodes = opts.int('nodes', 1, 1 << 24);
  if (nodes !== undefined) o.expectedNodes = nodes;
  const root = opts.get('root');
  if (root !== undefined) o.root = root;
  const from = resolve(opts.get('cni-from') ?? 'dist/cni');
  // The single executable when it was built, else the script fallback (as `netboot cni install --from`).
  o.cniBinary = [join(from, 'netboot'), join(from, 'netboot.cjs')].find((f) => existsSync(f)) ?? join(from, 'netboot');
  return o;
}

/** Yes when --yes, --dry-run, or the person at the terminal says so; a script must pass --yes. */
async function confirm(opts: Options, out: Output, question: string): Promise<boolean> {
  if (opts.has('yes')) return true;
  if (!process.stdin.isTTY || out.json)
    throw new UsageError('not asking without a terminal: pass --yes to change this node (or --dry-run to see what would change)');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

const MARK: Record<StepReport['action'], string> = {
  created: '+',
  updated: '~',
  ran: '>',
  unchanged: '=',
  printed: '-',
  'would-change': '?',
};

function renderReport(p: Plan, report: ApplyReport, dryRun: boolean): string {
  const lines = report.steps.map((s) => `${MARK[s.action]} ${s.step}: ${s.action}  ${s.detail}`);
  if (!report.changed) lines.push(dryRun ? 'nothing would change' : 'nothing to change');
  if (p.kubeadm !== undefined && !p.kubeadm.run) lines.push('', 'run kubeadm with this config:', `  ${p.kubeadm.command.join(' ')}`);
  if (p.role === 'init') lines.push('', 'on each worker, after kubeadm join:', `  ${report.joinCommand}`);
  return lines.join('\n');
}

/** Plans with this host's facts, prints preflight, applies (after asking); exit 0 ok, 1 preflight failed. */
async function planAndApply(opts: Options, options: PlanOptions): Promise<number> {
  const out = output(opts.has('json'));
  const dryRun = opts.has('dry-run');
  // Bad input is a usage error (exit 2), found before the host is read.
  const planned = (facts?: HostFacts) => {
    try {
      return plan({ ...options, ...(facts === undefined ? {} : { facts }) });
    } catch (err) {
      if (err instanceof InvalidInputError) throw new UsageError(err.message, { cause: err });
      throw err;
    }
  };
  planned();
  out.progress('inspecting this host (addresses, routes, sysctls, kernel link kinds, CNI configs)…');
  let facts: HostFacts | undefined;
  try {
    facts = gatherFacts({
      ...(options.root === undefined ? {} : { root: options.root }),
      ...(options.kubeconfig ? { kubeconfig: options.kubeconfig } : {}),
    });
  } catch (err) {
    // A dry run still plans where the host cannot be read (another OS, no netlink): its checks are skipped.
    if (!dryRun) throw err;
    out.progress(`cannot read this host (${(err as Error).message}): host checks skipped`);
  }
  const p = planned(facts);
  if (!out.json) process.stdout.write(`${formatChecks(p.preflight)}\n`);
  // Rendering the artifacts changes nothing on this node: a dry run writes them even when preflight fails,
  // but not for CIDRs that did not parse (the artifacts would hold the defaults standing in for them).
  const cidrsValid = !p.preflight.some((c) => c.id === 'cidr-valid' && c.status === 'fail');
  if (dryRun && opts.has('out') && p.role === 'init' && cidrsValid) {
    const written = writeArtifacts(p, resolve(opts.get('out')!));
    if (!out.json) process.stdout.write(`${written.map((s) => `${MARK[s.action]} ${s.step}: ${s.action}  ${s.detail}`).join('\n')}\n`);
  }
  if (!p.ok) {
    if (out.json) out.result({ plan: p, ok: false });
    else process.stderr.write('netboot: preflight failed; nothing on this node was changed\n');
    return 1;
  }
  if (dryRun && p.kubeadm !== undefined && !out.json) process.stdout.write(`\n# ${p.kubeadm.path}\n${p.kubeadm.yaml}\n`);
  if (!dryRun && !(await confirm(opts, out, `apply this to ${p.root}?`))) {
    process.stderr.write('netboot: nothing was changed\n');
    return 1;
  }
  const report = await apply(p, { dryRun, onProgress: (line) => out.progress(line) });
  out.result({ plan: p, ok: true, report }, renderReport(p, report, dryRun));
  return 0;
}

export async function initMain(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help')) {
    process.stdout.write(`${INIT_USAGE}\n`);
    return 0;
  }
  const opts = Options.parse(argv, { flags: NETWORK_FLAGS, allowed: [...NETWORK_OPTIONS, 'kubeadm-config', 'kubeadm-api', 'out', 'image'] });
  const options: PlanOptions = { ...networkOptions(opts), role: 'init' };
  const file = opts.get('kubeadm-config');
  if (file !== undefined) {
    if (!existsSync(file)) throw new UsageError(`--kubeadm-config ${file}: no such file`);
    options.kubeadmConfig = { text: readFileSync(file, 'utf8'), path: file };
  }
  if (opts.has('kubeadm-api')) options.kubeadmApi = opts.choice<KubeadmApi>('kubeadm-api', ['v1beta4', 'v1beta3'], 'v1beta4');
  for (const key of ['out', 'image', 'kubeconfig'] as const) {
    const value = opts.get(key);
    if (value !== undefined) options[key] = value;
  }
  return planAndApply(opts, options);
}

export async function joinMain(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help')) {
    process.stdout.write(`${JOIN_USAGE}\n`);
    return 0;
  }
  const opts = Options.parse(argv, { flags: NETWORK_FLAGS, allowed: NETWORK_OPTIONS });
  const flags = networkOptions(opts);
  const out = output(opts.has('json'));
  const root = flags.root === undefined ? '/' : resolve(flags.root);
  const kubeconfig =
    opts.get('kubeconfig') ??
    process.env.KUBECONFIG ??
    (root === '/' ? ['/etc/kubernetes/kubelet.conf', '/etc/kubernetes/admin.conf'].find((f) => existsSync(f)) : undefined);
  let options: PlanOptions = { ...flags, role: 'join' };
  if (kubeconfig !== undefined) {
    try {
      options = withClusterSettings(flags, readClusterSettings('kubectl', kubeconfig));
      out.progress(`read the cluster's settings with ${kubeconfig}`);
    } catch (err) {
      if ((err as { kind?: string }).kind === 'conflict') throw err;
      out.progress(`the cluster did not answer through ${kubeconfig} (${(err as Error).message.split('\n')[0]}): using the flags`);
    }
  }
  return planAndApply(opts, options);
}

export async function resetMain(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help')) {
    process.stdout.write(`${RESET_USAGE}\n`);
    return 0;
  }
  const opts = Options.parse(argv, { flags: ['dry-run', 'json', 'yes'], allowed: ['root'] });
  const out = output(opts.has('json'));
  if (!opts.has('dry-run') && !(await confirm(opts, out, 'remove what netboot installed on this node?'))) {
    process.stderr.write('netboot: nothing was changed\n');
    return 1;
  }
  const report = reset({ ...(opts.has('root') ? { root: opts.get('root')! } : {}), dryRun: opts.has('dry-run') });
  const lines = [...report.done.map((l) => `- ${l}`), ...report.left.map((l) => `! ${l}`)];
  if (report.done.length === 0) lines.push('nothing to remove (no install record)');
  out.result(report, lines.join('\n'));
  return report.left.length === 0 ? 0 : 1;
}
