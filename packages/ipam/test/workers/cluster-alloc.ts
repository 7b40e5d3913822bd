// One of several ClusterIpam clients, each its own process and etcd connection: allocates (or releases)
// `count` pod IPs on `node` for `<name>-<i>/eth0`, then prints the IPs as JSON.
//   cluster-alloc.ts <etcdEndpoint> <keyPrefix> <node> <name> <count> allocate|release
import { ClusterIpam } from '../../src/cluster.js';
import { openEtcdKv } from '../../src/store/etcd.js';
import { readyThenWaitForGo, report } from './start-signal.js';

const [endpoint, prefix, node, name, count, mode] = process.argv.slice(2) as [string, string, string, string, string, string];
const kv = await openEtcdKv({ endpoints: endpoint, prefix });
const ipam = new ClusterIpam(kv);
await readyThenWaitForGo();
const startedAt = Date.now();
const ips: string[] = [];
for (let i = 0; i < Number(count); i++) {
  const attachment = { containerId: `${name}-${i}`, ifname: 'eth0' };
  if (mode === 'allocate') ips.push((await ipam.allocate(node, attachment)).ip);
  else ips.push(...(await ipam.releaseAttachment(attachment)).released.map((r) => r.ip));
}
report(ips, startedAt);
await kv.close();
