// The plugin's shim to a warm CNI server (`netboot cni serve`, or the agent's `--cni-socket`), as
// antrea-cni forwards to antrea-agent and kube-ovn's cni to its cni-server: a cold Node process spends
// ~20 ms of CPU loading and compiling the verbs, a warm server none. The server runs the very same
// dispatcher; this side only reads the conflist's `server` field, sends one request over a unix socket
// and writes the reply. It must stay tiny: node:fs and node:net only — never the verbs, koffi,
// netlink or IPAM (cni-bundle.test.ts checks that the forwarded path does not load them).
//
// Protocol: one newline-terminated JSON request per connection, one newline-terminated JSON reply, then
// the server closes. Request {v: 1, env, stdin, pid, netns, mntns}: netns/mntns are the inode numbers
// of this process's namespaces; the plugin's node-side work (bridge, host veth, nft) must happen in
// them, so a server elsewhere answers {fallback: reason} and the shim runs the verb in-process.
import { readlinkSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { isSupportedVersion, LATEST_VERSION } from './versions.js';

/** Where the server listens unless the conflist's `server` field says otherwise. */
export const DEFAULT_SERVER_SOCKET = '/run/netboot/cni.sock';

/** The request's protocol version; a server that speaks another answers with a fallback. */
export const PROTOCOL_VERSION = 1;

export interface ServerRequest {
  v: number;
  /** The plugin's environment (CNI_* and PATH), exactly as the runtime passed it. */
  env: Record<string, string | undefined>;
  stdin: string;
  pid: number;
  /** Inode numbers of the shim's /proc/self/ns/net and /proc/self/ns/mnt. */
  netns: number;
  mntns: number;
}

/** What the plugin would have printed and returned, or why the server will not run it. */
export type ServerReply = { code: number; stdout: string; stderr: string } | { fallback: string };

/** The verbs worth forwarding: VERSION is answered before any of this, and a bad CNI_COMMAND is error 4 in-process. */
const FORWARDED = new Set(['ADD', 'DEL', 'CHECK', 'STATUS', 'GC']);

/**
 * The server's socket for this call: the conflist's `server` (a path; `false` turns forwarding off),
 * else the default. undefined → run in-process (a `server` of the wrong type is then error 7 there).
 */
function socketOf(stdin: string): string | undefined {
  let server: unknown;
  try {
    server = (JSON.parse(stdin) as { server?: unknown }).server;
  } catch {
    return undefined; // error 6 is the in-process dispatcher's to report
  }
  if (server === undefined) return DEFAULT_SERVER_SOCKET;
  return typeof server === 'string' && server !== '' ? server : undefined;
}

/**
 * CNI_NETNS as the server must open it: /proc/self/… names the shim's own namespace, which the
 * server would read as its own — so it becomes /proc/<pid>/… with the pid as this /proc shows it (the
 * same /proc as the server's: a different mount namespace falls back anyway).
 */
function absoluteNetns(netns: string | undefined): string | undefined {
  const m = netns?.match(/^\/proc\/(self|thread-self)\//);
  return m ? `/proc/${readlinkSync(`/proc/${m[1]}`)}/${netns!.slice(m[0].length)}` : netns;
}

/** Sends one request; resolves with the reply, or `unsent` when no server took it (nothing ran). */
function exchange(socket: string, request: ServerRequest): Promise<ServerReply | { unsent: string } | { lost: string }> {
  return new Promise((resolve) => {
    let sent = false;
    let data = '';
    const conn = connect(socket, () => {
      sent = true;
      conn.write(`${JSON.stringify(request)}\n`);
    });
    conn.setEncoding('utf8');
    conn.on('data', (chunk: string) => {
      data += chunk;
    });
    conn.on('error', (err: NodeJS.ErrnoException) => {
      if (!sent) resolve({ unsent: err.code ?? err.message });
    });
    conn.on('close', () => {
      const line = data.split('\n', 1)[0]!;
      if (!sent) return; // resolved by 'error'
      try {
        resolve(JSON.parse(line) as ServerReply);
      } catch {
        resolve({ lost: data === '' ? 'the connection closed without a reply' : `a malformed reply ${JSON.stringify(data.slice(0, 200))}` });
      }
    });
  });
}

/**
 * Forwards this invocation to the warm server when there is one. Writes the server's reply (stdout,
 * then its captured stderr) and returns the exit code; undefined when the caller must run the verb
 * in-process (no server, forwarding off, or the server's fallback). Once a request was sent, a lost
 * reply is error 11, never a second, in-process attempt: the server may have run the ADD.
 */
export async function forwardToServer(
  env: Record<string, string | undefined>,
  stdin: string,
  out: { stdout(text: string): void; stderr(text: string): void },
): Promise<number | undefined> {
  if (!FORWARDED.has(env.CNI_COMMAND ?? '')) return undefined;
  const socket = socketOf(stdin);
  if (socket === undefined) return undefined;
  const request: ServerRequest = {
    v: PROTOCOL_VERSION,
    env: { ...env, CNI_NETNS: absoluteNetns(env.CNI_NETNS) },
    stdin,
    pid: process.pid,
    netns: statSync('/proc/self/ns/net').ino,
    mntns: statSync('/proc/self/ns/mnt').ino,
  };
  const reply = await exchange(socket, request);
  if ('unsent' in reply) {
    // No server (ENOENT, ECONNREFUSED: the usual case where none is configured) is silent; else say why.
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
}

/** The config's cniVersion for the error reply, as the dispatcher picks it. */
function versionOf(stdin: string): string {
  const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion; // parsed once already (socketOf)
  return isSupportedVersion(v) ? v : LATEST_VERSION;
}
