// `netboot lab check` against a lab built by hand with `ip` and `nft` (no `lab up`): two dual-stack pods
// on node1's bridge, a third on node2, the nodes routed to each other's pod subnets over an underlay
// bridge, each node masquerading its pods' traffic to anything but pods and nodes, and an outside host.
// The check must pass, and must fail with the right reason when a route, the masquerade, or the absence
// of one on pod→pod is broken.
import { execFileSync } from 'node:child_process';
import { test as uvuTest } from 'uvu';
import * as assert from 'uvu/assert';
import { privileged, sh, type TempNetns, withNetns } from '@netboot/core/testing';
import { checkLab, labCheck } from '../src/lab/check.js';
import type { ProbeResult } from '../src/lab/matrix.js';
import { openResponder } from '../src/lab/probe.js';
import { runProbeClient } from '../src/lab/probe-client.js';
import type { LabState } from '../src/lab/state.js';

const test = privileged(uvuTest);

function ipBatch(ns: TempNetns, lines: string[]): void {
  execFileSync('ip', ['-n', ns.name, '-batch', '-'], { input: `${lines.join('\n')}\n`, stdio: ['pipe', 'ignore', 'pipe'] });
}

function nft(ns: TempNetns, script: string): void {
  execFileSync('ip', ['netns', 'exec', ns.name, 'nft', '-f', '-'], { input: script, stdio: ['pipe', 'ignore', 'pipe'] });
}

// What the agent's egress table does: pods' traffic to pods and nodes keeps its source, the rest is
// masqueraded to the node's address.
const MASQUERADE = `table inet nbt-masq {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr 10.244.0.0/16 ip daddr { 10.244.0.0/16, 192.168.1.11, 192.168.1.12 } return
    ip saddr 10.244.0.0/16 masquerade
    ip6 saddr fd00:10:244::/48 ip6 daddr { fd00:10:244::/48, fd00:1::11, fd00:1::12 } return
    ip6 saddr fd00:10:244::/48 masquerade
  }
}
`;

