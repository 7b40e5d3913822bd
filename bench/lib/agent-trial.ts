// One trial of bench/agent.ts, run INSIDE a throwaway nbt-* namespace (the parent starts this process
// with `ip netns exec`, so etcd, the API server, the agent and every socket here live in that namespace):
// an underlay device, a datastore on 127.0.0.1 holding N synthetic peers, then one agent (netboot or
// flanneld) started cold and watched through netlink until every peer's route is in the kernel; then,
// when asked, its RSS, its idle CPU, and peer→route latency samples.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent as HttpsAgent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeRoute, monitor, Rtnl } from '@netboot/core';
import { startEtcd } from '@netboot/core/testing';
import { ClusterIpam, MemoryKv } from '@netboot/ipam';
import { startControlPlane } from '../../packages/bootstrap/src/testing/control-plane.ts';
import {
  type BenchMode,
  CLUSTER_CIDR,
  flannelConfig,
  flannelLease,
  isPeerRoute,
  latePeer,
  netbootNode,
  netbootRecord,
  peer,
  type SyntheticPeer,
  UNDERLAY,
} from './agent-peers.js';

export interface TrialSpec {
  agent: 'netboot' | 'flanneld';
  mode: BenchMode;
  datastore: 'etcd' | 'kubernetes';
  peers: number;
  /** Measure RSS and idle CPU after the cold start. */
  steady: boolean;
  idleSeconds: number;
  /** Peer→route latency samples (0: none). */
  samples: number;
  /** The agent's executable: netboot's bundle (run by node) or flanneld. */
  program: string;
  /** A directory the whole run shares: ClusterIpam's seeded blocks are computed once per peer count. */
  cacheDir: string;
}

export interface TrialResult {
  coldMs: number;
  rssMB?: number;
  /** utime+stime+cutime+cstime over the idle window, % of one core. */
  idleCpuPct?: number;
  latencyMs?: number[];
  /** Samples whose route never came (within 10 s). */
  timeouts?: number;
  /** netboot: ms from spawn to each start-up log line (where a cold start spends its time). */
  phases?: Record<string, number>;
}

/** netboot's start-up log lines, in order. */
export const PHASES = ['starting', 'leased pod subnets', 'published this node', 'datastore synced', 'ready'] as const;

const say = (s: string) => process.stderr.write(`    ${s}\n`);

/** A datastore holding the synthetic peers, in the shape the trial's agent reads, and a way to add one more. */
interface Store {
  /** argv of the agent (after its program), pointed at this store. */
  agentArgs(dir: string): string[];
  /** Writes one more peer; resolves when the write was acknowledged. */
  add(p: SyntheticPeer, i: number): Promise<void>;
  /** The peers' pod subnets: a late peer never takes one of these. */
  taken: ReadonlySet<string>;
  stop(): Promise<void>;
}

