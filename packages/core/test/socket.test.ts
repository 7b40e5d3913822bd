// Opening a netlink socket in a namespace that cannot be entered fails before any socket exists:
// pure, no privileges (the socket against the kernel is in socket.priv.test.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { RTM_GETLINK } from '../src/netlink/generated/index.js';
import { NetlinkOptionsError, SocketClosedError } from '../src/netlink/errors.js';
import { NetlinkSocket } from '../src/netlink/socket.js';
import { NetnsNotFoundError, NotANetnsError } from '../src/netns.js';
import { throwsA } from '../src/public/testing/pure.js';
import { openSocket } from '../src/rtnl.js';

test('openSocket({ netns }): a missing namespace is NetnsNotFoundError, a file that is none NotANetnsError', () => {
  throwsA(() => openSocket({ netns: 'nbt-not-there-s6' }), NetnsNotFoundError);
  assert.is(throwsA(() => openSocket({ netns: '/etc/hostname' }), NotANetnsError).kind, 'invalid');
});

test('a timeout that cannot work is NetlinkOptionsError (invalid); a closed socket SocketClosedError (internal)', () => {
  assert.is(throwsA(() => NetlinkSocket.open({ timeoutMs: 0 }), NetlinkOptionsError, /timeoutMs/).kind, 'invalid');
  // NETLINK_ROUTE sockets need no privileges to open.
  const sock = NetlinkSocket.open();
  sock.close();
  assert.is(throwsA(() => sock.request({ type: RTM_GETLINK, header: {}, attrs: {} }), SocketClosedError).kind, 'internal');
});

test('the FFI on another platform throws UnsupportedPlatformError before koffi loads anything', () => {
  const libc = join(import.meta.dirname, '..', 'src', 'ffi', 'libc.ts');
  // koffi itself imports on macOS; there its load('libc.so.6') fails. A stub koffi whose load fails stands in.
  const stub = `export default { load() { throw new Error('koffi: dlopen libc.so.6 failed'); } };`;
  const hook = `export async function resolve(s, c, next) { return s === 'koffi' ? { url: ${JSON.stringify(`data:text/javascript,${stub}`)}, shortCircuit: true } : next(s, c); }`;
  const script = `import { register } from 'node:module';
register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hook)}`)});
Object.defineProperty(process, 'platform', { value: 'darwin' });
try { await import(${JSON.stringify(libc)}); console.log('loaded'); } catch (e) { console.log(e.name, e.kind); }`;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.is(out.trim(), 'UnsupportedPlatformError internal');
});

test.run();
