// The warm CNI server: `netboot cni serve`, or the agent with `--cni-socket`. The plugin's shim
// (forward.ts) sends each call here; this process has the verbs loaded and compiled, so an ADD costs
// its netlink and IPAM work and nothing else. Every call runs the very same dispatch() as the plugin
// does in-process, with an io that captures stdout and stderr for the reply.
//
// Calls are served one at a time: the IPAM store's flock blocks the thread and namespace switches
// happen on the main thread, so two interleaved calls in one process could deadlock or mix state.
//
// Namespaces: the node-side work (bridge, host veth, nft) must happen where the shim runs, so a shim in
// another network or mount namespace gets {fallback} and runs in-process. The mount namespace matters
// for paths too: CNI_NETNS (/run/netns/x, /var/run/netns/…), dataDir, the lease and log files are read
// here as the shim would read them only when both see the same mounts — a pod netns path that exists
// only in the shim's mount namespace (a runtime that mounts it privately) therefore always falls back.
// /proc/self/… paths are rewritten by the shim to its pid. Relative paths in the config would resolve
// against this process's working directory: the plugin is given absolute ones in practice.
import { chmodSync, lstatSync, mkdirSync, readlinkSync, renameSync, unlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { getSystemErrorName } from 'node:util';
import { peerPid } from '@netboot/core';
import { CniCode, CniError } from './errors.js';
import { releaseKept } from './kept.js';
import { PROTOCOL_VERSION, type ServerReply, type ServerRequest } from './forward.js';
import { lazy } from './lazy.js';
import { type PipeBindings, type PipeHandle, pipeBindings } from './pipe.js';
import { dispatch } from './skel.js';
import { verbs } from './verbs/index.js';
import { loadVerbs } from './warm.js';

/**
 * Served ADDs keep what they learn of the node between calls, following it with a netlink watch
 * (node-watch.ts): loaded with the verbs, and awaited by each call, so a call that comes while they
 * load keeps facts too.
 */
const keepNodeFacts = lazy(async () => (await import('./node-watch.js')).NodeWatch.enable());

/** Servers of this process not closed yet: the last close() lets go of what the calls kept (kept.ts). */
let open = 0;

/** A request larger than this is not a CNI call (configs are a few KB; prevResult adds little). */
const MAX_REQUEST = 16 << 20;

export interface CniServer {
  readonly socket: string;
  /**
   * Stops accepting, removes the socket, and resolves once the calls already taken are answered (their
   * replies written) and, when no other server of this process is open, what the calls kept between
   * them (sockets, the node watch, IPAM descriptors) is closed.
   */
  close(): Promise<void>;
}

export interface ServeOptions {
  /** The unix socket to listen on (created 0600; its directory 0700 when it has to be made). */
  socket: string;
  /** One line per call and per refusal (default: none). */
  log?(line: string): void;
}

/**
 * The inode number of the namespace of `kind` of process `pid`, from its link (`net:[4026531840]`):
 * what stat(2) gives as st_ino, in a sixth of statSync's time.
 */
function nsInode(pid: number | 'self', kind: 'net' | 'mnt'): number {
  return Number(readlinkSync(`/proc/${pid}/ns/${kind}`).slice(kind.length + 2, -1));
}

/**
 * The network and mount namespaces of the plugin at the other end of `conn`, from its pid as the
 * kernel recorded it at connect(2) (SO_PEERCRED), or why they cannot be read.
 */
function peerNamespaces(fd: number): { net: number; mnt: number } | string {
  if (fd < 0) return 'the connection has no descriptor';
  try {
    const pid = peerPid(fd);
    if (pid === 0) return 'the plugin runs in another pid namespace';
    return { net: nsInode(pid, 'net'), mnt: nsInode(pid, 'mnt') };
  } catch (err) {
    return `the plugin's namespaces cannot be read (${(err as Error).message})`;
  }
}

/**
 * The server's connections go through libuv's pipe handles directly, as the shim's do (pipe.ts):
 * node:net's Socket, its stream states and events cost the server ~0.5 ms of CPU per call (a profile
 * of 200 calls), half of it between a request's arrival and its reply being written. Missing in some
 * future Node: then the server does not start (the plugin runs every call itself).
 */
function bindings(): PipeBindings {
  try {
    return pipeBindings();
  } catch (err) {
    throw new CniError(CniCode.Internal, `this Node has no pipe binding (${(err as Error).message}): the plugin runs its calls itself`, { cause: err });
  }
}

function isRequest(v: unknown): v is ServerRequest {
  const r = v as ServerRequest;
  return typeof r === 'object' && r !== null && typeof r.env === 'object' && r.env !== null && typeof r.stdin === 'string';
}

/** Whether something answers on `socket` (a live server), as opposed to a stale file. */
function answers(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(socket, () => {
      c.destroy();
      resolve(true);
    });
    c.on('error', () => resolve(false));
  });
}

