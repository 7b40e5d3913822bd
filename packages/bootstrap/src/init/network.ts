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

/** Parses a CIDR list (flags may repeat and may hold `a,b`), IPv4 first. */
function cidrList(values: readonly string[], what: string): Cidr[] {
  try {
    return parseCidrList(values.flatMap((v) => v.split(','))).sort((a, b) => a.family - b.family);
  } catch (err) {
    throw new InitOptionError(`${what}: ${(err as Error).message}`, { cause: err });
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
 */
export function settleNetwork(o: PlanOptions, user: UserKubeadmConfig | undefined, facts: HostFacts | undefined): NetworkSettings {
  const from = user?.path ?? '';
  const parsed = (values: string[] | string | undefined, what: string) =>
    values === undefined || values.length === 0 ? undefined : cidrList(typeof values === 'string' ? [values] : values, what);
  const pod =
    agree(
      [
        ['--pod-cidr', parsed(o.podCIDRs, '--pod-cidr')],
        [`${from} networking.podSubnet`, parsed(user?.podSubnet, `${from} networking.podSubnet`)],
        [`${from} controllerManager cluster-cidr`, parsed(user?.args['cluster-cidr'], `${from} cluster-cidr`)],
      ],
      'the pod CIDR is',
    ) ?? cidrList([DEFAULT_POD], 'default');
  const service =
    agree(
      [
        ['--service-cidr', parsed(o.serviceCIDRs, '--service-cidr')],
        [`${from} networking.serviceSubnet`, parsed(user?.serviceSubnet, `${from} networking.serviceSubnet`)],
      ],
      'the service CIDR is',
    ) ?? cidrList([pod.some((c) => c.family === 4) ? DEFAULT_SERVICE.ipv4 : DEFAULT_SERVICE.ipv6], 'default');

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
  return { podCIDRs: pod.map(String), serviceCIDRs: service.map(String), nodeMask, ...resolveMode(o, facts), datastore, etcdEndpoints };
}
