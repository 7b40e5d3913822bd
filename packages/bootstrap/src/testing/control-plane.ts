// A real Kubernetes control plane for tests and `netboot lab up --datastore kubernetes`, on 127.0.0.1 or inside a namespace of
// its own: etcd (Debian's) + kube-apiserver + kube-controller-manager running node IPAM, from the binaries
// `scripts/kubernetes.sh` builds into its cache. Certificates and kubeconfigs come from `kubeadm init
// phase`; component flags are the ones `kubeadm init --dry-run` writes into its static pod manifests
// (read once per Kubernetes build and cached beside the binaries), with this run's paths and ports.
// Everything lives in one temp dir; every process is stopped by its PID.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type EtcdFixture, freePort, startEtcd } from '@netboot/core/testing';
import { writeFileAtomic } from '../datastore/atomic.js';
import { startLabEtcd } from '../lab/etcd.js';
import { getIn } from '../lab/netns-http.js';
import { isRunning, stopProcess } from '../lab/processes.js';
import type { LabProcess } from '../lab/state.js';
import { parse } from 'yaml';

const PROGRAMS = ['kube-apiserver', 'kube-controller-manager', 'kubeadm', 'kubectl'];

/** The workspace's scripts/kubernetes.sh, found upwards from this module (src/testing under tsx, or dist/ in the built CLI). */
function buildScript(): string | undefined {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    const script = join(dir, 'scripts/kubernetes.sh');
    if (existsSync(script)) return script;
  }
  return undefined;
}

/** The directory with the Kubernetes binaries: `$NETBOOT_K8S_BIN`, or the build cache of `scripts/kubernetes.sh`. */
export function kubernetesBin(): string | undefined {
  if (process.env.NETBOOT_K8S_BIN !== undefined) return process.env.NETBOOT_K8S_BIN;
  const script = buildScript();
  return script === undefined ? undefined : execFileSync('bash', [script, '--dir'], { encoding: 'utf8' }).trim();
}

/** Why no control plane can start here (with the command that fixes it), or undefined when it can. */
export function missingKubernetes(): string | undefined {
  const bin = kubernetesBin();
  if (bin === undefined)
    return 'no Kubernetes binaries: set NETBOOT_K8S_BIN to a directory with kube-apiserver, kube-controller-manager, kubeadm and kubectl (scripts/kubernetes.sh of the netboot repository builds them)';
  const missing = PROGRAMS.filter((p) => !existsSync(join(bin, p)));
  if (missing.length > 0)
    return `no Kubernetes binaries (${missing.join(', ')}) in ${bin}: build them with \`bash scripts/kubernetes.sh\` (~15 min, once per machine)`;
  return undefined;
}

export interface ControlPlaneOptions {
  /** The cluster's pod CIDR (`--cluster-cidr`); default 10.244.0.0/16. */
  podCIDR?: string;
  /** Default 10.96.0.0/12. */
  serviceCIDR?: string;
  /** Each node's slice (`--node-cidr-mask-size`); default 24. */
  nodeMaskSize?: number;
  /**
   * kube-controller-manager flags (`--name=value`) that replace kubeadm's of the same name: the node IPAM
   * flags a netboot plan implies, as real kubeadm renders them (kubeadmDryRunFlags(plan.kubeadm.yaml)).
   * Any --node-cidr-mask-size* here also drops the single-stack --node-cidr-mask-size, which
   * kube-controller-manager refuses in a dual-stack cluster.
   */
  controllerManagerFlags?: string[];
  /** Controller manager controllers; default nodeipam and serviceaccount-token (kubeadm's flags need the latter). */
  controllers?: string[];
  /**
   * Run every process inside this network namespace (`ip netns exec`), listening on `address`, so node
   * namespaces reach the API server over their underlay, as kubelets and agents on other machines would.
   * Default: the caller's namespace, on 127.0.0.1.
   */
  netns?: string;
  /** The address everything listens on; default 127.0.0.1 (it must exist in `netns`). */
  address?: string;
  /** Keep certificates, data and logs here (made if missing) instead of a temp dir; stop() removes it. */
  dir?: string;
  /**
   * The processes outlive this one (the lab's `up` exits, `down` stops them by PID): started detached,
   * never killed when this process exits. `onSpawn` learns each PID as it starts.
   */
  detached?: boolean;
  onSpawn?: (what: string, pid: number) => void;
}