/**
 * lstat(2) of the socket's path, always as BigInt stats. Node keeps the last plain (l)stat in one
 * array, and the realpath that module resolution runs on later imports reads it and stops following
 * symlinks when it says socket or FIFO (nodejs/node#51142): after a plain stat of the socket, the
 * built CLI's next imports (the verbs, koffi) resolved to pnpm's link paths, which koffi cannot load
 * from, and every served call failed. BigInt stats are kept in an array of their own. Calls that stat
 * internally write that array too (rmSync, fstatSync, the callback fs.stat): none of them may touch
 * the socket's paths either.
 */
const socketStat = (path: string) => lstatSync(path, { bigint: true });

/** Makes way for our socket: a stale one is removed, a live one or another kind of file is refused. */
async function clearPath(socket: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = socketStat(socket).isSocket();
  } catch {
    mkdirSync(dirname(socket), { recursive: true, mode: 0o700 });
    return;
  }
  if (!isSocket) throw new CniError(CniCode.Conflict, `${socket} exists and is not a socket: remove it or choose another --socket`);
  if (await answers(socket))
    throw new CniError(CniCode.Conflict, `another CNI server already listens on ${socket}: stop it first (or choose another --socket)`);
  unlinkSync(socket);
}

/**
 * Worker threads for the kernel's tail of each DEL: the link deletion is answered at its echo, and
 * its sendto then waits ~20 ms more in the kernel on a thread of libuv's pool (wiring.ts deleteLink).
 * With the default 4, a burst of DELs waits for a free thread after the fourth. Read by libuv when
 * the pool first starts: a process that used it before serveCni keeps the size it had.
 */
const THREADPOOL_SIZE = '16';

