// ClusterIpam on a real etcd (Debian's etcd-server, started on 127.0.0.1 with a free port): one writer's
// allocate, repeated allocate (idempotent) and release latency, and the etcd round trips each costs.
// Writes its section of bench/RESULTS.md between the `ipam-etcd` markers.
//
//   pnpm bench ipam-etcd
//   PODS=100 pnpm bench ipam-etcd
import { startEtcd } from '@netboot/core/testing';
import { ClusterIpam, type KvStore } from '@netboot/ipam';
import { openEtcdKv } from '@netboot/ipam/etcd';
import { intEnv, machineFacts, writeResultsSection } from './lib/common.js';

const PODS = intEnv('PODS', 300);
const lines: string[] = [];

/** Counts every call that reaches etcd (one gRPC round trip each). */
function counting(kv: KvStore): { kv: KvStore; calls: () => number } {
  let n = 0;
  const wrapped = new Proxy(kv, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function' || prop === 'close') return v;
      return (...args: unknown[]) => {
        n++;
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { kv: wrapped, calls: () => n };
}

const etcd = await startEtcd();
const raw = await openEtcdKv({ endpoints: etcd.endpoint, prefix: '/lat' });
try {
  const { kv, calls } = counting(raw);
  const ipam = new ClusterIpam(kv);
  await ipam.createPool({ name: 'p', cidr: '10.40.0.0/16', blockSize: 26 });
  // Warm up: connection, JIT, first block claim.
  for (let i = 0; i < 20; i++) await ipam.allocate('node-a', { containerId: `warm-${i}`, ifname: 'eth0' });
  for (let i = 0; i < 20; i++) await ipam.releaseAttachment({ containerId: `warm-${i}`, ifname: 'eth0' });
  const measure = async (what: string, op: (i: number) => Promise<unknown>) => {
    const c0 = calls();
    const times: number[] = [];
    for (let i = 0; i < PODS; i++) {
      const t0 = performance.now();
      await op(i);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const mean = times.reduce((a, b) => a + b, 0) / times.length;
    const row =
      `| ${what} | ${PODS} | ${mean.toFixed(2)} | ${times[times.length >> 1]!.toFixed(2)} | ` +
      `${times[Math.floor(times.length * 0.99)]!.toFixed(2)} | ${((calls() - c0) / PODS).toFixed(2)} |`;
    console.log(row);
    lines.push(row);
  };
  lines.push('| operation | ops | mean ms | p50 ms | p99 ms | etcd round trips/op |', '|---|---:|---:|---:|---:|---:|');
  await measure('allocate', (i) => ipam.allocate('node-a', { containerId: `c-${i}`, ifname: 'eth0' }));
  await measure('again', (i) => ipam.allocate('node-a', { containerId: `c-${i}`, ifname: 'eth0' }));
  await measure('release', (i) => ipam.releaseAttachment({ containerId: `c-${i}`, ifname: 'eth0' }));
  if (process.env.PODS === undefined) {
    writeResultsSection(
      'ipam-etcd',
      [
        '## Cluster IPAM on etcd (`bench/ipam-etcd.ts`)',
        '',
        `Command: \`pnpm bench ipam-etcd\` — ${new Date().toISOString().slice(0, 10)}, ${machineFacts()}, etcd 3.4 on loopback.`,
        'One writer, /26 blocks in a /16 pool; "again" is a repeated ADD for an attachment that already holds an IP.',
        '',
        ...lines,
      ].join('\n'),
    );
  }
} finally {
  await raw.close();
  await etcd.stop();
}