export async function runTrial(t: TrialSpec): Promise<TrialResult> {
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'inherit'] });
  ip('link', 'set', 'lo', 'up');
  // The underlay: a veth whose other end stays here too (this kernel has no dummy driver), up with carrier.
  ip('link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'wire0');
  ip('addr', 'add', `${UNDERLAY.self}/${UNDERLAY.prefix}`, 'dev', 'eth0');
  ip('link', 'set', 'wire0', 'up');
  ip('link', 'set', 'eth0', 'up');
  ip('route', 'add', 'default', 'via', UNDERLAY.gateway);
  const dir = mkdtempSync(join(tmpdir(), 'nbt-agent-trial-'));
  let store: Store | undefined;
  let child: ChildProcess | undefined;
  const rtnl = Rtnl.open();
  try {
    const seedStart = performance.now();
    store = t.datastore === 'kubernetes' ? await kubernetesStore(t) : t.agent === 'netboot' ? await netbootEtcd(t) : await flannelEtcd(t);
    say(`seeded ${t.peers} peers (${t.agent}, ${t.datastore}) in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`);

    const log = openSync(join(dir, 'agent.log'), 'a');
    const argv = store.agentArgs(dir);
    const started = performance.now();
    const wallStart = Date.now();
    child =
      t.agent === 'netboot'
        ? spawn(process.execPath, [t.program, 'agent', ...argv], { stdio: ['ignore', 'ignore', log] })
        : spawn(t.program, argv, { stdio: ['ignore', 'ignore', log] });
    closeSync(log);
    const exited = new Promise<void>((resolve) => child!.once('exit', () => resolve()));
    const count = () => rtnl.route.list({ family: 4 }).filter((r) => r.gateway !== undefined && isPeerRoute(r.dst)).length;
    for (let n = 0; n < t.peers; n = count()) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${t.agent} exited early:\n${tail(join(dir, 'agent.log'))}`);
      if (performance.now() - started > 300_000) throw new Error(`${t.agent}: ${n} of ${t.peers} routes after 300 s:\n${tail(join(dir, 'agent.log'))}`);
      await sleep(50);
    }
    const result: TrialResult = { coldMs: performance.now() - started };
    say(`${t.agent} ${t.mode}: ${t.peers} routes after ${result.coldMs.toFixed(0)} ms`);

    if (t.steady) {
      await sleep(3_000); // let start-up work (GC, coalesced writes) finish before "idle"
      result.rssMB = vmRssKb(child.pid!) / 1024;
      const before = cpuTicks(child.pid!);
      const t0 = performance.now();
      await sleep(t.idleSeconds * 1000);
      const ticks = cpuTicks(child.pid!) - before;
      result.idleCpuPct = (ticks / 100 / ((performance.now() - t0) / 1000)) * 100;
      say(`RSS ${result.rssMB.toFixed(1)} MB, idle CPU ${result.idleCpuPct.toFixed(2)} %`);
    }
    if (t.samples > 0) Object.assign(result, await latency(store, t.samples));
    // Read last: 'ready' follows the first pass, which may end after the last route went in.
    if (t.agent === 'netboot') result.phases = phasesOf(join(dir, 'agent.log'), wallStart);
    child.kill('SIGTERM');
    const killer = setTimeout(() => child?.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
    return result;
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rtnl.close();
    await store?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes `samples` new peers one at a time; each sample is write issued → its route seen by a netlink monitor. */
async function latency(store: Store, samples: number): Promise<Pick<TrialResult, 'latencyMs' | 'timeouts'>> {
  const stop = new AbortController();
  const waiting = new Map<string, (t: number) => void>();
  const events = monitor({ groups: ['ipv4-route'], signal: stop.signal, pollMs: 1 })[Symbol.asyncIterator]();
  const loop = (async () => {
    for (;;) {
      const r = await events.next();
      if (r.done) return;
      const e = r.value;
      if (e.kind === 'route' && e.action === 'new') waiting.get(decodeRoute(e.message).dst ?? '')?.(performance.now());
    }
  })();
  await sleep(100); // the first next() opened the monitor's socket: nothing is missed from here on
  const latencyMs: number[] = [];
  let timeouts = 0;
  try {
    for (let k = 0, next = 0; k < samples; k++) {
      let p = latePeer(next++);
      while (store.taken.has(p.subnet)) p = latePeer(next++);
      const seen = new Promise<number | undefined>((resolve) => {
        const timer = setTimeout(() => resolve(undefined), 10_000);
        waiting.set(p.subnet, (t) => {
          clearTimeout(timer);
          resolve(t);
        });
      });
      const t0 = performance.now();
      await store.add(p, 60_000 + k);
      const t1 = await seen;
      waiting.delete(p.subnet);
      if (t1 === undefined) timeouts++;
      else latencyMs.push(t1 - t0);
      await sleep(150); // apart: each sample is one change, not a burst the agent may batch
    }
  } finally {
    stop.abort();
    await loop.catch(() => undefined);
  }
  return { latencyMs, timeouts };
}

/**
 * netboot on etcd: a pool, one ClusterIpam block per peer, each peer's record under one etcd lease. The
 * blocks are claimed through ClusterIpam on a MemoryKv and its keys copied to etcd as they are, once per
 * peer count for the whole run (5,000 claims cost ~2 min even in memory: each scans the claimed set).
 */
async function netbootEtcd(t: TrialSpec): Promise<Store> {
  const etcd = await startEtcd();
  try {
    const { entries, cidrs } = await seededBlocks(t.peers, t.cacheDir);
    await putAll(etcd.endpoint, entries, undefined);
    const lease = await grantLease(etcd.endpoint);
    await putAll(
      etcd.endpoint,
      cidrs.map((cidr, i) => netbootRecord(peer(i), cidr, t.mode)),
      lease,
    );
    return {
      // biome-ignore format: flag/value pairs
      agentArgs: (dir) => ['--node-name', 'bench', '--node-ip', UNDERLAY.self, '--cluster-cidr', CLUSTER_CIDR, '--mode', t.mode,
        '--datastore', 'etcd', '--etcd-endpoint', etcd.endpoint, '--health-port', '0', '--lease-file', join(dir, 'subnet.json')],
      add: (p) => putAll(etcd.endpoint, [netbootRecord(p, p.subnet, t.mode)], lease),
      taken: new Set(cidrs),
      stop: () => etcd.stop(),
    };
  } catch (e) {
    await etcd.stop();
    throw e;
  }
}

/** ClusterIpam's keys after pool `default` (the cluster CIDR) and one block for each of `n` peers; peer i's block is cidrs[i]. */
async function seededBlocks(n: number, cacheDir: string): Promise<{ entries: { key: string; value: string }[]; cidrs: string[] }> {
  const file = join(cacheDir, `ipam-${n}.json`);
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8'));
  const mem = new MemoryKv();
  const ipam = new ClusterIpam(mem);
  await ipam.createPool({ name: 'default', cidr: CLUSTER_CIDR, natOutgoing: true });
  const cidrs: string[] = [];
  for (let i = 0; i < n; i++) cidrs.push((await ipam.claimBlock(peer(i).name, { family: 4 })).cidr);
  const entries = (await mem.list('')).map(({ key, value }) => ({ key, value }));
  await mem.close();
  writeFileSync(file, JSON.stringify({ entries, cidrs }));
  return { entries, cidrs };
}

/** flanneld on etcd v3: its network config and one subnet lease per peer, all under one etcd lease. */
async function flannelEtcd(t: TrialSpec): Promise<Store> {
  const etcd = await startEtcd();
  try {
    const lease = await grantLease(etcd.endpoint);
    await putAll(etcd.endpoint, [flannelConfig(t.mode)], undefined);
    await putAll(
      etcd.endpoint,
      Array.from({ length: t.peers }, (_, i) => flannelLease(peer(i), i, t.mode)),
      lease,
    );
    return {
      // --ip-masq: flanneld's egress NAT, as netboot's agent masquerades by default.
      // biome-ignore format: flag/value pairs
      agentArgs: (dir) => ['--etcd-endpoints', etcd.endpoint, '--iface', 'eth0', '--ip-masq', '--subnet-file', join(dir, 'subnet.env'), '--healthz-port', '0'],
      add: (p, i) => putAll(etcd.endpoint, [flannelLease(p, i, t.mode)], lease),
      taken: new Set(Array.from({ length: t.peers }, (_, i) => peer(i).subnet)),
      stop: () => etcd.stop(),
    };
  } catch (e) {
    await etcd.stop();
    throw e;
  }
}

/** netboot on the Kubernetes API: a real control plane, one Node per peer (spec.podCIDRs + netboot.io annotations). */
async function kubernetesStore(t: TrialSpec): Promise<Store> {
  const cp = await startControlPlane({ podCIDR: CLUSTER_CIDR, nodeMaskSize: 24 });
  try {
    const nodes = Array.from({ length: t.peers }, (_, i) => netbootNode(peer(i), t.mode));
    for (let i = 0; i < nodes.length; i += 500)
      cp.kubectl(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: nodes.slice(i, i + 500) }));
    const conf = readFileSync(cp.kubeconfig, 'utf8');
    const field = (name: string) => Buffer.from(new RegExp(`${name}: (\\S+)`).exec(conf)![1]!, 'base64');
    // One kept-alive TLS connection, as a client in a cluster holds one.
    const agent = new HttpsAgent({ keepAlive: true, cert: field('client-certificate-data'), key: field('client-key-data'), rejectUnauthorized: false });
    const create = (body: object) =>
      new Promise<void>((resolve, reject) => {
        const req = request(`${cp.server}/api/v1/nodes`, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 201 ? resolve() : reject(new Error(`POST /api/v1/nodes: HTTP ${res.statusCode}`))));
        });
        req.on('error', reject);
        req.end(JSON.stringify(body));
      });
    return {
      // biome-ignore format: flag/value pairs
      agentArgs: (dir) => ['--node-name', 'bench', '--node-ip', UNDERLAY.self, '--cluster-cidr', CLUSTER_CIDR, '--mode', t.mode,
        '--datastore', 'kubernetes', '--kubeconfig', cp.kubeconfig, '--register-node', '--health-port', '0', '--lease-file', join(dir, 'subnet.json')],
      add: (p) => create(netbootNode(p, t.mode)),
      taken: new Set(Array.from({ length: t.peers }, (_, i) => peer(i).subnet)),
      stop: async () => {
        agent.destroy();
        await cp.stop();
      },
    };
  } catch (e) {
    await cp.stop();
    throw e;
  }
}

// etcd's JSON gateway (/v3/…, base64 keys and values): no client library, nothing between the bench and etcd.
async function etcdPost(endpoint: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${endpoint}/v3/${path}`, { method: 'POST', body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`etcd ${path}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

/** An etcd lease long enough for the whole trial (flanneld skips keys whose lease TTL it cannot read). */
async function grantLease(endpoint: string): Promise<string> {
  return String((await etcdPost(endpoint, 'lease/grant', { TTL: 3600 })).ID);
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** Puts in transactions of 128 (etcd's --max-txn-ops default). */
async function putAll(endpoint: string, kvs: { key: string; value: string }[], lease: string | undefined): Promise<void> {
  for (let i = 0; i < kvs.length; i += 128) {
    const success = kvs.slice(i, i + 128).map((kv) => ({ requestPut: { key: b64(kv.key), value: b64(kv.value), ...(lease && { lease }) } }));
    await etcdPost(endpoint, 'kv/txn', { success });
  }
}

function vmRssKb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

/** utime+stime+cutime+cstime (clock ticks, 100 Hz): children count too (flanneld runs iptables, netboot nft). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
}

/** ms from `wallStart` to the first log line of each phase. */
function phasesOf(file: string, wallStart: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    try {
      const l = JSON.parse(line) as { time?: string; msg?: string };
      if (l.msg !== undefined && l.time !== undefined && (PHASES as readonly string[]).includes(l.msg) && !(l.msg in out))
        out[l.msg] = Date.parse(l.time) - wallStart;
    } catch {}
  }
  return out;
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '(no log)';
  }
}
