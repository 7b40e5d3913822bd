// The source side of `netboot lab check`'s probes: a short-lived Node child per source namespace that
// connects to all its targets at once and prints, per target, the address the responder said it saw.
// A child because Node creates a connecting socket on a later tick, after runIn has switched back: the
// socket must be made by a thread that stays in the source namespace. The child is a one-screen script
// given to `node -e` so it runs the same from the sources (tsx), the bundle and the tests; it loads no
// module of ours (~30 ms to start). No FFI here: the tests run it in their own namespace.
import { spawn } from 'node:child_process';
import type { Outcome } from './matrix.js';

/** Where one probe connects. */
export interface ClientTarget {
  ip: string;
  port: number;
}

// argv[1]: {"targets":[{ip,port}…],"timeoutMs":N}. stdout: a JSON array, one Outcome per target, in order.
// The responder writes the peer address it saw and closes; anything else is an error with a short reason.
const SCRIPT = `const net = require('node:net');
const { targets, timeoutMs } = JSON.parse(process.argv[1]);
const reasons = { ECONNREFUSED: 'refused', EHOSTUNREACH: 'unreachable', ENETUNREACH: 'unreachable', ECONNRESET: 'reset' };
const probe = ({ ip, port }) => new Promise((done) => {
  let reply = '';
  const socket = net.connect({ host: ip, port });
  const timer = setTimeout(() => finish({ error: 'timeout' }), timeoutMs);
  function finish(outcome) { clearTimeout(timer); socket.destroy(); done(outcome); }
  socket.setEncoding('utf8');
  socket.on('data', (d) => { reply += d; });
  socket.on('end', () => finish(reply.trim() ? { seen: reply.trim() } : { error: 'no reply' }));
  socket.on('error', (e) => finish({ error: reasons[e.code] || e.code || e.message }));
});
Promise.all(targets.map(probe)).then((r) => process.stdout.write(JSON.stringify(r)));`;

/**
 * Runs the probe client under `prefix` (e.g. `['nsenter', '--net=/run/netns/pod1']`; empty: here) and
 * resolves with one Outcome per target. Never rejects: a child that fails gives every target an error
 * naming why. The child gets a bare environment (PATH only): a NODE_OPTIONS or NODE_EXTRA_CA_CERTS of
 * ours would only slow its start.
 */
export function runProbeClient(prefix: readonly string[], targets: readonly ClientTarget[], timeoutMs: number): Promise<Outcome[]> {
  const argv = [...prefix, process.execPath, '-e', SCRIPT, JSON.stringify({ targets, timeoutMs })];
  const failAll = (why: string): Outcome[] => targets.map(() => ({ error: why }));
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    // The script ends on its own within timeoutMs; this only guards against a child that hangs.
    const guard = setTimeout(() => child.kill('SIGKILL'), timeoutMs + 5_000);
    child.on('error', (err) => {
      clearTimeout(guard);
      resolve(failAll(`probe did not start: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      try {
        const outcomes = JSON.parse(stdout) as Outcome[];
        if (code === 0 && Array.isArray(outcomes) && outcomes.length === targets.length) return resolve(outcomes);
      } catch {
        // Reported below with the child's own words.
      }
      const detail = stderr.trim().split('\n')[0];
      resolve(failAll(`probe failed (${signal ?? `exit ${code}`})${detail ? `: ${detail}` : ''}`));
    });
  });
}