/** Starts the server; calls are answered until close(). */
export async function serveCni(o: ServeOptions): Promise<CniServer> {
  process.env.UV_THREADPOOL_SIZE ??= THREADPOOL_SIZE;
  const log = o.log ?? (() => {});
  const home = { net: nsInode('self', 'net'), mnt: nsInode('self', 'mnt') };
  const { pipe, stream } = bindings();
  let queue: Promise<void> = Promise.resolve();
  /** Connections whose request has not arrived yet, by their hang-up: close() hangs them up (the shim answers 11). */
  const waiting = new Set<() => void>();
  /** Replies still being written (the write had to wait), done when written and closed: close() waits for them. */
  const writing = new Set<Promise<void>>();

  async function run(req: unknown, peer: ReturnType<typeof peerNamespaces>): Promise<ServerReply> {
    if (!isRequest(req) || req.v !== PROTOCOL_VERSION) return { fallback: `not a protocol v${PROTOCOL_VERSION} request (plugin and server versions differ)` };
    if (typeof peer === 'string') return { fallback: peer };
    if (peer.net !== home.net) return { fallback: `the plugin runs in network namespace ${peer.net}, this server in ${home.net}` };
    if (peer.mnt !== home.mnt) return { fallback: `the plugin runs in mount namespace ${peer.mnt}, this server in ${home.mnt}` };
    let stdout = '';
    let stderr = '';
    const io = { env: req.env, readStdin: () => req.stdin, stdout: (t: string) => (stdout += t), stderr: (t: string) => (stderr += t) };
    await keepNodeFacts();
    const code = await dispatch(io, verbs);
    return { code, stdout, stderr };
  }

  function describe(req: unknown): string {
    if (!isRequest(req)) return 'a malformed request';
    const e = req.env;
    return `${e.CNI_COMMAND} ${e.CNI_CONTAINERID ?? ''}/${e.CNI_IFNAME ?? ''} (pid ${req.pid})`;
  }

  /** One connection: the request line read, its turn in the queue, the reply, then the handle closed. */
  function onConnection(conn: PipeHandle): void {
    // Read now, while the plugin surely lives (it waits for the reply): its pid is not reused before it exits.
    const peer = peerNamespaces(conn.fd);
    const chunks: Buffer[] = [];
    let size = 0;
    let taken = false;
    let gone = false;
    let closed = false;
    const hangUp = () => {
      if (closed) return;
      closed = true;
      waiting.delete(hangUp);
      conn.close();
    };
    waiting.add(hangUp);
    conn.onread = (buffer) => {
      const n = stream.streamBaseState[stream.kReadBytesOrError]!;
      if (n === 0) return; // nothing read (EAGAIN)
      if (n < 0 || buffer === undefined) {
        // EOF or an error: the shim never half-closes, so it left (killed by the runtime's timeout).
        // Before its request was whole, nothing is to be done; after, its turn says so and hangs up.
        if (taken) gone = true;
        else hangUp();
        return;
      }
      if (taken) return; // nothing follows a request
      const chunk = Buffer.from(buffer, stream.streamBaseState[stream.kArrayBufferOffset], n);
      chunks.push(chunk);
      size += n;
      if (chunk.indexOf(10) < 0) {
        if (size > MAX_REQUEST) hangUp();
        return;
      }
      taken = true;
      waiting.delete(hangUp);
      const data = (chunks.length === 1 ? chunk : Buffer.concat(chunks)).toString();
      let req: unknown;
      try {
        req = JSON.parse(data.slice(0, data.indexOf('\n')));
      } catch {
        req = undefined;
      }
      const turn = queue.then(async () => {
        // Left before its turn: the runtime gave up on this call (and will retry or DEL).
        if (gone) {
          hangUp();
          return void log(`${describe(req)}: the plugin left before its turn; not run`);
        }
        const t0 = performance.now();
        const reply = await run(req, peer);
        const ms = performance.now() - t0;
        // The reply first: the plugin waits for it, nobody waits for the log line (a synchronous write).
        answer(conn, `${JSON.stringify(reply)}\n`, hangUp);
        log(`${describe(req)}: ${'fallback' in reply ? `fallback, ${reply.fallback}` : `exit ${reply.code}`} in ${ms.toFixed(1)} ms`);
      });
      // A failure here is a bug; the shim sees the connection close without a reply (error 11).
      queue = turn.catch((err: unknown) => {
        log(`${describe(req)}: ${(err as Error).stack ?? String(err)}`);
        hangUp();
      });
    };
    const status = conn.readStart();
    if (status < 0) hangUp();
  }

  /** Writes `text` and closes the connection once it is written (at once, unless the write had to wait). */
  function answer(conn: PipeHandle, text: string, hangUp: () => void): void {
    let written!: () => void;
    const done = new Promise<void>((resolve) => (written = resolve));
    const oncomplete = () => {
      hangUp();
      written();
    };
    const req = Object.assign(new stream.WriteWrap(), { handle: conn, oncomplete, async: false });
    const status = conn.writeUtf8String(req, text);
    // A failed write (the shim left) or one done already: nothing more to wait for.
    if (status < 0 || stream.streamBaseState[stream.kLastWriteWasAsync] === 0) return hangUp();
    // Still in libuv's queue: a process that exits once close() resolved would lose it.
    writing.add(done);
    void done.then(() => writing.delete(done));
  }

  await clearPath(o.socket);
  const server = new pipe.Pipe(pipe.constants.SERVER);
  // Bound beside the path, then renamed onto it (an atomic replace of a stale socket): libuv unlinks
  // the name it bound when the handle closes, whatever file is there by then, so it must never be the
  // real path — a successor's socket there would go. The socket is 0600 from the start (umask).
  const bound = `${o.socket}.${process.pid}.tmp`;
  // Left by a killed process that had our pid (a container's server restarted): unlink, not rmSync,
  // which would lstat it as plain stats (socketStat).
  try {
    unlinkSync(bound);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const umask = process.umask(0o177);
  let status: number;
  try {
    status = server.bind(bound);
  } finally {
    process.umask(umask);
  }
  if (status === 0) status = server.listen(511); // node:net's default backlog
  if (status === 0) {
    try {
      chmodSync(bound, 0o600);
      renameSync(bound, o.socket);
    } catch (err) {
      status = -Math.abs((err as NodeJS.ErrnoException).errno ?? 1); // libuv's (negative) errno
    }
  }
  if (status < 0) {
    server.close();
    throw new CniError(CniCode.IoFailure, `cannot listen on ${o.socket}: ${getSystemErrorName(status)}`);
  }
  server.onconnection = (err, client) => {
    if (err === 0 && client !== undefined) onConnection(client);
  };
  const ino = socketStat(o.socket).ino;
  // Off the first pod's path (warm.ts); a call that comes meanwhile shares the loading.
  loadVerbs().then(
    (ms) => log(`verbs loaded in ${ms.toFixed(0)} ms`),
    (e: unknown) => log(`loading the verbs failed: ${(e as Error).message}`),
  );
  let closed: Promise<void> | undefined;
  open++;
  return {
    socket: o.socket,
    close() {
      closed ??= (async () => {
        server.close();
        for (const hangUp of [...waiting]) hangUp();
        // Remove the socket now, so shims fall back at once; only ours, never a successor's.
        try {
          if (socketStat(o.socket).ino === ino) unlinkSync(o.socket);
        } catch {
          // already gone
        }
        await queue;
        await Promise.all(writing);
        if (--open === 0) for (const err of await releaseKept()) log(`closing what the calls kept: ${err instanceof Error ? err.message : String(err)}`);
      })();
      return closed;
    },
  };
}
