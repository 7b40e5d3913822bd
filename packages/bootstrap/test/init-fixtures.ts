// Host facts for init's tests: a healthy control-plane node, which each test spoils in one way; and a
// listing of what a run left under a root.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { conflistText } from '../src/cni/install.js';
import type { HostFacts } from '../src/init/types.js';

export function goodFacts(): HostFacts {
  return {
    addresses: [
      { dev: 'eth0', cidr: '192.168.1.10/24' },
      { dev: 'eth0', cidr: '2001:db8:1::10/64' },
    ],
    routes: [
      { dst: '192.168.1.0/24', dev: 'eth0', protocol: 2 },
      { dst: '2001:db8:1::/64', dev: 'eth0', protocol: 2 },
    ],
    uplink: { name: 'eth0', mtu: 1500, cidrs: ['192.168.1.10/24', '2001:db8:1::10/64'] },
    sysctls: { ipForward: '1', ipv6Forward: '1', bridgeNfCallIptables: '1' },
    kernel: { bridge: { ok: true }, veth: { ok: true }, vxlan: { ok: true } },
    cniConfigs: [],
    programs: { nft: '/usr/sbin/nft' },
  };
}

/** netboot's own conflist as `netboot cni install` writes it (what a second run finds). */
export const OWN_CONFLIST = { file: '10-netboot.conflist', network: 'netboot', plugins: ['netboot', 'portmap'], text: conflistText() };

/** What `join` (or init without kubeadm or manifests) installs under its root: plugin, conflist, its record. */
export const JOIN_FILES = ['etc/cni/net.d/10-netboot.conflist', 'opt/cni/bin/netboot', 'var/lib/netboot/installed.json'];

/** What `init` installs under its root: the kubeadm config and the manifests beside join's, sorted as `tree` lists them. */
export const INIT_FILES = [...JOIN_FILES, 'etc/netboot/kubeadm.yaml', 'etc/netboot/netboot.yaml'].sort();

/** Every file under `dir`, relative, sorted ([] when it does not exist). */
export const tree = (dir: string): string[] =>
  existsSync(dir)
    ? readdirSync(dir, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
        .sort()
    : [];
