// Preflight, judged from facts as data: every failure is its own check with its own message and fix,
// the only one failing, and apply() then refuses the plan with nothing written under the root.
import { readdirSync } from 'node:fs';
import { NETBOOT_PROTOCOL, VXLAN_DEFAULTS, vxlanOverhead } from '@netboot/routes';
import { rejectsA, withTempDir } from '@netboot/core/testing/pure';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { apply } from '../src/init/apply.js';
import { PreflightFailedError } from '../src/init/errors.js';
import { plan } from '../src/init/plan.js';
import { formatChecks, NETBOOT_ROUTES } from '../src/init/preflight.js';
import type { HostFacts, PlanOptions } from '../src/init/types.js';
import { goodFacts, OWN_CONFLIST } from './init-fixtures.js';

const DUAL = { podCIDRs: ['10.244.0.0/16', 'fd00:10:244::/56'] };

test('a healthy host passes every check (warnings only for what a person must still do)', () => {
  const p = plan({ ...DUAL, facts: goodFacts() });
  assert.ok(p.ok, formatChecks(p.preflight));
  assert.equal(
    p.preflight.filter((c) => c.status === 'fail'),
    [],
  );
  const ids = p.preflight.map((c) => c.id);
  for (const id of [
    'cidr-valid',
    'pod-service-disjoint',
    'service-size',
    'node-subnets',
    'mode',
    'host-disjoint',
    'kernel-bridge',
    'kernel-veth',
    'kernel-vxlan',
    'ip-forward-v4',
    'ip-forward-v6',
    'br-netfilter',
    'mtu',
    'cni-config',
    'nftables',
    'kubeadm',
    'manifests',
  ])
    assert.ok(ids.includes(id), `check ${id} is there`);
  assert.match(formatChecks(p.preflight), /^✓ pod CIDR 10\.244\.0\.0\/16,fd00:10:244::\/56 and service CIDR 10\.96\.0\.0\/12 are disjoint$/m);
});

