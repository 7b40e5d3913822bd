// Allocates and releases forever until the parent kills it with SIGKILL at a random moment.
// Prints `ready` once the store is open, and `tick <n>` after each allocation so the parent knows it is busy.
//   crash-alloc.ts <dataDir> <network> <subnet> <name>
import { LocalIpam } from '../../src/local.js';
import { FileStore } from '../../src/store/file.js';

const [dataDir, network, subnet, name] = process.argv.slice(2) as [string, string, string, string];
const ipam = new LocalIpam(new FileStore(dataDir, network), [[{ subnet }]], { node: 'crash' });
process.stdout.write('ready\n');
for (let i = 0; ; i++) {
  await ipam.allocate({ containerId: `${name}-${i}`, ifname: 'eth0' });
  // Keep some and drop others, so a kill can land inside a release as well as inside a reserve.
  if (i % 3 === 2) await ipam.release({ containerId: `${name}-${i - 1}`, ifname: 'eth0' });
  if (i % 16 === 0) process.stdout.write(`tick ${i}\n`);
}
