// The node agent as the plugin's warm CNI server (`netboot agent --cni-socket`), in an nbt node namespace
// with the file datastore: the agent must answer pods' calls without per-call work of its own. A pod's
// ADD and DEL make and remove a veth on the node's bridge (link, address, route and FDB events the agent's
// routes monitor sees, beside a peer routed through eth0): none may start a reconcile pass or a kernel
// write — checked by /metrics, not by timing. And the server loads the verbs when it starts, so the
// first pod's ADD is not the one to pay.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ipJson, privileged, sh } from '@netboot/core/testing';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Node, usePlugin } from './cni-fixture.js';
import { CLI, ROOT } from './lab-cli-fixture.js';

const it = privileged(test);
const onNode = usePlugin(it);
const HEALTH_PORT = 9131;

interface ServingAgent {
  socket: string;
  log(): string;
  /** /metrics, fetched inside the node namespace. */
  metrics(): string;
  stop(): Promise<void>;
}

/** `netboot agent --cni-socket` entered with `nsenter --net` (the plugin's mount namespace, so its calls are served). */
async function startServingAgent(node: Node): Promise<ServingAgent> {
  // The node's uplink: the agent detects its node IP from the default route's device.
  sh(node.ns, 'ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'ul0');
  sh(node.ns, 'ip', 'addr', 'add', '192.168.1.11/24', 'dev', 'eth0');
  for (const dev of ['lo', 'eth0', 'ul0']) sh(node.ns, 'ip', 'link', 'set', dev, 'up');
  sh(node.ns, 'ip', 'route', 'add', 'default', 'via', '192.168.1.1');
  // eth0's IPv6 link-local address arrives once DAD is done (~1-2 s): an uplink's address event, on which the
  // agent rightly re-reads everything. Settled first, as on a running node.
  const settled = () =>
    ipJson(node.ns, '-6', 'addr', 'show', 'dev', 'eth0').some((l: { addr_info: { tentative?: boolean }[] }) => l.addr_info.some((a) => !a.tentative));
  for (const deadline = Date.now() + 10_000; !settled(); ) {
    if (Date.now() > deadline) throw new Error('eth0 got no IPv6 link-local address within 10 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  const socket = join(node.dir, 'cni.sock');
  const logFile = join(node.dir, 'agent.log');
  const fd = openSync(logFile, 'w');
  // A peer, so the agent routes through eth0: its events (unlike a pod's) are ones it must act on.
  const nodesFile = join(node.dir, 'nodes.json');
  const peer = { name: 'node2', nodeIPs: ['192.168.1.12'], podCIDRs: ['10.244.2.0/24'] };
  writeFileSync(nodesFile, JSON.stringify({ nodes: [{ name: 'node1', podCIDRs: ['10.244.1.0/24'] }, peer] }));
  const args = ['--node-name', 'node1', '--cluster-cidr', '10.244.0.0/16', '--mode', 'host-gw', '--datastore', 'file', '--nodes-file', nodesFile];
  const child: ChildProcess = spawn(
    'nsenter',
    [
      `--net=${node.ns.path}`,
      process.execPath,
      ...CLI,
      'agent',
      ...args,
      '--lease-file',
      join(node.dir, 'lease.json'),
      '--health-port',
      String(HEALTH_PORT),
      '--cni-socket',
      socket,
    ],
    { cwd: ROOT, stdio: ['ignore', 'ignore', fd] },
  );
  closeSync(fd);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const log = () => readFileSync(logFile, 'utf8');
  const deadline = Date.now() + 60_000;
  // Ready, and the verbs loaded before any call came (server.ts, warm.ts).
  while (!log().includes('"msg":"ready"') || !log().includes('verbs loaded in')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the agent did not get ready, or its CNI server did not load the verbs: ${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const metrics = () =>
    execFileSync(
      'ip',
      [
        'netns',
        'exec',
        node.ns.name,
        process.execPath,
        '-e',
        `fetch('http://127.0.0.1:${HEALTH_PORT}/metrics').then(async (r) => console.log(await r.text()))`,
      ],
      {
        encoding: 'utf8',
      },
    );
  return {
    socket,
    log,
    metrics,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The series of `name` with their values (labels as written), e.g. {'{pass="full"}': 1}. */
function series(metrics: string, name: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of metrics.matchAll(new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`, 'gm'))) out[m[1] ?? ''] = Number(m[2]);
  return out;
}

it('pods served by the agent: verbs loaded before the first call; 10 ADD/DEL pairs start no reconcile pass and write nothing', () =>
  onNode(async (node) => {
    const agent = await startServingAgent(node);
    try {
      // Past the start-up's passes (its first full pass, the repair of its own echoes).
      await new Promise((r) => setTimeout(r, 500));
      const peerRoute = () => ipJson(node.ns, 'route', 'show', '10.244.2.0/24') as { gateway?: string; dev: string }[];
      assert.equal(
        peerRoute().map((r) => [r.gateway, r.dev]),
        [['192.168.1.12', 'eth0']],
        'the agent routes its peer through eth0',
      );
      const before = agent.metrics();
      assert.ok((series(before, 'netboot_reconcile_passes_total')['{pass="full"}'] ?? 0) >= 1, `the start-up's full pass is counted:\n${before}`);
      const conf = node.conf({ server: agent.socket, isGateway: true });
      for (let i = 0; i < 10; i++) {
        const pod = node.pod();
        const add = node.run('ADD', conf, { containerId: pod.name, netns: pod.path, nsenter: true });
        assert.is(add.code, 0, `ADD ${i}: ${JSON.stringify(add.out)} ${add.stderr}`);
        const del = node.run('DEL', conf, { containerId: pod.name, netns: pod.path, nsenter: true });
        assert.is(del.code, 0, `DEL ${i}: ${JSON.stringify(del.out)} ${del.stderr}`);
      }
      const served = (verb: string) => agent.log().match(new RegExp(`cni server: ${verb} .* exit 0 in`, 'g'))?.length ?? 0;
      assert.equal([served('ADD'), served('DEL')], [10, 10], agent.log());
      assert.not.match(agent.log(), /fallback/);
      // Longer than the monitor's repair delay (50 ms) and a poll (200 ms): a pass the events caused has run.
      await new Promise((r) => setTimeout(r, 600));
      const after = agent.metrics();
      for (const name of ['netboot_reconcile_passes_total', 'netboot_operations_total', 'netboot_reconcile_errors_total'])
        assert.equal(series(after, name), series(before, name), `${name} moved while only pods came and went:\n${before}\n${after}`);
    } finally {
      await agent.stop();
    }
  }));

it.run();