type Case = { name: string; id: string; message: RegExp; fix: RegExp; options?: PlanOptions; facts?: (f: HostFacts) => void };
const FAILURES: Case[] = [
  {
    name: 'pod CIDR inside the service CIDR',
    id: 'pod-service-disjoint',
    options: { podCIDRs: ['10.96.0.0/16'] },
    message: /pod and service CIDRs overlap \(10\.96\.0\.0\/16 overlaps 10\.96\.0\.0\/12\).*CIDRNotAvailable/,
    fix: /--pod-cidr outside the --service-cidr/,
  },
  {
    name: 'service CIDR too large',
    id: 'service-size',
    options: { serviceCIDRs: ['172.0.0.0/8'] },
    message: /172\.0\.0\.0\/8 is larger than kube-apiserver accepts/,
    fix: /\/12 or longer/,
  },
  {
    name: 'too few node subnets',
    id: 'node-subnets',
    options: { podCIDRs: ['10.244.0.0/22'], expectedNodes: 5 },
    message: /10\.244\.0\.0\/22 in \/24 slices has 4 node subnets, fewer than the 5 nodes expected/,
    fix: /larger --pod-cidr/,
  },
  {
    name: 'node mask shorter than the pod CIDR',
    id: 'node-subnets',
    options: { nodeMask: { ipv4: 8 } },
    message: /node mask \/8 does not fit 10\.244\.0\.0\/16/,
    fix: /--node-mask between 16 and 30/,
  },
  {
    name: 'more node slices than the controller manager allows',
    id: 'node-subnets',
    options: { podCIDRs: ['fd00::/32'], serviceCIDRs: ['fd00:ffff::/112'] },
    message: /fd00::\/32 in \/64 slices is 2\^32 node subnets; kube-controller-manager allows at most 2\^16/,
    fix: /\/48 or longer/,
  },
  {
    name: 'pod CIDR on a host address',
    id: 'host-disjoint',
    facts: (f) => f.addresses.push({ dev: 'eth1', cidr: '10.244.3.5/24' }),
    message: /pod CIDR 10\.244\.0\.0\/16 overlaps 10\.244\.3\.5\/24 on eth1/,
    fix: /ip -br addr/,
  },
  {
    name: 'service CIDR under a host route',
    id: 'host-disjoint',
    facts: (f) => f.routes.push({ dst: '10.0.0.0/8', dev: 'wg0', protocol: 4 }),
    message: /service CIDR 10\.96\.0\.0\/12 overlaps the route 10\.0\.0\.0\/8 dev wg0/,
    fix: /ip route/,
  },
  {
    name: 'no VXLAN in the kernel',
    id: 'kernel-vxlan',
    facts: (f) => (f.kernel.vxlan = { ok: false, error: 'Operation not supported' }),
    message: /the kernel refused a vxlan link \(the overlay between subnets\): Operation not supported/,
    fix: /CONFIG_VXLAN, or --mode host-gw/,
  },
  {
    name: 'no veth in the kernel',
    id: 'kernel-veth',
    facts: (f) => (f.kernel.veth = { ok: false, error: 'Operation not supported' }),
    message: /the kernel refused a veth link \(each pod’s link\): Operation not supported/,
    fix: /use a kernel with veth support/,
  },
  {
    name: 'a pod CIDR that is not a CIDR',
    id: 'cidr-valid',
    options: { podCIDRs: ['bogus'] },
    message: /^--pod-cidr bogus is not a valid CIDR list: /,
    fix: /--pod-cidr 10\.244\.0\.0\/16/,
  },
  {
    name: 'two pod CIDRs of one family',
    id: 'cidr-valid',
    options: { podCIDRs: ['10.244.0.0/16,10.244.0.0/17'] },
    message: /^--pod-cidr 10\.244\.0\.0\/16,10\.244\.0\.0\/17 is not a valid CIDR list: .*one CIDR per IP family/,
    fix: /one CIDR per IP family/,
  },
  {
    name: 'a service CIDR with host bits set',
    id: 'cidr-valid',
    options: { serviceCIDRs: ['10.96.0.1/12'] },
    message: /^--service-cidr 10\.96\.0\.1\/12 is not a valid CIDR list: .*host bits/,
    fix: /--service-cidr 10\.96\.0\.0\/12/,
  },
  {
    name: 'no bridge in the kernel',
    id: 'kernel-bridge',
    facts: (f) => (f.kernel.bridge = { ok: false, error: 'EOPNOTSUPP' }),
    message: /refused a bridge link/,
    fix: /bridge support/,
  },
  {
    name: 'IPv4 forwarding off',
    id: 'ip-forward-v4',
    facts: (f) => (f.sysctls.ipForward = '0'),
    message: /net\.ipv4\.ip_forward = 0/,
    fix: /sysctl -w net\.ipv4\.ip_forward=1/,
  },
  {
    name: 'IPv6 forwarding off with IPv6 pods',
    id: 'ip-forward-v6',
    options: DUAL,
    facts: (f) => (f.sysctls.ipv6Forward = '0'),
    message: /net\.ipv6\.conf\.all\.forwarding = 0/,
    fix: /sysctl -w net\.ipv6\.conf\.all\.forwarding=1/,
  },
  {
    name: 'br_netfilter loaded but off',
    id: 'br-netfilter',
    facts: (f) => (f.sysctls.bridgeNfCallIptables = '0'),
    message: /bridge-nf-call-iptables = 0/,
    fix: /sysctl -w net\.bridge\.bridge-nf-call-iptables=1/,
  },
  {
    name: 'pod MTU below IPv6’s minimum',
    id: 'mtu',
    options: DUAL,
    facts: (f) => (f.uplink!.mtu = 1300),
    message: /uplink eth0 MTU 1300 → pod MTU 1250 \(vxlan: −50\), below the minimum 1280/,
    fix: /raise the uplink MTU or use --mode host-gw/,
  },
  {
    name: 'another pod network configured',
    id: 'cni-config',
    facts: (f) => f.cniConfigs.push({ file: '10-flannel.conflist', network: 'cbr0', plugins: ['flannel', 'portmap'], text: '{}' }),
    message: /another pod network is configured: 10-flannel\.conflist \(cbr0: flannel, portmap\); a cluster has one pod network/,
    fix: /--force to set it aside/,
  },
  {
    name: 'netboot’s conflist edited by someone',
    id: 'cni-config',
    facts: (f) => f.cniConfigs.push({ ...OWN_CONFLIST, text: OWN_CONFLIST.text.replace('"cni0"', '"br9"') }),
    message: /10-netboot\.conflist differs from the one netboot would write/,
    fix: /--force to replace it/,
  },
  {
    name: 'not root, writing the node’s own /etc and /opt',
    id: 'privileges',
    options: { root: '/' },
    facts: (f) => (f.uid = 1000),
    message: /running as uid 1000: init writes \/etc and \/opt/,
    fix: /run it as root/,
  },
  { name: 'nft missing', id: 'nftables', facts: (f) => delete f.programs.nft, message: /nft is not installed/, fix: /apt-get install nftables/ },
  {
    name: 'kubeadm too new for v1beta3',
    id: 'kubeadm',
    options: { kubeadmApi: 'v1beta3' },
    facts: (f) => Object.assign(f, { programs: { ...f.programs, kubeadm: '/usr/bin/kubeadm' }, kubeadmVersion: 'v1.37.2' }),
    message: /kubeadm v1\.37\.2 reads only kubeadm\.k8s\.io\/v1beta4/,
    fix: /drop --kubeadm-api v1beta3/,
  },
  {
    name: 'kubeadm too old for v1beta4',
    id: 'kubeadm',
    facts: (f) => Object.assign(f, { programs: { ...f.programs, kubeadm: '/usr/bin/kubeadm' }, kubeadmVersion: 'v1.30.4' }),
    message: /kubeadm v1\.30\.4 does not read kubeadm\.k8s\.io\/v1beta4/,
    fix: /--kubeadm-api v1beta3/,
  },
];

