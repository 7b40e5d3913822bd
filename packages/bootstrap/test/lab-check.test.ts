// `netboot lab check`'s pure half (which probes, what each must see, the table) and its probe client,
// run here against responders on loopback in this process's namespace: no root, no FFI.
import { createServer, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runWithout, throwsA } from '@netboot/core/testing/pure';
import { judge, LabStateError, planProbes, type Probe, renderMatrix, summary } from '../src/lab/matrix.js';
import { runProbeClient } from '../src/lab/probe-client.js';
import type { LabState } from '../src/lab/state.js';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');

// Two nodes (IPv4 underlay), node1 with a dual-stack pod and an IPv4-only one, node2 with a dual-stack
// pod; the outside host has both families, but only IPv4 can be NAT'd to a node address.
function lab(): LabState {
  const node = (i: number) => ({ name: `node${i}`, netns: `t-node${i}`, ips: [`192.168.1.1${i}`], podCIDRs: [`10.244.${i}.0/24`], dir: `/x/node${i}` });
  const pod = (name: string, node: string, ips: string[]) => ({ name, node, netns: `t-${name}`, containerId: name, ifname: 'eth0', ips });
  return {
    name: 't',
    dir: '/x',
    mode: 'host-gw',
    datastore: 'file',
    podCIDRs: ['10.244.0.0/16', 'fd00:10:244::/56'],
    namespaces: [],
    processes: [],
    outside: { netns: 't-outside', ips: ['192.168.1.100', 'fd00:1::100'] },
    nodes: [node(1), node(2)],
    // In the order their ADDs finished, as `lab up` records them; the check orders them by node and name.
    pods: [
      pod('pod3', 'node2', ['10.244.2.2', 'fd00:10:244:2::2']),
      pod('pod2', 'node1', ['10.244.1.3']),
      pod('pod1', 'node1', ['10.244.1.2', 'fd00:10:244:1::2']),
    ],
    complete: true,
  };
}

const key = (p: Probe) => `${p.from}>${p.to}/${p.family}=${p.expected}`;

test('planProbes: every pod (by node, then name) to every other pod, every node and outside, per family the pair shares', () => {
  const probes = planProbes(lab());
  assert.equal(probes.map(key), [
    'pod1>pod2/ipv4=10.244.1.2',
    'pod1>pod3/ipv4=10.244.1.2',
    'pod1>node1/ipv4=10.244.1.2',
    'pod1>node2/ipv4=10.244.1.2',
    'pod1>outside/ipv4=192.168.1.11',
    'pod1>pod3/ipv6=fd00:10:244:1::2',
    'pod2>pod1/ipv4=10.244.1.3',
    'pod2>pod3/ipv4=10.244.1.3',
    'pod2>node1/ipv4=10.244.1.3',
    'pod2>node2/ipv4=10.244.1.3',
    'pod2>outside/ipv4=192.168.1.11',
    'pod3>pod1/ipv4=10.244.2.2',
    'pod3>pod2/ipv4=10.244.2.2',
    'pod3>node1/ipv4=10.244.2.2',
    'pod3>node2/ipv4=10.244.2.2',
    'pod3>outside/ipv4=192.168.1.12',
    'pod3>pod1/ipv6=fd00:10:244:2::2',
  ]);
  const first = probes[0]!;
  assert.equal(first, {
    from: 'pod1',
    fromNetns: 't-pod1',
    fromIp: '10.244.1.2',
    to: 'pod2',
    toKind: 'pod',
    toNetns: 't-pod2',
    toIp: '10.244.1.3',
    family: 'ipv4',
    expected: '10.244.1.2',
  });
});

test('planProbes: prefix lengths are dropped; a pod on a node the state does not list is refused', () => {
  const state = lab();
  state.nodes[0]!.ips = ['192.168.1.11/24'];
  assert.ok(planProbes(state).some((p) => p.to === 'node1' && p.toIp === '192.168.1.11'));
  assert.ok(planProbes(state).some((p) => p.to === 'outside' && p.from === 'pod1' && p.expected === '192.168.1.11'));
  state.pods.find((p) => p.name === 'pod1')!.node = 'node9';
  throwsA(() => planProbes(state), LabStateError, /pod1 is on node node9/);
});

