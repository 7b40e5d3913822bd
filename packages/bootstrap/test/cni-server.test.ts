// The warm CNI server's protocol and the plugin's shim, without namespaces: the conflist's `server`
// field, a call answered by a server in this process while the plugin bundle cannot even load koffi
// (so the forwarded path loads no verb, FFI, netlink or IPAM), a server that speaks another protocol
// (fallback), one that takes a request and closes without a reply (error 11, no second attempt), and
// the agent's option that serves the plugin.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AgentConfigError, checkConfig, parseAgentArgs } from '../src/agent/config.js';
import { bundlePlugin } from '../src/cni/build/bundle.js';
import { parseConfig } from '../src/cni/config.js';
import { CniError } from '../src/cni/errors.js';
import { serveCni } from '../src/cni/server.js';
import { openFds } from '@netboot/core/testing/pure';

const dir = mkdtempSync(join(tmpdir(), 'nbt-cni-server-'));
const plugin = join(dir, 'netboot');
const base = {
  cniVersion: '1.1.0',
  name: 'podnet',
  type: 'netboot',
  ipam: { type: 'netboot', ranges: [[{ subnet: '10.0.0.0/24' }]], dataDir: join(dir, 'd') },
};

test.before(async () => {
  // koffi from a path that does not exist: any call that loads the FFI fails naming it.
  await bundlePlugin({ outfile: plugin, koffi: { kind: 'path', path: '/nonexistent/koffi.node' } });
});
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** The plugin as a runtime runs it; asynchronously, as the server answering it lives in this process. */
function runPlugin(command: string, conf: unknown): Promise<{ code: number | null; out: any; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [plugin], { env: { CNI_COMMAND: command, PATH: '/usr/bin:/bin' } }, (err, stdout, stderr) => {
      resolve({ code: err ? (child.exitCode ?? -1) : 0, out: stdout.trim() === '' ? undefined : JSON.parse(stdout), stderr });
    });
    child.stdin!.end(JSON.stringify(conf));
  });
}

test('config: `server` defaults to /run/netboot/cni.sock, takes a path or false; anything else is error 7 naming it', () => {
  assert.is(parseConfig(base).server, '/run/netboot/cni.sock');
  assert.is(parseConfig({ ...base, server: false }).server, false);
  assert.is(parseConfig({ ...base, server: '/tmp/x.sock' }).server, '/tmp/x.sock');
  for (const server of [true, 3, 'relative.sock', '']) {
    try {
      parseConfig({ ...base, server });
      assert.unreachable(`server ${JSON.stringify(server)} accepted`);
    } catch (err) {
      assert.instance(err, CniError);
      assert.is((err as CniError).code, 7);
      assert.match((err as Error).message, '"server"');
    }
  }
});

test('a call through the server: its reply and exit code, and the plugin never loaded koffi', async () => {
  const socket = join(dir, 'run', 'cni.sock');
  const lines: string[] = [];
  const server = await serveCni({ socket, log: (l) => lines.push(l) });
  try {
    assert.is(statSync(socket).mode & 0o777, 0o600);
    assert.is(statSync(join(dir, 'run')).mode & 0o777, 0o700);
    // STATUS with a usable range: 0 from the server; in-process it would fail on the missing koffi.
    const ok = await runPlugin('STATUS', { ...base, server: socket });
    assert.is(ok.code, 0, JSON.stringify(ok) + lines.join('\n'));
    assert.match(lines.join('\n'), /STATUS \/ \(pid \d+\): exit 0/);
    // An error reply comes back as the plugin would print it: code, JSON and the log on stderr.
    const bad = await runPlugin('STATUS', { ...base, cniVersion: '1.0.0', server: socket });
    assert.is(bad.code, 1);
    assert.is(bad.out.code, 1);
    assert.is(bad.out.cniVersion, '1.0.0');
    assert.match(bad.stderr, 'STATUS needs cniVersion 1.1.0');
    // With "server": false the same call runs in-process, and so loads koffi (and fails naming it).
    const local = await runPlugin('STATUS', { ...base, server: false });
    assert.is(local.code, 1);
    assert.match(local.out.msg, '/nonexistent/koffi.node');
  } finally {
    await server.close();
  }
  assert.not.ok(
    (() => {
      try {
        return statSync(socket);
      } catch {
        return undefined;
      }
    })(),
    'close() removed the socket',
  );
});