export interface ControlPlane {
  /** Admin kubeconfig (server https://<address>:<port>). */
  kubeconfig: string;
  server: string;
  bin: string;
  dir: string;
  etcd: Pick<EtcdFixture, 'endpoint'>;
  /** `kubectl --kubeconfig <admin> args…` with `input` on stdin (for `-f -`); its stdout. */
  kubectl(args: string[], input?: string): string;
  /** Stops the API server and starts it again with the same flags; resolves when it is ready. */
  restartApiServer(): Promise<void>;
  /** Stops every process (controller manager, API server, etcd) and removes the dir; safe to call twice. */
  stop(): Promise<void>;
}

function kubeadmConfig(o: {
  version: string;
  address?: string;
  port: number;
  etcd: string;
  pki?: string;
  podCIDR: string;
  serviceCIDR: string;
  nodeMaskSize: number;
}): string {
  // advertiseAddress 127.0.0.1 is refused by kubeadm ("unable to select an IP from lo"); the endpoint and SANs do it.
  return `apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint: { bindPort: ${o.port} }
nodeRegistration: { name: nbt-control-plane }
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: ${o.version}
clusterName: nbt
${o.pki === undefined ? '' : `certificatesDir: ${o.pki}\n`}controlPlaneEndpoint: "${o.address ?? '127.0.0.1'}:${o.port}"
networking: { podSubnet: ${o.podCIDR}, serviceSubnet: ${o.serviceCIDR} }
apiServer: { certSANs: ["127.0.0.1", "localhost"${o.address === undefined ? '' : `, "${o.address}"`}] }
controllerManager:
  extraArgs:
    - { name: node-cidr-mask-size, value: "${o.nodeMaskSize}" }
etcd: { external: { endpoints: ["${o.etcd}"] } }
`;
}

// Placeholders of the dry-run config, replaced by each run's own values.
const DRY = { port: 16443, etcd: 'http://127.0.0.1:2379', podCIDR: '10.244.0.0/16', serviceCIDR: '10.96.0.0/12', nodeMaskSize: 24 };

/**
 * The flags kubeadm gives kube-apiserver and kube-controller-manager, from `kubeadm init --dry-run` on a
 * placeholder config, cached per build. The dry-run leaves `/etc/kubernetes/tmp/kubeadm-init-dryrun*`
 * behind (and may create /etc/kubernetes): removed here, so nothing stays outside the temp dir.
 */
function kubeadmFlags(bin: string, version: string): Record<'kube-apiserver' | 'kube-controller-manager', string[]> {
  const cache = join(dirname(bin), 'kubeadm-flags.json');
  if (existsSync(cache)) return JSON.parse(readFileSync(cache, 'utf8'));
  const dir = mkdtempSync(join(tmpdir(), 'nbt-kubeadm-dryrun-'));
  const hadEtc = existsSync('/etc/kubernetes');
  const hadTmp = existsSync('/etc/kubernetes/tmp');
  const before = new Set(hadTmp ? readdirSync('/etc/kubernetes/tmp') : []);
  try {
    writeFileSync(join(dir, 'kubeadm.yaml'), kubeadmConfig({ version, ...DRY }));
    const out = execFileSync(join(bin, 'kubeadm'), ['init', '--dry-run', '--config', join(dir, 'kubeadm.yaml'), '--ignore-preflight-errors=all'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 << 20,
    });
    const flags = {
      'kube-apiserver': commandOf(out, 'kube-apiserver'),
      'kube-controller-manager': commandOf(out, 'kube-controller-manager'),
    };
    writeFileAtomic(cache, JSON.stringify(flags, null, 2));
    return flags;
  } finally {
    rmSync(dir, { recursive: true, force: true });
    if (existsSync('/etc/kubernetes/tmp'))
      for (const name of readdirSync('/etc/kubernetes/tmp')) if (!before.has(name)) rmSync(join('/etc/kubernetes/tmp', name), { recursive: true, force: true });
    if (!hadTmp) rmSync('/etc/kubernetes/tmp', { recursive: true, force: true });
    if (!hadEtc && existsSync('/etc/kubernetes') && readdirSync('/etc/kubernetes').length === 0) rmSync('/etc/kubernetes', { recursive: true });
  }
}

