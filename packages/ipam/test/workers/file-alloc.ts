// One of several processes sharing a FileStore: allocates (or releases) `count` pod IPs for
// `<name>-<i>/eth0`, then prints the IPs it got as JSON.
//   file-alloc.ts <dataDir> <network> <subnet> <name> <count> allocate|release
import { LocalIpam } from '../../src/local.js';
import { FileStore } from '../../src/store/file.js';
import { readyThenWaitForGo, report } from './start-signal.js';

const [dataDir, network, subnet, name, count, mode] = process.argv.slice(2) as [string, string, string, string, string, string];
const ipam = new LocalIpam(new FileStore(dataDir, network), [[{ subnet }]], { node: 'bench' });
await readyThenWaitForGo();
const startedAt = Date.now();
const ips: string[] = [];
for (let i = 0; i < Number(count); i++) {
  if (mode === 'allocate') ips.push(...(await ipam.allocate({ containerId: `${name}-${i}`, ifname: 'eth0' })).map((a) => a.ip));
  else ips.push(...(await ipam.release({ containerId: `${name}-${i}`, ifname: 'eth0' })).released.map((r) => r.ip));
}
report(ips, startedAt);