for (const c of FAILURES)
  test(`preflight fails alone on: ${c.name}; apply changes nothing`, async () => {
    const facts = goodFacts();
    c.facts?.(facts);
    await withTempDir(async (root) => {
      const p = plan({ root, out: `${root}/out`, ...c.options, facts });
      const failed = p.preflight.filter((x) => x.status === 'fail');
      assert.equal(
        failed.map((x) => x.id),
        [c.id],
        formatChecks(p.preflight),
      );
      assert.match(failed[0]!.message, c.message);
      assert.match(failed[0]!.fix!, c.fix);
      assert.not.ok(p.ok);
      const err = await rejectsA(apply(p), PreflightFailedError, /preflight failed, nothing was changed/);
      assert.is(err.failed[0]!.id, c.id);
      assert.equal(readdirSync(root), [], 'nothing was written under the root');
    });
  });

test('CIDRs that do not parse fail preflight instead of throwing; the CIDR checks wait for them, the rest are judged', () => {
  const p = plan({ podCIDRs: ['bogus'], serviceCIDRs: ['10.96.0.0/12,10.97.0.0/16'], facts: goodFacts() });
  assert.not.ok(p.ok);
  const bad = p.preflight.filter((c) => c.id === 'cidr-valid');
  assert.equal(
    bad.map((c) => [c.status, c.message.split(' ')[0]]),
    [
      ['fail', '--pod-cidr'],
      ['fail', '--service-cidr'],
    ],
  );
  const ids = p.preflight.map((c) => c.id);
  for (const id of ['pod-service-disjoint', 'service-size', 'node-subnets', 'host-disjoint']) assert.not.ok(ids.includes(id), `${id} not judged on stand-ins`);
  assert.is(p.preflight.find((c) => c.id === 'cidrs')!.status, 'skip');
  assert.ok(ids.includes('kernel-veth') && ids.includes('mtu'), 'the host is still judged');
  assert.match(
    formatChecks(p.preflight),
    /^✗ --pod-cidr bogus is not a valid CIDR list: .*\n {4}fix: give one CIDR per IP family, e\.g\. --pod-cidr 10\.244\.0\.0\/16/m,
  );
  const fine = plan({ ...DUAL, facts: goodFacts() }).preflight.find((c) => c.id === 'cidr-valid')!;
  assert.is(fine.status, 'pass');
  assert.match(fine.message, /10\.244\.0\.0\/16,fd00:10:244::\/56 and service CIDR 10\.96\.0\.0\/12 are CIDRs, one per IP family/);
});