/** Paths under `dir` this process has open. */
const openUnder = (dir: string) => openFds((t) => t.startsWith(`${dir}/`));

test("the last server's close() lets go of what the calls kept: the IPAM store's lock file is closed", async () => {
  const data = base.ipam.dataDir;
  const first = await serveCni({ socket: join(dir, 'run', 'a.sock') });
  const second = await serveCni({ socket: join(dir, 'run', 'b.sock') });
  try {
    const ok = await runPlugin('STATUS', { ...base, server: first.socket });
    assert.is(ok.code, 0, JSON.stringify(ok));
    assert.ok(openUnder(data).includes(join(data, 'podnet', 'lock')), 'kept open between calls');
    await second.close();
    assert.ok(openUnder(data).includes(join(data, 'podnet', 'lock')), 'still kept while a server is open');
  } finally {
    await Promise.all([first.close(), second.close()]);
  }
  assert.equal(openUnder(data), [], 'nothing under the data directory open once the last server closed');
  // A server started afterwards keeps the store again, and its close() lets it go again.
  const third = await serveCni({ socket: join(dir, 'run', 'c.sock') });
  try {
    assert.is((await runPlugin('STATUS', { ...base, server: third.socket })).code, 0);
    assert.ok(openUnder(data).includes(join(data, 'podnet', 'lock')), 'kept again');
  } finally {
    await third.close();
  }
  assert.equal(openUnder(data), [], 'and closed again');
});

/** One request written in `pieces` (a pause between them), the server's reply line parsed. */
function exchange(socket: string, pieces: string[]): Promise<any> {
  return new Promise((resolve, reject) => {
    let data = '';
    const c = connect(socket, async () => {
      for (const piece of pieces) {
        c.write(piece);
        await new Promise((r) => setTimeout(r, 20));
      }
    });
    c.setEncoding('utf8');
    c.on('data', (d: string) => (data += d));
    c.on('end', () => resolve(JSON.parse(data)));
    c.on('error', reject);
  });
}

test('a request that comes in pieces is answered; a plugin that leaves mid-request stops nothing', async () => {
  const socket = join(dir, 'pieces.sock');
  const lines: string[] = [];
  const server = await serveCni({ socket, log: (l) => lines.push(l) });
  try {
    const line = `${JSON.stringify({ v: 2, env: { CNI_COMMAND: 'VERSION' }, stdin: '{"cniVersion": "1.1.0"}', pid: process.pid })}\n`;
    const cut = [line.slice(0, 10), line.slice(10, 40), line.slice(40)];
    const reply = await exchange(socket, cut);
    assert.is(reply.code, 0, JSON.stringify(reply));
    assert.ok(JSON.parse(reply.stdout).supportedVersions.includes('1.1.0'), reply.stdout);
    // Half a request, then gone: nothing is run, nothing answered, and the next call is served.
    await new Promise<void>((resolve) => {
      const c = connect(socket, () => c.end(line.slice(0, 30)));
      c.on('close', () => resolve());
    });
    assert.is((await exchange(socket, [line])).code, 0);
    assert.is(lines.filter((l) => l.includes('VERSION')).length, 2, lines.join('\n'));
  } finally {
    await server.close();
  }
});

