// The plugin's shim to a warm CNI server (`netboot cni serve`, or the agent's `--cni-socket`), as
// antrea-cni forwards to antrea-agent and kube-ovn's cni to its cni-server: a cold Node process spends
// ~20 ms of CPU loading and compiling the verbs, a warm server none. The server runs the very same
// dispatcher; this side only reads the conflist's `server` field, sends one request over a unix socket
// and writes the reply. It must stay tiny: node:fs and libuv's pipe only — never the verbs, koffi,
// netlink or IPAM (cni-server.test.ts checks that the forwarded path does not load them).
//
// Protocol: one newline-terminated JSON request per connection, one newline-terminated JSON reply, then
// the server closes. Request {v: 2, env, stdin, pid}. The plugin's node-side work (bridge, host veth,
// nft) must happen in this process's network and mount namespaces: the server reads them from the
// connected peer's pid (SO_PEERCRED, /proc/<pid>/ns/…), and a server elsewhere answers
// {fallback: reason}, and the shim runs the verb in-process.
//
// Compiled eagerly: every function on the forwarded path is a parenthesised function expression,
// `const f = (function f() {…})`, which V8 compiles with the code around it instead of on its first
// call. The single executable's code cache (`useCodeCache`) is made by compiling its main script
// without running it, so it holds only what was compiled eagerly: as plain declarations these
// functions were parsed and compiled again in every forwarded call (~0.4 ms of a ~1.3 ms shim).
// Biome's formatter would drop the parentheses as redundant, hence the file-wide format ignore.
// biome-ignore-all format: the parentheses around function expressions make V8 compile them eagerly (above)
// biome-ignore-all lint/complexity/useArrowFunction: V8 compiles parenthesised `function` expressions eagerly, arrows not (above)
import { readlinkSync } from 'node:fs';
import { type PipeBindings, pipeBindings } from './pipe.js';
import { isSupportedVersion, LATEST_VERSION } from './versions.js';

/** Where the server listens unless the conflist's `server` field says otherwise. */
export const DEFAULT_SERVER_SOCKET = '/run/netboot/cni.sock';

/** The request's protocol version; a server that speaks another answers with a fallback. */
export const PROTOCOL_VERSION = 2;

export interface ServerRequest {
  v: number;
  /** The plugin's environment (CNI_* and PATH), exactly as the runtime passed it. */
  env: Record<string, string | undefined>;
  stdin: string;
  pid: number;
}

/** What the plugin would have printed and returned, or why the server will not run it. */
export type ServerReply = { code: number; stdout: string; stderr: string } | { fallback: string };

/** The verbs worth forwarding: VERSION is answered before any of this, and a bad CNI_COMMAND is error 4 in-process. */
const FORWARDED = new Set(['ADD', 'DEL', 'CHECK', 'STATUS', 'GC']);

/**
 * The server's socket for this call: the conflist's `server` (a path; `false` turns forwarding off),
 * else the default. undefined → run in-process (a `server` of the wrong type is then error 7 there).
 */
const socketOf = (function socketOf(stdin: string): string | undefined {
  let server: unknown;
  try {
    server = (JSON.parse(stdin) as { server?: unknown }).server;
  } catch {
    return undefined; // error 6 is the in-process dispatcher's to report
  }
  if (server === undefined) return DEFAULT_SERVER_SOCKET;
  return typeof server === 'string' && server !== '' ? server : undefined;
});

/**
 * CNI_NETNS as the server must open it: /proc/self/… names the shim's own namespace, which the
 * server would read as its own — so it becomes /proc/<pid>/… with the pid as this /proc shows it (the
 * same /proc as the server's: a different mount namespace falls back anyway).
 */
const absoluteNetns = (function absoluteNetns(netns: string | undefined): string | undefined {
  // startsWith, not a regular expression: a process's first one costs ~60 µs (V8 compiles it).
  const own = netns?.startsWith('/proc/self/') ? '/proc/self' : netns?.startsWith('/proc/thread-self/') ? '/proc/thread-self' : undefined;
  return own === undefined ? netns : `/proc/${readlinkSync(own)}/${netns!.slice(own.length + 1)}`;
});

/**
 * The bytes as UTF-8 text by Buffer's own decoder (Buffer.prototype.utf8Slice, what toString() calls;
 * undocumented), which also takes a plain Uint8Array: ~15 µs on first use where Buffer.from and
 * toString take ~70–150 µs. Where it is missing, through a Buffer.
 */
const utf8 = (function utf8(bytes: Uint8Array): string {
  const { utf8Slice } = Buffer.prototype as unknown as { utf8Slice?: (start: number, end: number) => string };
  return typeof utf8Slice === 'function' ? utf8Slice.call(bytes, 0, bytes.length) : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString();
});

/**
 * Sends one request; resolves with the reply, or `unsent` when no server took it (nothing ran). The
 * request is made once connect(2) was issued, while the server wakes and accepts (the completion
 * comes in the next turn of the loop): on two busy cores its ~0.2 ms (readlinks, JSON) overlap the
 * server's accept instead of coming before it.
 * Through libuv's pipe handle directly (pipe.ts): the shim's steps measured 8 ms of CPU per call with
 * node:net, 1.5 ms this way. Where the binding is missing, nothing is sent and the call runs in-process. `whileWaiting` runs once the
 * request is written, while the server works on it.
 */
