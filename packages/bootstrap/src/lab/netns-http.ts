// An HTTP(S) GET made from inside a network namespace. A socket belongs to the namespace of the thread
// that creates it, and Node creates its sockets on a later tick, so the request runs in a one-line
// Node child under `ip netns exec` — `ip netns exec NS curl -sk URL` without needing curl.
import { execFile } from 'node:child_process';

const SCRIPT = `const u = process.argv[1];
require(u.startsWith('https:') ? 'https' : 'http')
  .get(u, { rejectUnauthorized: false, timeout: 1000 }, (r) => {
    let b = '';
    r.on('data', (d) => (b += d));
    r.on('end', () => process.stdout.write(JSON.stringify({ status: r.statusCode, body: b })));
  })
  .on('error', () => {})
  .on('timeout', function () { this.destroy(); });`;

/**
 * GETs `url` from inside `netns` (TLS certificates are not checked: these are health probes on the
 * lab's own addresses). Resolves with the status and body, or undefined when nothing answered.
 */
export function getIn(netns: string, url: string, timeoutMs = 3000): Promise<{ status: number; body: string } | undefined> {
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'exec', netns, process.execPath, '-e', SCRIPT, url], { encoding: 'utf8', timeout: timeoutMs }, (err, stdout) => {
      if (err !== null || stdout === '') return resolve(undefined);
      try {
        resolve(JSON.parse(stdout) as { status: number; body: string });
      } catch {
        resolve(undefined);
      }
    });
  });
}
