// Two FileStores of one process, one per data-directory spelling given, each taking the lock while the
// other wants it; prints the order in which they held it. A deadlock shows as a process that never ends.
//   lock-twice.ts <network> <dataDir> <otherDataDir>
import { FileStore } from '../../src/store/file.js';

const [network, ...dataDirs] = process.argv.slice(2) as [string, string, string];
const order: string[] = [];
const hold = (store: FileStore, name: string) =>
  store.withLock(async () => {
    order.push(`${name}+`);
    await new Promise((r) => setTimeout(r, 5));
    order.push(`${name}-`);
  });
const [a, b] = dataDirs.map((dir) => new FileStore(dir, network)) as [FileStore, FileStore];
await Promise.all([hold(a, 'a'), hold(b, 'b'), hold(a, 'c')]);
process.stdout.write(`${JSON.stringify(order)}\n`);
