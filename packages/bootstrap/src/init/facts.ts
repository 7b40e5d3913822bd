// gatherFacts(): what preflight judges, read from this host — addresses and routes over rtnetlink,
// sysctls from /proc/sys, the CNI conf dir under the root, programs on PATH, whether a kubeconfig
// answers — and kernel support probed by creating and deleting one link of each kind in a throwaway
// namespace (never the host's). Reads only; the probe namespace is deleted in `finally`.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, readdirSync, readFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { createNetns, deleteNetns, type LinkSpec, Rtnl } from '@netboot/core';
import type { HostFacts, KernelFeature } from './types.js';

export interface GatherOptions {
  /** Stand-in root: the CNI conf dir is read under it; default '/'. */
  root?: string;
  /** The kubeconfig to try; default $KUBECONFIG, else /etc/kubernetes/admin.conf when root is '/'. */
  kubeconfig?: string;
  /** Probe the kernel's link kinds (needs root, makes a throwaway namespace); default true. */
  probeKernel?: boolean;
}

const CNI_EXTENSIONS = ['.conf', '.conflist', '.json'];

/** `command -v name`: the first executable of that name on PATH. */
function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

function readSysctl(key: string): string | undefined {
  try {
    return readFileSync(`/proc/sys/${key.replaceAll('.', '/')}`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** `ip -j addr`, `ip -j route` and the default route's device, in the caller's namespace. */
function network(rtnl: Rtnl): Pick<HostFacts, 'addresses' | 'routes' | 'uplink'> {
  const names = new Map(rtnl.link.list().map((l) => [l.index, l]));
  const addrs = rtnl.addr.list().filter((a) => a.scope === 'global');
  const addresses = addrs.map((a) => ({ dev: names.get(a.index)?.name ?? String(a.index), cidr: a.cidr }));
  const routes: HostFacts['routes'] = [];
  let uplinkIndex: number | undefined;
  for (const family of [4, 6] as const)
    for (const r of rtnl.route.list({ family })) {
      const dev = r.dev ?? r.nexthops?.[0]?.dev;
      if (r.dst === 'default') {
        uplinkIndex ??= dev;
        continue;
      }
      if (r.type !== 'unicast') continue;
      routes.push({ dst: r.dst, protocol: r.protocol, ...(dev === undefined ? {} : { dev: names.get(dev)?.name ?? String(dev) }) });
    }
  const link = uplinkIndex === undefined ? undefined : names.get(uplinkIndex);
  const uplink = link && { name: link.name, mtu: link.mtu, cidrs: addrs.filter((a) => a.index === link.index).map((a) => a.cidr) };
  return { addresses, routes, ...(uplink ? { uplink } : {}) };
}

/** Creates then deletes a bridge, a veth pair and a VXLAN device inside a namespace made for it. */
function probeKernel(): Pick<HostFacts, 'kernel' | 'kernelNotProbed'> {
  const ns = `netboot-probe-${randomBytes(4).toString('hex')}`;
  const specs: Record<KernelFeature, LinkSpec> = {
    bridge: { kind: 'bridge', name: 'probe-br' },
    veth: { kind: 'veth', name: 'probe-a', peer: { name: 'probe-b' } },
    vxlan: { kind: 'vxlan', name: 'probe-vx', vni: 1, port: 4789 },
  };
  const out: HostFacts['kernel'] = {};
  try {
    createNetns(ns);
  } catch (err) {
    // Not root (EPERM): the kernel is left unjudged rather than failed.
    return { kernel: out, kernelNotProbed: `no throwaway namespace to probe in (${(err as Error).message})` };
  }
  try {
    using rtnl = Rtnl.open({ netns: ns });
    for (const [feature, spec] of Object.entries(specs) as [KernelFeature, LinkSpec][]) {
      try {
        rtnl.link.add(spec);
        rtnl.link.del(spec.name);
        out[feature] = { ok: true };
      } catch (err) {
        out[feature] = { ok: false, error: (err as Error).message };
      }
    }
  } finally {
    deleteNetns(ns);
  }
  return { kernel: out };
}

/** The CNI configs a runtime would load from `<root>/etc/cni/net.d`. */
function cniConfigs(root: string): HostFacts['cniConfigs'] {
  const dir = join(root, 'etc/cni/net.d');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => CNI_EXTENSIONS.some((e) => f.endsWith(e)))
    .sort()
    .map((file) => {
      const text = readFileSync(join(dir, file), 'utf8');
      try {
        const conf = JSON.parse(text) as { name?: string; type?: string; plugins?: { type?: string }[] };
        const plugins = (conf.plugins ?? [conf]).map((p) => p.type).filter((t): t is string => typeof t === 'string');
        return { file, plugins, text, ...(typeof conf.name === 'string' ? { network: conf.name } : {}) };
      } catch {
        return { file, plugins: [], text };
      }
    });
}

function kubeconfigFact(path: string | undefined, kubectl: string | undefined): HostFacts['kubeconfig'] {
  if (path === undefined) return undefined;
  if (!existsSync(path)) return { path, works: false, error: 'no such file' };
  if (kubectl === undefined) return { path, works: false, error: 'kubectl is not installed' };
  try {
    execFileSync(kubectl, ['--kubeconfig', path, 'get', '--raw', '/readyz', '--request-timeout=5s'], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
    return { path, works: true };
  } catch (err) {
    const stderr = String((err as { stderr?: Buffer }).stderr ?? '').trim();
    return { path, works: false, error: stderr.split('\n').at(-1) || (err as Error).message };
  }
}

/** Reads this host for preflight. Effectful (netlink, /proc, processes), but changes nothing on the host. */
export function gatherFacts(options: GatherOptions = {}): HostFacts {
  const root = resolve(options.root ?? '/');
  using rtnl = Rtnl.open();
  const programs: HostFacts['programs'] = {};
  for (const name of ['nft', 'kubeadm', 'kubectl'] as const) {
    const path = which(name);
    if (path !== undefined) programs[name] = path;
  }
  let kubeadmVersion: string | undefined;
  if (programs.kubeadm !== undefined)
    try {
      kubeadmVersion = execFileSync(programs.kubeadm, ['version', '-o', 'short'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    } catch {
      // a kubeadm that cannot say its version is judged without one
    }
  const kubeconfig = kubeconfigFact(
    options.kubeconfig ?? process.env.KUBECONFIG ?? (root === '/' ? '/etc/kubernetes/admin.conf' : undefined),
    programs.kubectl,
  );
  const sysctls: HostFacts['sysctls'] = {};
  const read = { ipForward: 'net.ipv4.ip_forward', ipv6Forward: 'net.ipv6.conf.all.forwarding', bridgeNfCallIptables: 'net.bridge.bridge-nf-call-iptables' };
  for (const [field, key] of Object.entries(read) as [keyof HostFacts['sysctls'], string][]) {
    const value = readSysctl(key);
    if (value !== undefined) sysctls[field] = value;
  }
  return {
    ...network(rtnl),
    sysctls,
    ...(options.probeKernel === false ? { kernel: {} } : probeKernel()),
    cniConfigs: cniConfigs(root),
    programs,
    uid: process.getuid?.() ?? 0,
    ...(kubeadmVersion === undefined ? {} : { kubeadmVersion }),
    ...(kubeconfig === undefined ? {} : { kubeconfig }),
  };
}