/** Builds the lab in `nss` (underlay, node1, node2, outside, pod1, pod2, pod3) and returns its state. */
function buildLab(nss: TempNetns[]): LabState {
  const [ul, n1, n2, out, ...pods] = nss;
  // No DAD, for the link-local addresses too: a tentative one delays neighbour discovery by a second.
  for (const ns of nss) sh(ns, 'sysctl', '-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0');
  ipBatch(ul!, ['link add br0 type bridge', 'link set br0 up']);
  const hosts: [TempNetns, number][] = [
    [n1!, 11],
    [n2!, 12],
    [out!, 100],
  ];
  for (const [ns, x] of hosts) {
    ipBatch(ul!, [`link add u${x} type veth peer name eth0 netns ${ns.name}`, `link set u${x} master br0 up`]);
    ipBatch(ns, ['link set lo up', 'link set eth0 up', `addr add 192.168.1.${x}/24 dev eth0`, `addr add fd00:1::${x}/64 dev eth0 nodad`]);
  }
  // The outside host can answer pods directly: a missing masquerade then shows as "not NAT'd" (in a
  // real lab it has no such route and the probe times out).
  ipBatch(out!, ['route add 10.244.0.0/16 via 192.168.1.11', 'route add fd00:10:244::/48 via fd00:1::11']);
  const nodes = [
    { ns: n1!, i: 1, peer: 2 },
    { ns: n2!, i: 2, peer: 1 },
  ];
  for (const { ns, i, peer } of nodes) {
    sh(ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1');
    ipBatch(ns, [
      'link add cni0 type bridge',
      'link set cni0 up',
      `addr add 10.244.${i}.1/24 dev cni0`,
      `addr add fd00:10:244:${i}::1/64 dev cni0 nodad`,
      `route add 10.244.${peer}.0/24 via 192.168.1.1${peer}`,
      `route add fd00:10:244:${peer}::/64 via fd00:1::1${peer}`,
    ]);
    nft(ns, MASQUERADE);
  }
  const placed = [
    { ns: pods[0]!, node: 1, host: 2 },
    { ns: pods[1]!, node: 1, host: 3 },
    { ns: pods[2]!, node: 2, host: 2 },
  ];
  for (const [k, { ns, node, host }] of placed.entries()) {
    const nodeNs = nodes[node - 1]!.ns;
    ipBatch(nodeNs, [`link add veth${k} type veth peer name eth0 netns ${ns.name}`, `link set veth${k} master cni0 up`]);
    ipBatch(ns, [
      'link set lo up',
      'link set eth0 up',
      `addr add 10.244.${node}.${host}/24 dev eth0`,
      `addr add fd00:10:244:${node}::${host}/64 dev eth0 nodad`,
      `route add default via 10.244.${node}.1`,
      `route add default via fd00:10:244:${node}::1`,
    ]);
  }
  return {
    name: 'hand-made',
    dir: '/nonexistent',
    mode: 'host-gw',
    datastore: 'file',
    podCIDRs: ['10.244.0.0/16', 'fd00:10:244::/48'],
    namespaces: [],
    processes: [],
    outside: { netns: out!.name, ips: ['192.168.1.100', 'fd00:1::100'] },
    nodes: nodes.map(({ ns, i }) => ({
      name: `node${i}`,
      netns: ns.name,
      ips: [`192.168.1.1${i}`, `fd00:1::1${i}`],
      podCIDRs: [`10.244.${i}.0/24`],
      dir: '/nonexistent',
    })),
    pods: placed.map(({ ns, node, host }, k) => ({
      name: `pod${k + 1}`,
      node: `node${node}`,
      netns: ns.name,
      containerId: `c${k + 1}`,
      ifname: 'eth0',
      ips: [`10.244.${node}.${host}`, `fd00:10:244:${node}::${host}`],
    })),
    complete: true,
  };
}

const failures = (results: ProbeResult[]) => results.filter((r) => !r.ok).map((r) => `${r.from}>${r.to}/${r.family}: ${r.reason}`);

/** Runs labCheck with stdout captured: its exit code and what it printed. */
async function captured(state: LabState, json: boolean): Promise<{ code: number; text: string }> {
  const write = process.stdout.write;
  let text = '';
  process.stdout.write = ((chunk: string) => {
    text += chunk;
    return true;
  }) as typeof process.stdout.write;
  try {
    return { code: await labCheck(state, { json }), text };
  } finally {
    process.stdout.write = write;
  }
}

test('a responder listens in its namespace (listen without a host is synchronous), and only there', async () => {
  await withNetns(2, async (a, b) => {
    for (const ns of [a, b]) ipBatch(ns, ['link set lo up']);
    const responder = openResponder(a.name);
    try {
      assert.match(sh(a, 'ss', '-Hltn'), new RegExp(`:${responder.port}\\b`));
      assert.not.match(sh(b, 'ss', '-Hltn'), new RegExp(`:${responder.port}\\b`));
      const target = [{ ip: '127.0.0.1', port: responder.port }];
      assert.equal(await runProbeClient(['nsenter', `--net=${a.path}`], target, 1000), [{ seen: '127.0.0.1' }]);
      assert.equal(await runProbeClient(['nsenter', `--net=${b.path}`], target, 1000), [{ error: 'refused' }]);
    } finally {
      responder.close();
    }
  });
});

test('a healthy hand-made lab passes every probe, fast; each break fails with its reason', async () => {
  await withNetns(7, async (...nss) => {
    const state = buildLab(nss);
    const [, n1, , out] = nss;

    const started = Date.now();
    const results = await checkLab(state);
    const ms = Date.now() - started;
    assert.equal(failures(results), []);
    assert.is(results.length, 30, '3 pods × 2 families × (2 pods + 2 nodes + outside)');
    assert.ok(ms < 3000, `the matrix took ${ms} ms`);
    const toOutside = results.find((r) => r.from === 'pod3' && r.to === 'outside' && r.family === 'ipv6')!;
    assert.is(toOutside.seen, 'fd00:1::12', "pod3's IPv6 reaches the outside as node2");

    const json = await captured(state, true);
    assert.is(json.code, 0);
    const list = JSON.parse(json.text) as Record<string, unknown>[];
    assert.is(list.length, 30);
    assert.equal(list[0], {
      from: 'pod1',
      to: 'pod2',
      family: 'ipv4',
      fromIp: '10.244.1.2',
      toIp: '10.244.1.3',
      ok: true,
      seen: '10.244.1.2',
      expected: '10.244.1.2',
      reason: null,
    });
    const text = await captured(state, false);
    assert.is(text.code, 0);
    assert.match(text.text, /\n30 of 30 probes passed \(\d+\.\d s\)\n$/);

    // node1 loses its route to node2's pods: replies to pod3 go nowhere (timeout), pod1/pod2's SYNs to it
    // are refused by node1's ICMP (unreachable). Nothing else is touched.
    ipBatch(n1!, ['route del 10.244.2.0/24']);
    const noRoute = await checkLab(state);
    assert.equal(
      noRoute.filter((r) => !r.ok).map((r) => `${r.from}>${r.to}/${r.family}`),
      ['pod1>pod3/ipv4', 'pod2>pod3/ipv4', 'pod3>pod1/ipv4', 'pod3>pod2/ipv4', 'pod3>node1/ipv4'],
    );
    assert.is(noRoute.find((r) => r.from === 'pod3' && r.to === 'pod1' && r.family === 'ipv4')!.reason, 'timeout');
    for (const r of noRoute.filter((r) => !r.ok)) assert.ok(['timeout', 'unreachable'].includes(r.reason!), `${r.from}>${r.to}: ${r.reason}`);
    assert.is((await captured(state, false)).code, 1);
    ipBatch(n1!, ['route add 10.244.2.0/24 via 192.168.1.12']);

    // node1 stops masquerading: the outside sees node1's pods themselves.
    sh(n1!, 'nft', 'delete', 'table', 'inet', 'nbt-masq');
    assert.equal(failures(await checkLab(state)), [
      "pod1>outside/ipv4: not NAT'd",
      "pod1>outside/ipv6: not NAT'd",
      "pod2>outside/ipv4: not NAT'd",
      "pod2>outside/ipv6: not NAT'd",
    ]);
    nft(n1!, MASQUERADE);

    // A stray masquerade on node1 for pod→pod across nodes: pod3 sees node1 instead of the pods.
    sh(n1!, 'nft', 'insert', 'rule', 'inet', 'nbt-masq', 'postrouting', 'ip', 'saddr', '10.244.1.0/24', 'ip', 'daddr', '10.244.2.0/24', 'masquerade');
    assert.equal(failures(await checkLab(state)), ["pod1>pod3/ipv4: NAT'd as 192.168.1.11", "pod2>pod3/ipv4: NAT'd as 192.168.1.11"]);
    nft(n1!, `delete table inet nbt-masq\n${MASQUERADE}`);
    assert.equal(failures(await checkLab(state)), [], 'healthy again');

    // A namespace that is gone: the probes to or from it say so, the others still run.
    const gone = { ...state, outside: { ...state.outside, netns: `${out!.name}-gone` } };
    const noOutside = await checkLab(gone);
    assert.is(noOutside.filter((r) => !r.ok).length, 6);
    for (const r of noOutside.filter((r) => !r.ok)) assert.is(r.reason, `no namespace ${out!.name}-gone`);
    const noPod1 = await checkLab({ ...state, pods: state.pods.map((p) => (p.name === 'pod1' ? { ...p, netns: `${p.netns}-gone` } : p)) });
    assert.equal([...new Set(noPod1.filter((r) => !r.ok).map((r) => r.reason))], [`no namespace ${nss[4]!.name}-gone`]);
    assert.is(noPod1.filter((r) => !r.ok).length, 10 + 4, 'from pod1 (5 × 2) and to it (pod2, pod3 × 2)');
  });
});

test.run();
