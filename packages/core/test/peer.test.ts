// peerPid: who is at the other end of a unix socket (SO_PEERCRED), checked against a child process's pid.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { peerPid } from '../src/ffi/libc.js';
import { SyscallError } from '../src/errors.js';

test('peerPid: the pid of the process that connected; a descriptor that is no socket throws', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nbt-peer-'));
  const path = join(dir, 's.sock');
  let resolveConn: (c: Socket) => void = () => {};
  const accepted = new Promise<Socket>((resolve) => (resolveConn = resolve));
  const server = createServer((c) => resolveConn(c));
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const child = spawn(process.execPath, ['-e', `require('node:net').connect(${JSON.stringify(path)}).on('close', () => process.exit(0))`], { stdio: 'ignore' });
  try {
    const conn = await accepted;
    const fd = (conn as unknown as { _handle: { fd: number } })._handle.fd;
    assert.is(peerPid(fd), child.pid);
    assert.is.not(peerPid(fd), process.pid);
    conn.destroy();
    assert.throws(
      () => peerPid(0x7ffffff0),
      (err: unknown) => err instanceof SyscallError,
    );
  } finally {
    child.kill();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
