// /healthz (the agent's loop is alive), /readyz (datastore synced and first reconcile done; 503 with
// what it waits for otherwise) and /metrics (Prometheus text) on 127.0.0.1 only.
import { createServer, type Server } from 'node:http';
import type { Metrics } from './metrics.js';

export interface HealthState {
  /** Undefined when ready; otherwise what readiness waits for. */
  notReady(): string | undefined;
  metrics: Metrics;
}

/** Listens on 127.0.0.1:`port` (0: any free port); resolves with the server once it listens. */
export function serveHealth(port: number, state: HealthState): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    if (req.method !== 'GET') return reply(405, 'GET only\n');
    if (path === '/healthz') return reply(200, 'ok\n');
    if (path === '/readyz') {
      const why = state.notReady();
      return why === undefined ? reply(200, 'ok\n') : reply(503, `not ready: ${why}\n`);
    }
    if (path === '/metrics') return reply(200, state.metrics.render(), 'text/plain; version=0.0.4; charset=utf-8');
    reply(404, 'not found: /healthz, /readyz, /metrics\n');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}