/**
 * The flags (`--name=value`, program dropped) real `kubeadm init --dry-run --config <yaml>` puts in
 * `component`'s static pod manifest. KUBEADM_INIT_DRYRUN_DIR keeps what kubeadm writes in a temp dir, so
 * /etc/kubernetes is never touched. `yaml` needs a kubernetesVersion, or kubeadm asks a release server.
 */
export function kubeadmDryRunFlags(yaml: string, component = 'kube-controller-manager', program = join(kubernetesBin() ?? '', 'kubeadm')): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'nbt-kubeadm-dryrun-'));
  try {
    const config = join(dir, 'kubeadm.yaml');
    writeFileSync(config, yaml);
    execFileSync(program, ['init', '--dry-run', '--config', config, '--ignore-preflight-errors=all'], {
      env: { ...process.env, KUBEADM_INIT_DRYRUN_DIR: join(dir, 'out') },
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 << 20,
    });
    const manifest = parse(readFileSync(join(dir, 'out', `${component}.yaml`), 'utf8')) as { spec: { containers: { command: string[] }[] } };
    return manifest.spec.containers[0]!.command.slice(1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The `command:` list of one static pod manifest in the dry-run output, without the program name. */
function commandOf(dryRun: string, component: string): string[] {
  const start = dryRun.indexOf(`/etc/kubernetes/manifests/${component}.yaml`);
  if (start < 0) throw new Error(`kubeadm --dry-run printed no manifest for ${component}`);
  const lines = dryRun.slice(start).split('\n');
  const from = lines.findIndex((l) => /^\s*- command:\s*$/.test(l));
  const flags: string[] = [];
  for (const line of lines.slice(from + 2)) {
    const m = /^\s*- (--.*)$/.exec(line);
    if (m === null) break;
    flags.push(m[1]!);
  }
  if (flags.length === 0) throw new Error(`kubeadm --dry-run: no flags found for ${component}`);
  return flags;
}

/** Starts etcd, kube-apiserver and kube-controller-manager on loopback; resolves when the API server is ready. */
export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const reason = missingKubernetes();
  if (reason !== undefined) throw new Error(reason);
  const bin = kubernetesBin()!;
  const version = execFileSync(join(bin, 'kubeadm'), ['version', '-o', 'short'], { encoding: 'utf8' }).trim();
  const flags = kubeadmFlags(bin, version);
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'nbt-k8s-'));
  mkdirSync(dir, { recursive: true });
  const children: ChildProcess[] = [];
  const netns = opts.netns;
  const address = opts.address ?? '127.0.0.1';
  /** argv that runs `cmd` in the control plane's namespace. */
  const inNs = (cmd: string, args: string[]): [string, string[]] => (netns === undefined ? [cmd, args] : ['ip', ['netns', 'exec', netns, cmd, ...args]]);
  let etcd: Pick<EtcdFixture, 'endpoint' | 'stop'> | undefined;
  const killAll = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  };
  if (opts.detached !== true) process.on('exit', killAll);
  const stop = async () => {
    process.off('exit', killAll);
    for (const c of children.reverse()) await stopChild(c);
    children.length = 0;
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const launch = (name: string, cmd: string, args: string[]) => {
      const log = openSync(join(dir, `${name}.log`), 'a');
      const child = spawn(...inNs(cmd, args), { stdio: ['ignore', log, log], detached: opts.detached === true });
      closeSync(log);
      children.push(child);
      if (opts.detached === true) child.unref();
      if (child.pid !== undefined) opts.onSpawn?.(name, child.pid);
      return child;
    };
    etcd = netns === undefined ? await startEtcd() : await etcdIn(netns, address, dir, opts);
    // A namespace of its own has every port free.
    const [port, kcmPort] = netns === undefined ? [await freePort(), await freePort()] : [6443, 10257];
    const probe = (url: string) => (netns === undefined ? getInsecure(url) : getIn(netns, url).then((r) => r?.body.trim()));
    const o = {
      version,
      address,
      port,
      etcd: etcd.endpoint,
      pki: join(dir, 'pki'),
      podCIDR: opts.podCIDR ?? DRY.podCIDR,
      serviceCIDR: opts.serviceCIDR ?? DRY.serviceCIDR,
      nodeMaskSize: opts.nodeMaskSize ?? DRY.nodeMaskSize,
    };
    const config = join(dir, 'kubeadm.yaml');
    writeFileSync(config, kubeadmConfig(o));
    const kc = join(dir, 'kc');
    mkdirSync(kc);
    const kubeadm = (...args: string[]) => execFileSync(join(bin, 'kubeadm'), ['init', 'phase', ...args, '--config', config], { stdio: 'pipe' });
    kubeadm('certs', 'all');
    kubeadm('kubeconfig', 'admin', '--kubeconfig-dir', kc);
    kubeadm('kubeconfig', 'controller-manager', '--kubeconfig-dir', kc);
    kubeadm('kubeconfig', 'super-admin', '--kubeconfig-dir', kc);
    const server = `https://${address}:${port}`;
    // kubeadm writes a guessed host address into the controller manager's kubeconfig: ours it is.
    for (const f of ['admin.conf', 'super-admin.conf', 'controller-manager.conf'])
      writeFileSync(join(kc, f), readFileSync(join(kc, f), 'utf8').replace(/server: https:\/\/\S+/, `server: ${server}`));
    const local = (f: string) =>
      f
        .replaceAll('/etc/kubernetes/pki', o.pki)
        .replace(/\/etc\/kubernetes\/([a-z-]+\.conf)/g, `${kc}/$1`)
        .replaceAll(String(DRY.port), String(port))
        .replaceAll(DRY.etcd, etcd!.endpoint)
        .replaceAll(DRY.podCIDR, o.podCIDR)
        .replaceAll(DRY.serviceCIDR, o.serviceCIDR)
        .replace(/^--node-cidr-mask-size=\d+$/, `--node-cidr-mask-size=${o.nodeMaskSize}`);
    // On loopback --advertise-address stays kubeadm's guess (a TEST-NET address here): the API server
    // refuses a loopback one for its endpoint reconciler, and nothing dials it.
    const apiArgs = [
      ...flags['kube-apiserver']
        .map(local)
        .map((f) => (address !== '127.0.0.1' && f.startsWith('--advertise-address=') ? `--advertise-address=${address}` : f)),
      `--bind-address=${address}`,
    ];
    const controllers = (opts.controllers ?? ['nodeipam', 'serviceaccount-token']).join(',');
    const given = opts.controllerManagerFlags ?? [];
    const nameOf = (f: string) => f.replace(/=.*$/, '');
    const names = new Set(given.map(nameOf));
    const masksGiven = [...names].some((n) => n.startsWith('--node-cidr-mask-size'));
    const replaced = (f: string) => names.has(nameOf(f)) || (masksGiven && nameOf(f).startsWith('--node-cidr-mask-size'));
    const kcmArgs = [
      ...flags['kube-controller-manager'].map(local).filter((f) => !/^--(controllers|leader-elect|bind-address|secure-port)=/.test(f) && !replaced(f)),
      ...given,
      `--controllers=${controllers}`,
      '--leader-elect=false',
      `--bind-address=${address}`,
      `--secure-port=${kcmPort}`,
    ];
    const kubeconfig = join(kc, 'admin.conf');
    const kubectlAs = (config: string, args: string[], input?: string) =>
      execFileSync(...inNs(join(bin, 'kubectl'), ['--kubeconfig', config, ...args]), { encoding: 'utf8', input: input ?? '', stdio: ['pipe', 'pipe', 'pipe'] });
    const kubectl = (args: string[], input?: string) => kubectlAs(kubeconfig, args, input);
    let api = launch('kube-apiserver', join(bin, 'kube-apiserver'), apiArgs);
    await ready(`${server}/readyz`, probe, api, join(dir, 'kube-apiserver.log'), 60_000);
    // admin.conf's user is in group kubeadm:cluster-admins, which `kubeadm init` binds to cluster-admin
    // with super-admin.conf (system:masters); the phases alone do not, so bind it the same way.
    kubectlAs(join(kc, 'super-admin.conf'), [
      'create',
      'clusterrolebinding',
      'kubeadm:cluster-admins',
      '--clusterrole=cluster-admin',
      '--group=kubeadm:cluster-admins',
    ]);
    const kcm = launch('kube-controller-manager', join(bin, 'kube-controller-manager'), kcmArgs);
    await ready(`https://${address}:${kcmPort}/healthz`, probe, kcm, join(dir, 'kube-controller-manager.log'), 60_000);
    return {
      kubeconfig,
      server,
      bin,
      dir,
      etcd,
      kubectl,
      restartApiServer: async () => {
        await stopChild(api);
        children.splice(children.indexOf(api), 1);
        api = launch('kube-apiserver', join(bin, 'kube-apiserver'), apiArgs);
        await ready(`${server}/readyz`, probe, api, join(dir, 'kube-apiserver.log'), 60_000);
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

async function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const gone = new Promise((r) => c.once('exit', r));
  c.kill('SIGTERM');
  const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
  await gone;
  clearTimeout(timer);
}

/** GET over TLS without checking the certificate (a health probe on loopback); the body, or undefined. */
function getInsecure(url: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = httpsGet(url, { rejectUnauthorized: false, timeout: 1000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolve(body.trim()));
      res.on('error', () => resolve(undefined));
    });
    req.on('error', () => resolve(undefined));
    req.on('timeout', () => req.destroy());
  });
}

