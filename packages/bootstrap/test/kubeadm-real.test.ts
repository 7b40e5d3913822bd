// The real kubeadm judges what netboot writes: `kubeadm config validate` accepts every config (v1beta4
// single- and dual-stack, merged into a user's config), and `kubeadm init --dry-run` renders a
// kube-controller-manager whose --allocate-node-cidrs, --cluster-cidr and --node-cidr-mask-size* are the
// plan's. The dry-run writes only into KUBEADM_INIT_DRYRUN_DIR (a temp dir): /etc/kubernetes is never
// touched. kubeadm v1.37 reads only v1beta4, so v1beta3 is validated by a kubeadm <= 1.36 when one is
// here ($NETBOOT_KUBEADM_V1BETA3); v1.37's refusal of it is what preflight reports. Without the Kubernetes
// binaries this file skips with the command that builds them, except in CI, where it fails.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { skipIf, withTempDir } from '@netboot/core/testing/pure';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { plan } from '../src/init/plan.js';
import type { HostFacts, PlanOptions } from '../src/init/types.js';
import { kubeadmDryRunFlags, kubernetesBin, missingKubernetes } from '../src/testing/control-plane.js';
import { USER_CONFIG } from './kubeadm-fixtures.js';

const missing = process.env.CI === 'true' ? undefined : missingKubernetes();
const kubeadm = () => join(kubernetesBin()!, 'kubeadm');
/** A kubeadm that still reads v1beta3 (<= 1.36), when this machine has one. */
const kubeadmV1beta3 = process.env.NETBOOT_KUBEADM_V1BETA3 ?? '/var/cache/netboot/kubernetes/v1.36.3/bin/kubeadm';

const k8s = skipIf(test, missing);

/** `kubeadm config validate --config <plan's yaml>`: exit status and output. */
function validate(yaml: string, program = kubeadm()): Promise<{ status: number | null; output: string }> {
  return withTempDir((dir) => {
    const file = join(dir, 'kubeadm.yaml');
    writeFileSync(file, yaml);
    const r = spawnSync(program, ['config', 'validate', '--config', file], { encoding: 'utf8' });
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
  }, 'nbt-kubeadm-');
}

const CASES: [string, PlanOptions][] = [
  ['single-stack IPv4', { podCIDRs: ['10.244.0.0/16'] }],
  ['single-stack, other mask and service CIDR', { podCIDRs: ['172.20.0.0/14'], serviceCIDRs: ['10.100.0.0/16'], nodeMask: { ipv4: 26 } }],
  ['IPv6-only', { podCIDRs: ['fd00:10:244::/56'] }],
  ['dual-stack pods and services', { podCIDRs: ['10.244.0.0/16', 'fd00:10:244::/56'], serviceCIDRs: ['10.96.0.0/12', 'fd00:10:96::/112'] }],
  ['dual-stack pods, IPv4 services', { podCIDRs: ['10.244.0.0/16', 'fd00:10:244::/48'], nodeMask: { ipv4: 25, ipv6: 64 } }],
  ['merged into a user config', { podCIDRs: ['10.244.0.0/16'], kubeadmConfig: { text: USER_CONFIG, path: 'user.yaml' } }],
  ['dual-stack merged into a user config', { podCIDRs: ['10.244.0.0/16', 'fd00:10:244::/56'], kubeadmConfig: { text: USER_CONFIG, path: 'user.yaml' } }],
];

for (const [name, options] of CASES)
  k8s(`kubeadm config validate accepts v1beta4: ${name}`, async () => {
    const { status, output } = await validate(plan(options).kubeadm!.yaml);
    assert.is(status, 0, output);
  });

k8s('kubeadm config validate refuses what is wrong (the check can fail)', async () => {
  const yaml = plan({ podCIDRs: ['10.244.0.0/16'] }).kubeadm!.yaml.replace('podSubnet:', 'podSubnett:');
  const { status, output } = await validate(yaml);
  assert.is.not(status, 0, output);
  assert.match(output, /unknown field "networking\.podSubnett"/);
});

k8s('kubeadm v1.37 reads only v1beta4: it refuses v1beta3, and preflight says so before anything is written', async () => {
  const p = plan({ podCIDRs: ['10.244.0.0/16'], kubeadmApi: 'v1beta3' });
  const { status, output } = await validate(p.kubeadm!.yaml);
  assert.is.not(status, 0, output);
  assert.match(output, /old API spec: "kubeadm\.k8s\.io\/v1beta3"/);
  const version = execFileSync(kubeadm(), ['version', '-o', 'short'], { encoding: 'utf8' }).trim();
  const facts: HostFacts = {
    addresses: [],
    routes: [],
    sysctls: {},
    kernel: {},
    cniConfigs: [],
    programs: { kubeadm: kubeadm() },
    kubeadmVersion: version,
  };
  const check = plan({ podCIDRs: ['10.244.0.0/16'], kubeadmApi: 'v1beta3', facts }).preflight.find((c) => c.id === 'kubeadm')!;
  assert.is(check.status, 'fail');
  assert.match(check.message, new RegExp(`kubeadm ${version.replaceAll('.', '\\.')} reads only kubeadm\\.k8s\\.io/v1beta4`));
});