const exchange = (function exchange(socket: string, makeRequest: () => ServerRequest, whileWaiting: () => void): Promise<ServerReply | { unsent: string } | { lost: string }> {
  return new Promise((function (resolve) {
    let bindings: PipeBindings;
    try {
      bindings = pipeBindings();
    } catch (err) {
      return resolve({ unsent: `this Node has no pipe binding (${(err as Error).message})` });
    }
    const { pipe, stream } = bindings;
    const errno = (status: number) => (require('node:util') as typeof import('node:util')).getSystemErrorName(status);
    const handle = new pipe.Pipe(pipe.constants.SOCKET);
    const chunks: Uint8Array[] = [];
    let request = '';
    let replied = false;
    const lost = (why: string) => {
      handle.close();
      resolve({ lost: why });
    };
    const connect = new pipe.PipeConnectWrap();
    connect.oncomplete = (function (status: number) {
      if (status < 0) {
        handle.close();
        return resolve({ unsent: errno(status) });
      }
      const write = Object.assign(new stream.WriteWrap(), { handle, oncomplete: () => {}, async: false });
      const written = handle.writeUtf8String(write, request);
      if (written < 0) return lost(`the request could not be written (${errno(written)})`);
      // Done at the reply's newline, not at the server's EOF behind it: one turn of the loop less. In
      // a fresh process the first Buffer#includes, Buffer.from, Buffer.concat and toString each cost
      // ~0.03–0.3 ms (Node's JS around them is compiled on first use): a plain Uint8Array view, its
      // own indexOf, a single chunk as it is, and the UTF-8 decoder directly (utf8) instead.
      handle.onread = (function (buffer: ArrayBuffer | undefined) {
        if (replied) return handle.close(); // the server's EOF after a fallback: the verb runs in-process now
        const n = stream.streamBaseState[stream.kReadBytesOrError]!;
        if (n > 0) {
          const chunk = new Uint8Array(buffer!, stream.streamBaseState[stream.kArrayBufferOffset], n);
          chunks.push(chunk);
          if (chunk.indexOf(10) < 0) return;
        }
        const data = utf8(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)); // a whole line, or n < 0: EOF or an error
        try {
          const reply = JSON.parse(data.split('\n', 1)[0]!) as ServerReply;
          // Left open: with a reply the process writes it and exits at once, and the descriptor goes
          // with it (closing it here put ~40 µs of epoll_ctl and close(2) before the reply's output);
          // after a fallback the server's EOF closes it (above).
          replied = true;
          resolve(reply);
        } catch {
          lost(data === '' ? 'the connection closed without a reply' : `a malformed reply ${JSON.stringify(data.slice(0, 200))}`);
        }
      });
      handle.readStart();
      // Only a warm-up, and this is libuv's connect callback: a throw here (EIO on a hung-up tty)
      // would be uncaught, killing the shim without its CNI error while the server may run the call.
      try {
        whileWaiting();
      } catch {
        // the reply is still awaited and written as usual (or its own write fails there)
      }
    });
    const status = handle.connect(connect, socket);
    if (status < 0) {
      handle.close();
      return resolve({ unsent: errno(status) });
    }
    request = `${JSON.stringify(makeRequest())}\n`;
  }));
});

/**
 * Forwards this invocation to the warm server when there is one. Writes the server's reply (stdout,
 * then its captured stderr) and returns the exit code; undefined when the caller must run the verb
 * in-process (no server, forwarding off, or the server's fallback). Once a request was sent, a lost
 * reply is error 11, never a second, in-process attempt: the server may have run the ADD.
 */
export const forwardToServer = (async function forwardToServer(
  env: Record<string, string | undefined>,
  stdin: string,
  out: { stdout(text: string): void; stderr(text: string): void },
): Promise<number | undefined> {
  if (!FORWARDED.has(env.CNI_COMMAND ?? '')) return undefined;
  const socket = socketOf(stdin);
  // No file there (the usual case where none is configured): connect's ENOENT, silently.
  if (socket === undefined) return undefined;
  const reply = await exchange(socket, (function (): ServerRequest {
    return {
      v: PROTOCOL_VERSION,
      env: { ...env, CNI_NETNS: absoluteNetns(env.CNI_NETNS) },
      stdin,
      pid: process.pid,
    };
  }), (function () {
    // Writing nothing now compiles Node's write path (fs.writeSync and its checks: ~0.12 ms in a
    // process's first write, VERSION's too) while the server works, instead of after its reply.
    out.stdout('');
  }));
  if ('unsent' in reply) {
    // A stale socket (ECONNREFUSED: the server stopped without removing it) is silent; else say why.
    if (reply.unsent !== 'ENOENT' && reply.unsent !== 'ECONNREFUSED') out.stderr(`netboot: CNI server ${socket}: ${reply.unsent}; running in-process\n`);
    return undefined;
  }
  if ('fallback' in reply) {
    out.stderr(`netboot: CNI server ${socket} cannot run this call (${reply.fallback}); running in-process\n`);
    return undefined;
  }
  if ('lost' in reply) {
    const cniVersion = versionOf(stdin);
    const msg = `the CNI server at ${socket} took the request but ${reply.lost} (did it stop or crash?); try again later — its log says what it did`;
    out.stdout(`${JSON.stringify({ cniVersion, code: 11, msg })}\n`); // 11: the spec's "try again later"
    out.stderr(`netboot: ${msg}\n`);
    return 1;
  }
  out.stdout(reply.stdout);
  out.stderr(reply.stderr);
  return reply.code;
});

/** The config's cniVersion for the error reply, as the dispatcher picks it. */
const versionOf = (function versionOf(stdin: string): string {
  const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion; // parsed once already (socketOf)
  return isSupportedVersion(v) ? v : LATEST_VERSION;
});
