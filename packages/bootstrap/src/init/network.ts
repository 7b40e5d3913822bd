// Settles the pod network from the flags, the user's kubeadm config and the host: one answer for the
// pod CIDRs, service CIDRs, node mask and mode, or an error naming the two sources that disagree. Pure.
import { networkOf } from '@netboot/core/ip';
import { Cidr, parseCidrList } from '@netboot/ipam';
import type { UserKubeadmConfig } from '../kubeadm/config.js';
import { InitOptionError, KubeadmConfigConflictError } from './errors.js';
import type { HostFacts, NetworkSettings, PlanOptions } from './types.js';

const DEFAULT_POD = '10.244.0.0/16';
const DEFAULT_SERVICE = { ipv4: '10.96.0.0/12', ipv6: 'fd00:10:96::/112' };
const DEFAULT_MASK = { ipv4: 24, ipv6: 64 };

/** A CIDR source that did not parse (not a CIDR, host bits set, two of one family): a preflight failure. */
export interface CidrProblem {
  /** Where it came from: `--pod-cidr`, `<file> networking.podSubnet`, … */
  source: string;
  value: string;
  reason: string;
  /** What a valid value looks like, for the fix line. */
  example: string;
}

/**
 * Parses a CIDR list (flags may repeat and may hold `a,b`), IPv4 first. One that does not parse is
 * recorded in `problems` and counts as not given, so the rest can still be planned and preflight lists it.
 */
function cidrList(values: readonly string[], source: string, example: string, problems: CidrProblem[]): Cidr[] | undefined {
  const parts = values.flatMap((v) => v.split(','));
  try {
    return parseCidrList(parts).sort((a, b) => a.family - b.family);
  } catch (err) {
    problems.push({ source, value: parts.join(','), reason: (err as Error).message, example });
    return undefined;
  }
}

const same = (a: Cidr[], b: Cidr[]) => a.length === b.length && a.every((c, i) => c.equals(b[i]!));
const text = (cidrs: Cidr[]) => cidrs.map(String).join(',');

/** The first of `sources` that says something; all that do must agree. */
function agree(sources: [string, Cidr[] | undefined][], subject: string): Cidr[] | undefined {
  const given = sources.filter((s): s is [string, Cidr[]] => s[1] !== undefined);
  const [first] = given;
  for (const [name, cidrs] of given.slice(1))
    if (!same(first![1], cidrs))
      throw new KubeadmConfigConflictError(
        `${first![0]} says ${subject} ${text(first![1])} but ${name} says ${text(cidrs)}: kubeadm and the pod network must agree — make them equal or drop one`,
      );
  return first?.[1];
}

function mask(value: string | number | undefined, family: 4 | 6, what: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > (family === 4 ? 32 : 128)) throw new InitOptionError(`${what} ${value} is not a prefix length for IPv${family}`);
  return n;
}

/** The mode auto means: host-gw when every known peer is on this node's L2 subnet, else vxlan. */
function resolveMode(o: PlanOptions, facts: HostFacts | undefined): Pick<NetworkSettings, 'mode' | 'modeReason'> {
  const requested = o.mode ?? 'auto';
  if (requested !== 'auto') return { mode: requested, modeReason: `--mode ${requested}` };
  const peers = o.peers ?? [];
  if (peers.length === 0) return { mode: 'vxlan', modeReason: 'auto: no other node known (--peer), vxlan works across subnets' };
  const subnets = (facts?.uplink?.cidrs ?? []).map((c) => Cidr.parse(networkOf(c)));
  const off = peers.filter((p) => !subnets.some((s) => s.contains(p)));
  if (subnets.length > 0 && off.length === 0) return { mode: 'host-gw', modeReason: `auto: every known node is on ${subnets.map(String).join(', ')}` };
  return { mode: 'vxlan', modeReason: subnets.length === 0 ? 'auto: this node’s subnet is unknown' : `auto: ${off.join(', ')} not on this node’s subnet` };
}

/**
 * The network init/join will set up. Sources, first wins but all must agree: the flags, then the
 * user's kubeadm ClusterConfiguration (networking.*), then its controller-manager flags, then defaults.
 * A source that is not a valid CIDR list is skipped and returned in cidrProblems (preflight fails on it);
 * sources that disagree, and bad masks or datastore options, throw.
 */
export function settleNetwork(
  o: PlanOptions,
  user: UserKubeadmConfig | undefined,
  facts: HostFacts | undefined,
): { settings: NetworkSettings; cidrProblems: CidrProblem[] } {
  const from = user?.path ?? '';
  const cidrProblems: CidrProblem[] = [];
  const parsed = (values: string[] | string | undefined, source: string, example: string) =>
    values === undefined || values.length === 0 ? undefined : cidrList(typeof values === 'string' ? [values] : values, source, example, cidrProblems);
  const podExample = `${DEFAULT_POD} (dual-stack: ${DEFAULT_POD},fd00:10:244::/56)`;
  const pod = agree(
    [
      ['--pod-cidr', parsed(o.podCIDRs, '--pod-cidr', podExample)],
      [`${from} networking.podSubnet`, parsed(user?.podSubnet, `${from} networking.podSubnet`, podExample)],
      [`${from} controllerManager cluster-cidr`, parsed(user?.args['cluster-cidr'], `${from} controllerManager cluster-cidr`, podExample)],
    ],
    'the pod CIDR is',
  ) ?? [Cidr.parse(DEFAULT_POD)];
  const serviceExample = `${DEFAULT_SERVICE.ipv4} (IPv6: ${DEFAULT_SERVICE.ipv6})`;
  const service = agree(
    [
      ['--service-cidr', parsed(o.serviceCIDRs, '--service-cidr', serviceExample)],
      [`${from} networking.serviceSubnet`, parsed(user?.serviceSubnet, `${from} networking.serviceSubnet`, serviceExample)],
    ],
    'the service CIDR is',
  ) ?? [Cidr.parse(pod.some((c) => c.family === 4) ? DEFAULT_SERVICE.ipv4 : DEFAULT_SERVICE.ipv6)];

  const nodeMask: NetworkSettings['nodeMask'] = {};
  for (const fam of [4, 6] as const) {
    const key = fam === 4 ? 'ipv4' : 'ipv6';
    if (!pod.some((c) => c.family === fam)) continue;
    const single = pod.length === 1 ? user?.args['node-cidr-mask-size'] : undefined;
    const flag = mask(o.nodeMask?.[key], fam, `--node-mask (IPv${fam})`);
    const fromUser = mask(user?.args[`node-cidr-mask-size-${key}`] ?? single, fam, `${from} node-cidr-mask-size`);
    if (flag !== undefined && fromUser !== undefined && flag !== fromUser)
      throw new KubeadmConfigConflictError(`--node-mask says /${flag} but ${from} says node-cidr-mask-size /${fromUser}: make them equal or drop one`);
    nodeMask[key] = flag ?? fromUser ?? DEFAULT_MASK[key];
  }
  if (user?.args['allocate-node-cidrs'] === 'false')
    throw new KubeadmConfigConflictError(`${from} sets allocate-node-cidrs "false": nodes would get no pod CIDR; remove it`);

  const datastore = o.datastore ?? 'kubernetes';
  const etcdEndpoints = o.etcdEndpoints ?? [];
  if (datastore === 'etcd' && etcdEndpoints.length === 0) throw new InitOptionError('--datastore etcd needs --etcd-endpoint URL (repeat for each member)');
  return {
    settings: { podCIDRs: pod.map(String), serviceCIDRs: service.map(String), nodeMask, ...resolveMode(o, facts), datastore, etcdEndpoints },
    cidrProblems,
  };
}
