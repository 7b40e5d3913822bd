// A few reservations and releases through one FileStore, each in a lock hold of its own, and one hold that
// changes nothing; the parent traces the syscalls to see what is made durable when.
//   store-ops.ts <dataDir> <network>
import { FileStore } from '../../src/store/file.js';

const [dataDir, network] = process.argv.slice(2) as [string, string];
const store = new FileStore(dataDir, network);
const eth0 = (containerId: string) => ({ containerId, ifname: 'eth0' });
for (let i = 2; i < 5; i++) await store.withLock(() => store.reserve(`10.0.0.${i}`, eth0(`c${i}`), 0));
await store.withLock(() => store.release('10.0.0.2'));
await store.withLock(() => store.releaseById(eth0('c3')));
await store.withLock(() => store.list());
