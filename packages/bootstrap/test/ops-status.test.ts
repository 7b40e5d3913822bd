// `netboot status`: the judging of records and agent health (pure), and the command on a file datastore
// asking a real agent health server (the agent's own serveHealth and Metrics) on 127.0.0.1.
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { withTempDir } from '@netboot/core/testing';
import { serveHealth } from '../src/agent/health.js';
import { Metrics } from '../src/agent/metrics.js';
import { checkRecord } from '../src/datastore/records.js';
import { judgeHealth, parseMetrics } from '../src/ops/health.js';
import { judgeStatus, renderStatus } from '../src/ops/status.js';
import { netboot } from './ops-fixture.js';

const node = (name: string, n: number, extra: Record<string, unknown> = {}) => ({
  name,
  nodeIPs: [`192.168.1.1${n}`],
  podCIDRs: [`10.244.${n}.0/24`],
  mode: 'vxlan',
  ...extra,
});

test('parseMetrics sums label sets; judgeHealth reads readiness and the reconcile counters', () => {
  const text = [
    '# HELP netboot_peers Peers.',
    '# TYPE netboot_peers gauge',
    'netboot_peers 2',
    'netboot_datastore_up 0',
    'netboot_reconcile_passes_total{kind="full"} 3',
    'netboot_reconcile_passes_total{kind="update"} 4',
    'netboot_reconcile_errors_total 1',
    'garbage line',
  ].join('\n');
  const m = parseMetrics(text);
  assert.is(m.get('netboot_reconcile_passes_total'), 7);
  assert.is(m.get('netboot_peers'), 2);
  const ready = judgeHealth({ status: 200, body: 'ok\n' }, text);
  assert.equal(
    { ...ready },
    {
      state: 'ready',
      detail: 'ready, but the datastore is unreachable (routes kept as last synced)',
      peers: 2,
      datastoreUp: false,
      reconcilePasses: 7,
      reconcileErrors: 1,
    },
  );
  const waiting = judgeHealth({ status: 503, body: 'not ready: the first datastore sync\n' }, undefined);
  assert.equal(waiting, { state: 'not-ready', detail: 'waiting for the first datastore sync' });
});

test('judgeStatus: overlapping subnets, a shared node IP, mixed modes and an unready local agent are problems', () => {
  const healthy = judgeStatus('file x', [node('a', 1), node('b', 2)], new Map([['a', { state: 'ready' as const, detail: 'ready' }]]));
  assert.equal(healthy.problems, []);
  assert.equal(
    healthy.nodes.map((n) => n.health.state),
    ['ready', 'unknown'],
  );
  const bad = judgeStatus(
    'file x',
    [node('a', 1), node('b', 2, { podCIDRs: ['10.244.1.128/25'], nodeIPs: ['192.168.1.11'], mode: 'host-gw' })],
    new Map([['a', { state: 'not-ready' as const, detail: 'waiting for the first reconcile' }]]),
  );
  assert.equal(bad.problems.length, 4, bad.problems.join('\n'));
  assert.match(bad.problems.join('\n'), /agent not-ready: waiting for the first reconcile/);
  assert.match(bad.problems.join('\n'), /pod subnets overlap: a has 10\.244\.1\.0\/24, b has 10\.244\.1\.128\/25/);
  assert.match(bad.problems.join('\n'), /node IP 192\.168\.1\.11 is claimed by a and b/);
  assert.match(bad.problems.join('\n'), /different routing modes \(a: vxlan, b: host-gw\)/);
  assert.match(renderStatus(bad), /✗ pod subnets overlap/);
  // Other nodes' health comes from their records' summaries; a bad summary is dropped, not the record.
  const published = judgeStatus(
    'file x',
    [node('a', 1), node('b', 2, { health: { ready: false, waitingFor: 'the first datastore sync', errors: 1 } })],
    new Map(),
  );
  assert.equal(published.nodes[1]!.health, { state: 'not-ready', detail: 'waiting for the first datastore sync', reconcileErrors: 1 });
  assert.match(renderStatus(published), /b\s.*✗ not-ready: waiting for the first datastore sync \(1 errors\)/);
  assert.is(checkRecord(node('c', 3, { health: { ready: 'yes' } }), 'c').health, undefined);
  const aged = judgeStatus('file x', [node('d', 4, { health: { ready: true, reconciledAt: '2026-01-01T00:00:00Z', errors: 0 } })], new Map());
  assert.match(renderStatus(aged, Date.parse('2026-01-01T00:05:00Z')), /✓ ready \(reported 5m ago, 0 errors\)/);
  // Run on a machine that is no node: nothing answers, no record — not a problem.
  assert.equal(judgeStatus('file x', [node('a', 1)], new Map([['laptop', { state: 'unreachable' as const, detail: 'x' }]])).problems, []);
});

test('netboot status on a file datastore asks the local agent: ready, then not ready (exit 1)', async () => {
  await withTempDir(async (dir) => {
    const nodes = join(dir, 'nodes.json');
    const reconciledAt = new Date(Date.now() - 5_000).toISOString();
    writeFileSync(
      nodes,
      JSON.stringify({
        nodes: [
          node('node1', 1, { health: { ready: false, waitingFor: 'stale' } }),
          node('node2', 2, { health: { ready: true, reconciledAt, errors: 3 } }),
          node('node3', 3),
        ],
      }),
    );
    const metrics = new Metrics();
    metrics.set('netboot_peers', 1);
    metrics.set('netboot_datastore_up', 1);
    metrics.add('netboot_reconcile_passes_total', 5, { kind: 'full' });
    let waiting: string | undefined;
    const server = await serveHealth(0, { notReady: () => waiting, metrics });
    const port = String((server.address() as AddressInfo).port);
    try {
      const r = await netboot('status', '--nodes-file', nodes, '--node', 'node1', '--health-port', port);
      assert.is(r.code, 0, r.stdout + r.stderr);
      // node1: the local agent asked directly wins over its record's (stale) summary; node2: its record's.
      assert.match(r.stdout, /node1\s+192\.168\.1\.11\s+10\.244\.1\.0\/24\s+vxlan\s+✓ ready \(1 peers, 5 passes, 0 errors\)/);
      assert.match(r.stdout, /node2\s+192\.168\.1\.12\s+10\.244\.2\.0\/24\s+vxlan\s+✓ ready \(reported \d+s ago, 3 errors\)/);
      assert.match(r.stdout, /node3\s.*\s+unknown$/m);
      waiting = 'the first reconcile';
      const unready = await netboot('status', '--nodes-file', nodes, '--node', 'node1', '--health-port', port, '--json');
      assert.is(unready.code, 1);
      assert.equal(unready.json().problems, ['node node1: agent not-ready: waiting for the first reconcile']);
      assert.equal(unready.json().nodes[1].health, { state: 'ready', detail: 'ready', reconcileErrors: 3, reconciledAt });
    } finally {
      server.close();
    }
  });
});

test.run();