test('judge: the expected source passes; otherwise the reason says what happened', () => {
  const probes = planProbes(lab());
  const find = (from: string, to: string, family = 'ipv4') => probes.find((p) => p.from === from && p.to === to && p.family === family)!;
  const podToPod = find('pod1', 'pod3');
  const podToNode = find('pod1', 'node2');
  const podToOutside = find('pod1', 'outside');

  assert.equal(judge(podToPod, { seen: '10.244.1.2' }), { ...podToPod, ok: true, seen: '10.244.1.2', reason: null });
  assert.equal(judge(podToPod, { seen: '192.168.1.11' }).reason, "NAT'd as 192.168.1.11");
  assert.equal(judge(podToNode, { seen: '192.168.1.11' }).reason, "NAT'd as 192.168.1.11");
  assert.equal(judge(podToPod, { error: 'timeout' }), { ...podToPod, ok: false, seen: null, reason: 'timeout' });

  assert.ok(judge(podToOutside, { seen: '192.168.1.11' }).ok);
  assert.equal(judge(podToOutside, { seen: '10.244.1.2' }).reason, "not NAT'd");
  assert.equal(judge(podToOutside, { seen: '192.168.1.12' }).reason, "NAT'd as 192.168.1.12");

  // IPv6 text is compared as addresses, not strings.
  assert.ok(judge(find('pod1', 'pod3', 'ipv6'), { seen: 'fd00:10:244:1:0:0:0:2' }).ok);
});

test('renderMatrix: rows per pod and family, columns pods, nodes, outside; summary counts', () => {
  const state = lab();
  const results = planProbes(state).map((p) => {
    if (p.from === 'pod2' && p.to === 'outside') return judge(p, { seen: p.fromIp });
    if (p.from === 'pod3' && p.to === 'pod1' && p.family === 'ipv6') return judge(p, { error: 'timeout' });
    return judge(p, { seen: p.expected });
  });
  assert.equal(
    renderMatrix(state, results),
    [
      '           pod1       pod2  pod3  node1  node2  outside',
      'pod1 ipv4  ·          ✓     ✓     ✓      ✓      ✓',
      'pod1 ipv6  ·          –     ✓     –      –      –',
      "pod2 ipv4  ✓          ·     ✓     ✓      ✓      ✗ not NAT'd",
      'pod3 ipv4  ✓          ✓     ·     ✓      ✓      ✓',
      'pod3 ipv6  ✗ timeout  –     ·     –      –      –',
    ].join('\n'),
  );
  assert.is(summary(results), '15 of 17 probes passed');

  // A single-family lab has no family in its row labels.
  const v4 = lab();
  for (const p of v4.pods) p.ips = p.ips.filter((ip) => !ip.includes(':'));
  assert.match(
    renderMatrix(
      v4,
      planProbes(v4).map((p) => judge(p, { seen: p.expected })),
    ),
    /\npod1 {2}· /,
  );
});

function listen(onConnection: (socket: import('node:net').Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(onConnection);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port })));
}

test('probe client: reports what the responder said, refused, and timeout — all in one child, in order', async () => {
  const talker = await listen((s) => s.end(`${s.remoteAddress}\n`));
  const silent = await listen(() => undefined);
  const closed = await listen(() => undefined);
  closed.server.close();
  try {
    const started = Date.now();
    const outcomes = await runProbeClient(
      [],
      [
        { ip: '127.0.0.1', port: talker.port },
        { ip: '127.0.0.1', port: closed.port },
        { ip: '127.0.0.1', port: silent.port },
      ],
      300,
    );
    assert.equal(outcomes, [{ seen: '127.0.0.1' }, { error: 'refused' }, { error: 'timeout' }]);
    assert.ok(Date.now() - started < 3000, 'the probes ran in parallel under one timeout');
  } finally {
    talker.server.close();
    silent.server.close();
  }
});

test('probe client: a child that cannot run gives every target the reason', async () => {
  const outcomes = await runProbeClient(['/nonexistent/nsenter'], [{ ip: '127.0.0.1', port: 1 }], 300);
  assert.equal(outcomes.length, 1);
  assert.match((outcomes[0] as { error: string }).error, /probe did not start: .*ENOENT/);
  const failed = await runProbeClient(['sh', '-c', 'echo "nsenter: cannot open /run/netns/x" >&2; exit 1', 'sh'], [{ ip: '127.0.0.1', port: 1 }], 300);
  assert.equal(failed, [{ error: 'probe failed (exit 1): nsenter: cannot open /run/netns/x' }]);
});

test('the matrix and probe client load without koffi', () => {
  const res = runWithout(['koffi'], "import './src/lab/matrix.ts'; import './src/lab/probe-client.ts';", { cwd: pkg });
  assert.is(res.status, 0, res.output);
});

test.run();