test('close() resolves only once a reply that had to wait is written', async () => {
  const socket = join(dir, 'slow.sock');
  const lines: string[] = [];
  const server = await serveCni({ socket, log: (l) => lines.push(l) });
  // A bad CNI_COMMAND is named in the error: a reply of megabytes, more than the socket takes at once.
  const command = 'X'.repeat(4 << 20);
  const c = connect(socket);
  let data = '';
  c.setEncoding('utf8');
  c.on('data', (d: string) => (data += d));
  c.pause(); // a plugin not reading yet: the server's write has to wait
  c.write(`${JSON.stringify({ v: 2, env: { CNI_COMMAND: command }, stdin: '{"cniVersion": "1.1.0"}', pid: process.pid })}\n`);
  const ended = new Promise<void>((resolve) => c.on('end', resolve));
  while (!lines.some((l) => l.includes('exit 1'))) await new Promise((r) => setTimeout(r, 10)); // answered: its write started
  let closed = false;
  const closing = server.close().then(() => (closed = true));
  await new Promise((r) => setTimeout(r, 200));
  const early = closed;
  c.resume();
  await Promise.all([closing, ended]);
  assert.not.ok(early, 'close() resolved while the reply was still being written');
  const reply = JSON.parse(data);
  assert.is(reply.code, 1);
  assert.match(JSON.parse(reply.stdout).msg, command);
});

test('a second server on a live socket is refused; a stale socket file is replaced', async () => {
  const socket = join(dir, 'twice.sock');
  const first = await serveCni({ socket });
  try {
    await serveCni({ socket }).then(
      () => assert.unreachable('a second server started'),
      (err: Error) => assert.match(err.message, 'already listens'),
    );
  } finally {
    await first.close();
  }
  // A server killed without close() leaves its socket file: the next one takes the path over.
  const stale = createServer();
  await new Promise<void>((resolve) => stale.listen(socket, resolve));
  (stale as unknown as { _handle: { close(): void } })._handle.close(); // closed without unlinking
  const next = await serveCni({ socket });
  await next.close();
});

test("close() never removes a successor's file at the path, only its own socket", async () => {
  const socket = join(dir, 'succ.sock');
  const a = await serveCni({ socket });
  rmSync(socket);
  writeFileSync(socket, 'successor'); // what took the path over meanwhile
  await a.close();
  assert.ok(existsSync(socket), "the successor's file was removed");
  rmSync(socket);
});

test('a server of another protocol falls back; one that closes without a reply is error 11, never run twice', async () => {
  const socket = join(dir, 'stand-in.sock');
  let reply = '';
  let requests = 0;
  // A stand-in at the protocol level: what an older server, or a server killed mid-call, looks like.
  const standIn = createServer((c) => {
    requests++;
    c.once('data', () => (reply === '' ? c.destroy() : c.end(reply)));
  });
  await new Promise<void>((resolve) => standIn.listen(socket, resolve));
  try {
    reply = `${JSON.stringify({ fallback: 'not a protocol v1 request' })}\n`;
    const fell = await runPlugin('STATUS', { ...base, server: socket });
    assert.match(fell.stderr, 'cannot run this call (not a protocol v1 request); running in-process');
    assert.match(fell.out.msg, '/nonexistent/koffi.node', 'ran in-process');
    reply = '';
    const lost = await runPlugin('STATUS', { ...base, cniVersion: '1.1.0', server: socket });
    assert.is(lost.code, 1);
    assert.is(lost.out.code, 11);
    assert.is(lost.out.cniVersion, '1.1.0');
    assert.match(lost.out.msg, socket);
    assert.not.match(lost.stderr, 'koffi', 'no in-process attempt');
    assert.is(requests, 2);
  } finally {
    standIn.close();
  }
});

test('the agent serves the plugin only when asked: --cni-socket PATH / cniSocket, an absolute path', () => {
  const base = ['--node-name', 'n1', '--cluster-cidr', '10.244.0.0/16', '--datastore', 'file', '--pod-cidr', '10.244.1.0/24'];
  assert.is(parseAgentArgs(base).cniSocket, undefined);
  assert.is(parseAgentArgs([...base, '--cni-socket', '/run/netboot/cni.sock']).cniSocket, '/run/netboot/cni.sock');
  for (const cniSocket of ['cni.sock', 7]) {
    assert.throws(
      () => checkConfig({ clusterCIDRs: ['10.244.0.0/16'], datastore: { type: 'file', podCIDRs: ['10.244.1.0/24'] }, cniSocket }),
      (err: Error) => err instanceof AgentConfigError && err.message.includes('cniSocket'),
    );
  }
});

test.run();
