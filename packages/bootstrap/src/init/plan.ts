// plan(): everything `netboot init` (or `join`) would write and run, as typed data — settled network,
// preflight results, kubeadm config (object and YAML), conflist, manifests, paths and the join line —
// with no side effects and no FFI. The host is an input (options.facts, from gatherFacts()), so the
// same options and facts always give the same plan. apply() performs one.
import { join, resolve } from 'node:path';
import { CONFLIST_NAME, conflist, conflistText } from '../cni/install.js';
import { kubeadmInitCommand, readUserConfig, renderKubeadmConfig } from '../kubeadm/config.js';
import { renderManifests } from '../manifests/index.js';
import { KubeadmConfigConflictError } from './errors.js';
import { settleNetwork } from './network.js';
import { preflight } from './preflight.js';
import type { HostFacts, NetworkSettings, Plan, PlanOptions } from './types.js';

/** Where init records what it installed (reset reads it), under the root. */
export const STATE_FILE = 'var/lib/netboot/installed.json';
/** The suffix another network's CNI config gets when `--force` sets it aside. */
export const SET_ASIDE_SUFFIX = '.netboot-disabled';
/** The admin kubeconfig `kubeadm init` writes. */
const ADMIN_CONF = '/etc/kubernetes/admin.conf';

/** `netboot join …` with the flags that make a worker agree with this cluster. */
function joinCommand(s: NetworkSettings): string {
  const masks = [s.nodeMask.ipv4, s.nodeMask.ipv6].filter((m) => m !== undefined).join(',');
  const etcd = s.etcdEndpoints.map((e) => ` --etcd-endpoint ${e}`).join('');
  return `netboot join --pod-cidr ${s.podCIDRs.join(',')} --service-cidr ${s.serviceCIDRs.join(',')} --node-mask ${masks} --mode ${s.mode} --datastore ${s.datastore}${etcd}`;
}

/** Where the manifests go: kubectl when a kubeconfig will work, else a file; and the preflight line saying so. */
function manifestTarget(o: PlanOptions, facts: HostFacts | undefined, dir: string, kubeadmRuns: boolean) {
  const file = { kind: 'file' as const, path: join(dir, 'netboot.yaml') };
  if (o.out !== undefined) return { target: file, expected: true, why: `manifests are written to ${file.path} (--out)` };
  const kubectl = facts?.programs.kubectl;
  const kc = facts?.kubeconfig;
  if (kubectl !== undefined && kc?.works)
    return {
      target: { kind: 'kubectl' as const, kubeconfig: kc.path, kubectl },
      expected: true,
      why: `${kc.path} answers: manifests are applied with kubectl`,
    };
  if (kubectl !== undefined && kubeadmRuns)
    return {
      target: { kind: 'kubectl' as const, kubeconfig: ADMIN_CONF, kubectl },
      expected: true,
      why: `kubeadm init writes ${ADMIN_CONF}: manifests are applied with kubectl`,
    };
  const why = kubectl === undefined ? 'kubectl is not installed' : `no working kubeconfig${kc ? ` (${kc.path}: ${kc.error ?? 'no answer'})` : ''}`;
  return { target: file, expected: false, why: `${why}: manifests are written to ${file.path}` };
}

/**
 * The plan for `options`. A CIDR that is not one fails preflight (ok false, apply refuses); other input that
 * cannot be planned (a mask, --datastore etcd without endpoints, sources that disagree) throws
 * InitOptionError / KubeadmConfigConflictError.
 */
export function plan(options: PlanOptions = {}): Plan {
  const role = options.role ?? 'init';
  const root = resolve(options.root ?? '/');
  const facts = options.facts;
  const user = options.kubeadmConfig !== undefined ? readUserConfig(options.kubeadmConfig.text, options.kubeadmConfig.path) : undefined;
  if (user?.api !== undefined && options.kubeadmApi !== undefined && user.api !== options.kubeadmApi)
    throw new KubeadmConfigConflictError(
      `--kubeadm-api ${options.kubeadmApi} but ${user.path} is kubeadm.k8s.io/${user.api}: drop --kubeadm-api, or migrate the file (kubeadm config migrate)`,
    );
  const { settings, cidrProblems } = settleNetwork(options, user, facts);
  const dir = options.out === undefined ? join(root, 'etc/netboot') : resolve(options.out);

  const confDir = join(root, 'etc/cni/net.d');
  const cni: Plan['cni'] = {
    source: resolve(options.cniBinary ?? 'dist/cni/netboot'),
    replace: options.force ?? false,
    binary: join(root, 'opt/cni/bin/netboot'),
    conflistPath: join(confDir, CONFLIST_NAME),
    conflist: conflist(),
    conflistText: conflistText(),
    setAside: options.force ? (facts?.cniConfigs ?? []).filter((c) => c.file !== CONFLIST_NAME).map((c) => join(confDir, c.file)) : [],
  };

  let kubeadm: Plan['kubeadm'];
  let manifests: Plan['manifests'];
  let manifestCheck: { expected: boolean; why: string } | undefined;
  if (role === 'init') {
    const api = options.kubeadmApi ?? user?.api ?? 'v1beta4';
    const config = renderKubeadmConfig(settings, api, options.kubeadmConfig);
    const path = join(dir, 'kubeadm.yaml');
    const kubeadmPath = facts?.programs.kubeadm;
    // Under a stand-in root kubeadm would still write the real /etc/kubernetes: it is printed, never run.
    const run = kubeadmPath !== undefined && root === '/';
    kubeadm = { api, object: config.object, yaml: config.yaml, path, command: kubeadmInitCommand(kubeadmPath ?? 'kubeadm', path), run };
    const rendered = renderManifests({
      clusterCIDRs: settings.podCIDRs,
      mode: settings.mode,
      datastore: settings.datastore === 'etcd' ? { type: 'etcd', endpoints: settings.etcdEndpoints } : { type: 'kubernetes' },
      ...(options.image === undefined ? {} : { image: options.image }),
    });
    const { target, ...check } = manifestTarget(options, facts, dir, run);
    manifests = { objects: rendered.objects, yaml: rendered.yaml, target };
    manifestCheck = check;
  }

  const checks = preflight({
    role,
    settings,
    cidrProblems,
    force: options.force ?? false,
    expectedNodes: options.expectedNodes ?? 1,
    conflist: { file: CONFLIST_NAME, text: cni.conflistText },
    writesHost: root === '/',
    ...(facts === undefined ? {} : { facts }),
    ...(kubeadm === undefined ? {} : { kubeadm: { api: kubeadm.api, runnable: kubeadm.run } }),
    ...(manifestCheck === undefined ? {} : { manifests: manifestCheck }),
  });
  return {
    role,
    settings,
    root,
    preflight: checks,
    ok: checks.every((c) => c.status !== 'fail'),
    ...(kubeadm === undefined ? {} : { kubeadm }),
    cni,
    ...(manifests === undefined ? {} : { manifests }),
    statePath: join(root, STATE_FILE),
    joinCommand: joinCommand(settings),
  };
}
