// Runs `netboot lab check`'s probes: one TCP responder per target namespace, in this process, and one
// probe client child per source namespace (probe-client.ts), all at once.
//
// The responders can live here because Node's `server.listen(port)` without a host creates, binds and
// listens its socket synchronously: inside runIn the socket is made in the target namespace and stays
// there (DESIGN.md: namespaces are switched only for synchronous work on the main thread). Connecting is
// not synchronous in Node, hence the children for the sources.
import type { Socket } from 'node:net';
import { createServer } from 'node:net';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { NETNS_RUN_DIR, NetnsNotFoundError, runIn } from '@netboot/core';
import { NetbootError } from '@netboot/core/errors';
import type { Outcome, Probe } from './matrix.js';
import { runProbeClient } from './probe-client.js';

/** A responder could not listen in its namespace. */
class ResponderError extends NetbootError {
  readonly kind = 'unavailable' as const;
}

/** A TCP responder in a namespace: every connection is told the peer address it came from, then closed. */
export interface Responder {
  port: number;
  close(): void;
}

// A dual-stack listener sees an IPv4 peer as ::ffff:a.b.c.d.
const unmapped = (address: string): string => (address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address);

/**
 * Listens on a free port on every address of `netns` (`::`, which takes IPv4 too; `0.0.0.0` where IPv6
 * is off) — in the namespace, like `ip netns exec <netns> ncat -lk …`. NetnsNotFoundError when it is gone.
 */
export function openResponder(netns: string): Responder {
  const open = new Set<Socket>();
  const server = createServer((socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.end(`${unmapped(socket.remoteAddress ?? '')}\n`);
  });
  // A failed listen is also emitted as 'error' on a later tick; address() below has already reported it.
  server.on('error', () => undefined);
  runIn(netns, () => server.listen(0));
  const address = server.address();
  if (address === null || typeof address === 'string') {
    server.close();
    throw new ResponderError(`could not listen in namespace ${netns}`);
  }
  return {
    port: address.port,
    close() {
      server.close();
      for (const socket of open) socket.destroy();
    },
  };
}

const nsPath = (netns: string): string => (netns.startsWith('/') ? netns : join(NETNS_RUN_DIR, netns));

/**
 * Runs every probe (all sources in parallel, each waiting at most `timeoutMs`) and returns their outcomes
 * in order. A namespace that is gone (a half-removed lab) fails the probes from or to it with
 * `no namespace <name>`; anything else that stops a responder (not root) throws.
 */
export async function runProbes(probes: readonly Probe[], timeoutMs: number): Promise<Outcome[]> {
  const responders = new Map<string, Responder | undefined>();
  try {
    for (const netns of new Set(probes.map((p) => p.toNetns))) {
      try {
        responders.set(netns, openResponder(netns));
      } catch (err) {
        if (!(err instanceof NetnsNotFoundError)) throw err;
        responders.set(netns, undefined);
      }
    }
    const outcomes: Outcome[] = [];
    const bySource = new Map<string, number[]>();
    for (const [i, p] of probes.entries()) bySource.set(p.fromNetns, [...(bySource.get(p.fromNetns) ?? []), i]);
    await Promise.all(
      [...bySource].map(async ([netns, indexes]) => {
        const runnable: { i: number; ip: string; port: number }[] = [];
        for (const i of indexes) {
          const { toNetns, toIp } = probes[i]!;
          const responder = responders.get(toNetns);
          if (!existsSync(nsPath(netns))) outcomes[i] = { error: `no namespace ${netns}` };
          else if (responder === undefined) outcomes[i] = { error: `no namespace ${toNetns}` };
          else runnable.push({ i, ip: toIp, port: responder.port });
        }
        if (runnable.length === 0) return;
        const targets = runnable.map(({ ip, port }) => ({ ip, port }));
        const got = await runProbeClient(['nsenter', `--net=${nsPath(netns)}`], targets, timeoutMs);
        for (const [k, { i }] of runnable.entries()) outcomes[i] = got[k]!;
      }),
    );
    return outcomes;
  } finally {
    for (const r of responders.values()) r?.close();
  }
}