const v1beta3 = skipIf(
  test,
  existsSync(kubeadmV1beta3) || process.env.CI === 'true'
    ? undefined
    : `no kubeadm <= 1.36 at ${kubeadmV1beta3} (or $NETBOOT_KUBEADM_V1BETA3): build one with \`NETBOOT_K8S_VERSION=v1.36.3 NETBOOT_K8S_PROGRAMS=kubeadm bash scripts/kubernetes.sh\``,
);
for (const [name, options] of CASES)
  v1beta3(`kubeadm <= 1.36 config validate accepts v1beta3: ${name}`, async () => {
    const text = options.kubeadmConfig?.text
      .replaceAll('kubeadm.k8s.io/v1beta4', 'kubeadm.k8s.io/v1beta3')
      .replace(/extraArgs:\n(.|\n)*?\n(?=\S)/, 'extraArgs:\n    bind-address: 0.0.0.0\n');
    const p = plan({ ...options, ...(text === undefined ? { kubeadmApi: 'v1beta3' } : { kubeadmConfig: { text, path: 'user-v1beta3.yaml' } }) });
    assert.is(p.kubeadm!.api, 'v1beta3');
    const { status, output } = await validate(p.kubeadm!.yaml, kubeadmV1beta3);
    assert.is(status, 0, output);
  });

/** The kube-controller-manager flags `kubeadm init --dry-run` renders for the plan's config (written to a temp dir only). */
function dryRunControllerManager(options: PlanOptions, program = kubeadm(), api = 'v1beta4'): { flags: Map<string, string>; plan: ReturnType<typeof plan> } {
  const version = execFileSync(program, ['version', '-o', 'short'], { encoding: 'utf8' }).trim();
  // kubernetesVersion in the user's file: kubeadm then asks no release server which version is stable.
  const user = `apiVersion: kubeadm.k8s.io/${api}\nkind: ClusterConfiguration\nkubernetesVersion: ${version}\n`;
  const p = plan({ ...options, kubeadmConfig: { text: user, path: 'user.yaml' } });
  const etcBefore = existsSync('/etc/kubernetes');
  const flags = new Map<string, string>();
  for (const arg of kubeadmDryRunFlags(p.kubeadm!.yaml, 'kube-controller-manager', program)) {
    const m = /^--([^=]+)=(.*)$/.exec(arg);
    if (m) flags.set(m[1]!, m[2]!);
  }
  assert.is(existsSync('/etc/kubernetes'), etcBefore, 'kubeadm --dry-run wrote nothing under /etc/kubernetes');
  return { flags, plan: p };
}

k8s('kubeadm init --dry-run: the controller manager gets the plan’s node IPAM flags (single-stack)', async () => {
  const { flags, plan: p } = await dryRunControllerManager({ podCIDRs: ['10.244.0.0/16'], nodeMask: { ipv4: 25 } });
  assert.is(flags.get('allocate-node-cidrs'), 'true');
  assert.is(flags.get('cluster-cidr'), p.settings.podCIDRs.join(','));
  assert.is(flags.get('node-cidr-mask-size'), '25');
  assert.is(flags.get('service-cluster-ip-range'), '10.96.0.0/12');
});

k8s('kubeadm init --dry-run: the controller manager gets the plan’s node IPAM flags (dual-stack)', async () => {
  const { flags } = await dryRunControllerManager({
    podCIDRs: ['10.244.0.0/16', 'fd00:10:244::/56'],
    serviceCIDRs: ['10.96.0.0/12', 'fd00:10:96::/112'],
    nodeMask: { ipv4: 24, ipv6: 64 },
  });
  assert.is(flags.get('allocate-node-cidrs'), 'true');
  assert.is(flags.get('cluster-cidr'), '10.244.0.0/16,fd00:10:244::/56');
  assert.is(flags.get('node-cidr-mask-size-ipv4'), '24');
  assert.is(flags.get('node-cidr-mask-size-ipv6'), '64');
  assert.not.ok(flags.has('node-cidr-mask-size'), 'no single-stack mask flag in a dual-stack cluster');
  assert.is(flags.get('service-cluster-ip-range'), '10.96.0.0/12,fd00:10:96::/112');
});

v1beta3('kubeadm <= 1.36 init --dry-run: a v1beta3 config (extraArgs a map) gives the controller manager the plan’s flags', async () => {
  const { flags, plan: p } = await dryRunControllerManager(
    { podCIDRs: ['10.244.0.0/16', 'fd00:10:244::/56'], nodeMask: { ipv4: 25, ipv6: 72 } },
    kubeadmV1beta3,
    'v1beta3',
  );
  assert.is(p.kubeadm!.api, 'v1beta3');
  assert.is(flags.get('allocate-node-cidrs'), 'true');
  assert.is(flags.get('cluster-cidr'), '10.244.0.0/16,fd00:10:244::/56');
  assert.is(flags.get('node-cidr-mask-size-ipv4'), '25');
  assert.is(flags.get('node-cidr-mask-size-ipv6'), '72');
});

test.run();