/**
 * The lab's etcd (src/lab/etcd.ts) inside `netns` on `address` (ports 2379/2380 of its own), data in
 * `dir`, reported to `onSpawn`; stopped by PID, and killed when this process exits unless `detached`.
 */
async function etcdIn(
  netns: string,
  address: string,
  dir: string,
  opts: Pick<ControlPlaneOptions, 'detached' | 'onSpawn'>,
): Promise<Pick<EtcdFixture, 'endpoint' | 'stop'>> {
  let proc: LabProcess | undefined;
  const kill = () => {
    if (proc !== undefined && isRunning(proc)) process.kill(proc.pid, 'SIGKILL');
  };
  if (opts.detached !== true) process.on('exit', kill);
  const endpoint = await startLabEtcd(netns, address, dir, (p) => {
    proc = p;
    opts.onSpawn?.('etcd', p.pid);
  });
  return {
    endpoint,
    stop: async () => {
      process.off('exit', kill);
      if (proc !== undefined) await stopProcess(proc);
    },
  };
}

/** Polls `url` (self-signed TLS: any answer "ok" will do) until it says ok; fails with the log's tail if the process dies. */
async function ready(url: string, probe: (url: string) => Promise<string | undefined>, child: ChildProcess, log: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) break;
    if ((await probe(url)) === 'ok') return;
    await new Promise((r) => setTimeout(r, 200));
  }
  const tail = readFileSync(log, 'utf8').split('\n').slice(-20).join('\n');
  throw new Error(
    `${url} not ready (${child.exitCode !== null || child.signalCode !== null ? 'process exited' : `after ${timeoutMs} ms`}); log tail:\n${tail}`,
  );
}