test('--force turns another network’s config into a warning and plans to set it aside', () => {
  const facts = goodFacts();
  facts.cniConfigs.push({ file: '10-flannel.conflist', network: 'cbr0', plugins: ['flannel'], text: '{}' });
  const p = plan({ facts, force: true, root: '/r' });
  assert.ok(p.ok, formatChecks(p.preflight));
  assert.is(p.preflight.find((c) => c.id === 'cni-config')!.status, 'warn');
  assert.equal(p.cni.setAside, ['/r/etc/cni/net.d/10-flannel.conflist']);
});

test('a second run is not refused by what the cluster made: its own conflist, cni0’s address, netboot’s routes, kube-proxy’s IPVS Service IPs', () => {
  const facts = goodFacts();
  facts.cniConfigs.push(OWN_CONFLIST);
  facts.addresses.push({ dev: 'cni0', cidr: '10.244.0.1/24' }, { dev: 'netboot.1', cidr: '10.244.0.0/32' }, { dev: 'kube-ipvs0', cidr: '10.96.0.1/32' });
  facts.routes.push({ dst: '10.244.1.0/24', dev: 'netboot.1', protocol: NETBOOT_PROTOCOL }, { dst: '10.244.2.0/24', dev: 'eth0', protocol: NETBOOT_PROTOCOL });
  const p = plan({ facts });
  assert.ok(p.ok, formatChecks(p.preflight));
});

test('missing br_netfilter or default route warn without blocking; an unprobed kernel and no facts are skipped', () => {
  const facts = goodFacts();
  delete facts.sysctls.bridgeNfCallIptables;
  delete facts.uplink;
  const p = plan({ facts });
  assert.ok(p.ok);
  assert.is(p.preflight.find((c) => c.id === 'br-netfilter')!.status, 'warn');
  assert.is(p.preflight.find((c) => c.id === 'mtu')!.status, 'warn');
  const unprobed = { ...goodFacts(), kernel: {}, kernelNotProbed: 'no throwaway namespace to probe in (EPERM)' };
  const notRoot = plan({ facts: unprobed });
  assert.ok(notRoot.ok, 'a kernel that could not be probed (not root) is not judged');
  assert.match(notRoot.preflight.find((c) => c.id === 'kernel-vxlan')!.message, /not probed: no throwaway namespace to probe in \(EPERM\)/);
  const bare = plan({});
  assert.ok(bare.ok);
  assert.is(bare.preflight.at(-1)!.status, 'skip');
});

test('mode auto: host-gw when every --peer is on the uplink’s subnet, else vxlan; host-gw costs no MTU', () => {
  const facts = goodFacts();
  const same = plan({ facts, peers: ['192.168.1.11', '192.168.1.12'] });
  assert.is(same.settings.mode, 'host-gw');
  assert.match(same.preflight.find((c) => c.id === 'mtu')!.message, /pod MTU 1500$/);
  assert.not.ok(
    same.preflight.some((c) => c.id === 'kernel-vxlan'),
    'host-gw needs no VXLAN',
  );
  const off = plan({ facts, peers: ['192.168.1.11', '10.9.0.4'] });
  assert.is(off.settings.mode, 'vxlan');
  assert.match(off.settings.modeReason, /10\.9\.0\.4 not on this node’s subnet/);
  assert.is(plan({ facts }).settings.mode, 'vxlan');
  assert.is(plan({ facts, mode: 'cross-subnet' }).settings.mode, 'cross-subnet');
});

test('the routes constants preflight repeats are @netboot/routes’ own', () => {
  assert.is(NETBOOT_ROUTES.protocol, NETBOOT_PROTOCOL);
  assert.is(NETBOOT_ROUTES.vxlanDevice, VXLAN_DEFAULTS.name);
  assert.equal(NETBOOT_ROUTES.vxlanOverhead, { 4: vxlanOverhead(4), 6: vxlanOverhead(6) });
});

test.run();
