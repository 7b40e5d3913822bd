// FileStore against real files and a real flock: host-local's exact layout, validation before any
// path is touched, the lock shared with other processes, and state written by someone else.
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { errorKind, NetbootError } from '@netboot/core/errors';
import { FileStore, StoreNotLockedError } from '../src/store/file.js';
import { InvalidArgumentError } from '../src/validate.js';
import { InvalidAddressError } from '@netboot/core/ip';
import { openFds, throwsA, withTempDir } from '@netboot/core/testing/pure';
import { lastJson, readReservations, startWorker, WORKERS } from './store-fixtures.js';

const eth0 = (containerId: string) => ({ containerId, ifname: 'eth0' });

test('reserve writes host-local files: <ip> = "<id>\\r\\n<ifname>", last_reserved_ip.<set> = the IP', () =>
  withTempDir(async (data) => {
    const store = new FileStore(data, 'cbr0');
    const ok = await store.withLock(() => store.reserve('10.244.1.7', eth0('c1'), 0));
    assert.ok(ok);
    await store.withLock(() => store.reserve('fd00::0:7', { containerId: 'c1', ifname: 'net1' }, 1));
    const dir = join(data, 'cbr0');
    assert.equal(readFileSync(join(dir, '10.244.1.7'), 'utf8'), 'c1\r\neth0');
    assert.equal(readFileSync(join(dir, 'last_reserved_ip.0'), 'utf8'), '10.244.1.7');
    assert.equal(readFileSync(join(dir, 'fd00::7'), 'utf8'), 'c1\r\nnet1', 'IPv6 file named in canonical form');
    assert.equal(readFileSync(join(dir, 'last_reserved_ip.1'), 'utf8'), 'fd00::7');
    assert.equal(readdirSync(dir).sort(), ['10.244.1.7', 'fd00::7', 'last_reserved_ip.0', 'last_reserved_ip.1', 'lock'], 'no temp file left');
    await store.withLock(() => {
      assert.equal(store.getById(eth0('c1')), ['10.244.1.7']);
      assert.equal(store.lastReserved(1), 'fd00::7');
      assert.equal(store.list().entries, [
        { ip: '10.244.1.7', containerId: 'c1', ifname: 'eth0' },
        { ip: 'fd00::7', containerId: 'c1', ifname: 'net1' },
      ]);
    });
  }));

test('a taken IP is refused and its file is left as it was', () =>
  withTempDir(async (data) => {
    const store = new FileStore(data, 'n');
    await store.withLock(() => {
      assert.ok(store.reserve('10.0.0.2', eth0('first'), 0));
      assert.not.ok(store.reserve('10.0.0.2', eth0('second'), 0));
    });
    assert.equal(readFileSync(join(data, 'n', '10.0.0.2'), 'utf8'), 'first\r\neth0');
    assert.equal(readFileSync(join(data, 'n', 'last_reserved_ip.0'), 'utf8'), '10.0.0.2');
  }));

test('bad container IDs, ifnames, network names and IPs are refused before anything is written', () =>
  withTempDir(async (data) => {
    assert.throws(
      () => new FileStore(data, '../escape'),
      (e: unknown) => e instanceof InvalidArgumentError && /network name/.test((e as Error).message),
    );
    const store = new FileStore(data, 'n');
    await store.withLock(() => undefined); // creates the directory and the lock file
    const before = readdirSync(join(data, 'n')).sort();
    for (const containerId of ['../x', 'a/b', '', ' lead', '/etc/passwd', 'x'.repeat(256), '.hidden']) {
      await store.withLock(() =>
        assert.throws(
          () => store.reserve('10.0.0.9', eth0(containerId), 0),
          (e: unknown) => e instanceof InvalidArgumentError && /containerId/.test((e as Error).message),
        ),
      );
    }
    for (const ifname of ['eth/0', '', '..', 'a b', 'x'.repeat(16), 'a:b']) {
      await store.withLock(() =>
        assert.throws(
          () => store.reserve('10.0.0.9', { containerId: 'ok', ifname }, 0),
          (e: unknown) => e instanceof InvalidArgumentError && /ifname/.test((e as Error).message),
        ),
      );
    }
    for (const ip of ['../../etc/passwd', '10.0.0.256', '10.0.0.09', 'lock']) {
      await store.withLock(() =>
        assert.throws(
          () => store.reserve(ip, eth0('ok'), 0),
          (e: unknown) => e instanceof InvalidAddressError,
        ),
      );
    }
    assert.equal(readdirSync(join(data, 'n')).sort(), before);
    assert.equal(readdirSync(data), ['n'], 'nothing written beside the network directory');
  }));

test('every reservation method refuses to run outside withLock', () =>
  withTempDir(async (data) => {
    const store = new FileStore(data, 'n');
    assert.throws(
      () => store.reserve('10.0.0.2', eth0('c'), 0),
      (e: unknown) => e instanceof StoreNotLockedError,
    );
    assert.throws(
      () => store.list(),
      (e: unknown) => e instanceof StoreNotLockedError,
    );
    assert.throws(
      () => store.release('10.0.0.2'),
      (e: unknown) => e instanceof StoreNotLockedError,
    );
    const bug = throwsA(() => store.list(), StoreNotLockedError);
    assert.ok(bug instanceof NetbootError);
    assert.is(errorKind(bug), 'internal', "a caller's bug, not bad input");
    assert.not.ok(existsSync(join(data, 'n', '10.0.0.2')));
  }));

test('reads both host-local formats, the old one-line one included, and reports corrupt files', () =>
  withTempDir(async (data) => {
    const dir = join(data, 'n');
    mkdirSync(dir);
    writeFileSync(join(dir, '10.0.0.2'), 'new\r\neth0');
    writeFileSync(join(dir, '10.0.0.3'), 'old\n'); // host-local before ifnames: just the ID
    writeFileSync(join(dir, '10.0.0.4'), ''); // what a crash inside host-local's own write can leave
    writeFileSync(join(dir, '10.0.0.5'), 'bad/id\r\neth0');
    writeFileSync(join(dir, 'not-an-ip'), 'new\r\neth0');
    const store = new FileStore(data, 'n');
    await store.withLock(() => {
      const { entries, corrupt } = store.list();
      assert.equal(entries, [
        { ip: '10.0.0.2', containerId: 'new', ifname: 'eth0' },
        { ip: '10.0.0.3', containerId: 'old', ifname: undefined },
      ]);
      assert.equal(
        corrupt.map((c) => c.ip),
        ['10.0.0.4', '10.0.0.5'],
      );
      assert.ok(store.isReserved('10.0.0.4'), 'a corrupt file still takes its address');
      assert.not.ok(store.reserve('10.0.0.4', eth0('x'), 0));
      assert.equal(store.getById(eth0('old')), ['10.0.0.3'], 'falls back to the ID-only match like host-local');
      assert.equal(
        store.releaseById(eth0('old')).map((e) => e.ip),
        ['10.0.0.3'],
      );
    });
    assert.not.ok(existsSync(join(dir, '10.0.0.3')));
    assert.ok(existsSync(join(dir, 'not-an-ip')), 'files that are not ours are left alone');
  }));

test('a leftover temp file from a killed writer is removed under the lock and never read as a reservation', () =>
  withTempDir(async (data) => {
    const dir = join(data, 'n');
    mkdirSync(dir);
    writeFileSync(join(dir, '.netboot-reserve.tmp'), 'dead\r\neth');
    const store = new FileStore(data, 'n');
    await store.withLock(() => assert.equal(store.list(), { entries: [], corrupt: [] }));
    assert.equal(readdirSync(dir).sort(), ['lock']);
  }));

test('changes made by another writer between lock holds are seen', () =>
  withTempDir(async (data) => {
    const store = new FileStore(data, 'n');
    await store.withLock(() => store.reserve('10.0.0.2', eth0('a'), 0));
    const dir = join(data, 'n');
    writeFileSync(join(dir, '10.0.0.3'), 'b\r\neth0'); // as host-local would
    writeFileSync(join(dir, 'last_reserved_ip.0'), '10.0.0.3');
    await store.withLock(() => {
      assert.equal(store.getById(eth0('b')), ['10.0.0.3']);
      assert.equal(store.lastReserved(0), '10.0.0.3');
      assert.not.ok(store.reserve('10.0.0.3', eth0('c'), 0));
      assert.equal(store.release('10.0.0.2')?.ip, '10.0.0.2');
    });
    assert.equal([...readReservations(dir).keys()], ['10.0.0.3']);
  }));

test('a file the index did not know about makes reserve return false (link EEXIST) and is learnt', () =>
  withTempDir(async (data) => {
    const store = new FileStore(data, 'n');
    await store.withLock(() => {
      store.list(); // index loaded; now a writer that ignores the lock slips a file in
      writeFileSync(join(data, 'n', '10.0.0.7'), 'sneaky\r\neth0');
      assert.not.ok(store.reserve('10.0.0.7', eth0('mine'), 0));
      assert.equal(store.getById(eth0('sneaky')), ['10.0.0.7']);
    });
    assert.equal(readdirSync(join(data, 'n')).sort(), ['10.0.0.7', 'lock'], 'no temp file left, no last_reserved written');
    assert.is(readFileSync(join(data, 'n', '10.0.0.7'), 'utf8'), 'sneaky\r\neth0');
  }));

test('the lock is a real flock on <dir>/lock: another process cannot take it while we hold it', () =>
  withTempDir(async (data) => {
    const store = new FileStore(data, 'n');
    const lockFile = join(data, 'n', 'lock');
    const tryFlock = () => spawnSync('flock', ['--nonblock', '--exclusive', lockFile, 'true']).status;
    await store.withLock(() => assert.equal(tryFlock(), 1, 'flock(1) must find it busy'));
    assert.equal(tryFlock(), 0, 'free again once withLock returns');
  }));

test('keepOpen: the kept lock file is checked once the directory changed, and a replaced one is locked anew; the kept cursor is truncated to a shorter address', () =>
  withTempDir(async (data) => {
    const store = new FileStore(data, 'n', { keepOpen: true });
    const dir = join(data, 'n');
    const lockFile = join(dir, 'lock');
    const tryFlock = () => spawnSync('flock', ['--nonblock', '--exclusive', lockFile, 'true']).status;
    await store.withLock(() => store.reserve('10.0.0.100', eth0('a'), 0));
    assert.equal(tryFlock(), 0, 'free between holds, though kept open');
    await store.withLock(() => store.reserve('10.0.0.2', eth0('b'), 0));
    assert.is(readFileSync(join(dir, 'last_reserved_ip.0'), 'utf8'), '10.0.0.2', 'written through the kept cursor, truncated');
    // Someone replaces the lock file (and the cursor) between our holds: the next hold must lock the new one.
    unlinkSync(lockFile);
    writeFileSync(lockFile, '');
    unlinkSync(join(dir, 'last_reserved_ip.0'));
    await store.withLock(() => {
      assert.equal(tryFlock(), 1, 'the file now at the path is the one held');
      store.reserve('10.0.0.3', eth0('c'), 0);
    });
    assert.equal(tryFlock(), 0);
    assert.is(readFileSync(join(dir, 'last_reserved_ip.0'), 'utf8'), '10.0.0.3', 'the cursor at the path, not the unlinked one');
    assert.equal([...readReservations(dir).keys()].sort(), ['10.0.0.100', '10.0.0.2', '10.0.0.3']);
  }));

/** Paths under `dir` this process has open. */
const openUnder = (dir: string) => openFds((t) => t.startsWith(`${dir}/`)).sort();

test('keepOpen: close() closes the kept lock file and cursor after the hold in progress; the store then works as before; a store never used creates nothing', () =>
  withTempDir(async (data) => {
    const dir = join(data, 'n');
    const store = new FileStore(data, 'n', { keepOpen: true });
    await store.withLock(() => store.reserve('10.0.0.2', eth0('a'), 0));
    assert.equal(openUnder(dir), [join(dir, 'last_reserved_ip.0'), join(dir, 'lock')], 'kept between holds');
    // close() while a hold runs: it waits for that hold, whose lock file is closed after it.
    let release!: () => void;
    const holding = store.withLock(() => new Promise<void>((r) => (release = r)));
    await new Promise((r) => setTimeout(r, 10));
    const closing = store.close();
    await new Promise((r) => setTimeout(r, 10));
    assert.ok(openUnder(dir).includes(join(dir, 'lock')), 'not closed under the hold');
    release();
    await Promise.all([holding, closing]);
    assert.equal(openUnder(dir), [], 'nothing under the directory open');
    await store.withLock(() => store.reserve('10.0.0.3', eth0('b'), 0));
    assert.equal([...readReservations(dir).keys()].sort(), ['10.0.0.2', '10.0.0.3']);
    assert.is(readFileSync(join(dir, 'last_reserved_ip.0'), 'utf8'), '10.0.0.3');
    await store.close();
    assert.equal(openUnder(dir), []);
    await new FileStore(data, 'unused', { keepOpen: true }).close();
    assert.not.ok(existsSync(join(data, 'unused')), 'close() made no directory');
  }));

test('keepOpen: close() waits for a hold of its store even when the directory was moved away during it', () =>
  withTempDir(async (data) => {
    const dir = join(data, 'n');
    const moved = join(data, 'moved');
    const store = new FileStore(data, 'n', { keepOpen: true });
    await store.withLock(() => store.reserve('10.0.0.2', eth0('a'), 0));
    let release!: () => void;
    const holding = store.withLock(() => new Promise<void>((r) => (release = r)));
    await new Promise((r) => setTimeout(r, 10));
    renameSync(dir, moved);
    let closed = false;
    const closing = store.close().then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 10));
    assert.not.ok(closed, 'close() waited for the hold');
    assert.ok(openUnder(moved).includes(join(moved, 'lock')), 'the hold still has its lock file');
    release();
    await Promise.all([holding, closing]);
    assert.equal(openUnder(moved), [], 'closed once the hold ended');
  }));

/** Runs workers/lock-twice.ts; a process still waiting after `ms` is a deadlock, killed and reported. */
async function lockTwice(network: string, dirs: [string, string], ms = 15_000): Promise<string[]> {
  const worker = startWorker('lock-twice.ts', [network, ...dirs]);
  const timer = setTimeout(() => worker.kill(), ms);
  const r = await worker.done.finally(() => clearTimeout(timer));
  assert.is(r.signal, null, `deadlocked: still waiting for the lock after ${ms} ms`);
  assert.is(r.code, 0, r.stderr);
  return lastJson<string[]>(r);
}

test('two stores of one directory in one process take turns instead of deadlocking', () =>
  withTempDir(async (data) => {
    assert.equal(await lockTwice('n', [data, data]), ['a+', 'a-', 'b+', 'b-', 'c+', 'c-']);
  }));

test('two spellings of one directory (a symlink, like /var/run → /run) share one queue, not two flocks', () =>
  withTempDir(async (data) => {
    const real = join(data, 'real');
    mkdirSync(real);
    symlinkSync(real, join(data, 'alias'));
    assert.equal(await lockTwice('n', [real, join(data, 'alias')]), ['a+', 'a-', 'b+', 'b-', 'c+', 'c-']);
  }));

const STRACE = '/usr/bin/strace';
const traced = existsSync(STRACE) ? test : test.skip;
if (!existsSync(STRACE)) console.log(`  skipping the fsync test: ${STRACE} not found (apt install strace)`);

/** Runs workers/<worker> under strace; returns `{ call, args, ok }` per traced syscall, in order. */
function straced(worker: string, args: string[], syscalls: string[]): { call: string; args: string; ok: boolean }[] {
  const log = join(args[0]!, 'strace.log');
  const r = spawnSync(
    STRACE,
    [
      '-f',
      '-qq',
      '-y',
      '-s',
      '4096',
      '-e',
      `trace=${syscalls.join(',')}`,
      '-o',
      log,
      process.execPath,
      '--conditions=source',
      '--import',
      'tsx',
      join(WORKERS, worker),
      ...args,
    ],
    { encoding: 'utf8' },
  );
  assert.is(r.status, 0, r.stderr);
  return readFileSync(log, 'utf8')
    .split('\n')
    .flatMap((line) => {
      const m = /^\d+\s+(\w+)\((.*)\)\s+= (-?\d+)/.exec(line);
      return m ? [{ call: m[1]!, args: m[2]!, ok: m[3] === '0' }] : [];
    });
}

traced('every change to the directory is made durable (fsync of the directory) before the lock is released', () =>
  withTempDir(async (data) => {
    const dir = join(data, 'n');
    const calls = straced(
      'store-ops.ts',
      [data, 'n'],
      ['flock', 'fsync', 'fdatasync', 'link', 'linkat', 'unlink', 'unlinkat', 'rename', 'renameat', 'renameat2', 'mkdir', 'mkdirat'],
    );
    const inDir = (args: string) => args.includes(`"${dir}/`);
    const fsyncOf = (path: string) => (c: { call: string; args: string }) => /^f(data)?sync$/.test(c.call) && c.args.endsWith(`<${path}>`);

    // Creating <network> is a change to <dataDir>: it must be synced before the directory is used.
    const made = calls.findIndex((c) => c.call.startsWith('mkdir') && c.args.includes(`"${dir}"`) && c.ok);
    assert.ok(made >= 0, 'the store creates its directory');
    const firstLock = calls.findIndex((c) => c.call === 'flock' && c.args.includes('LOCK_EX'));
    assert.ok(calls.slice(made, firstLock).some(fsyncOf(data)), `no fsync of ${data} after mkdir ${dir}`);

    let holding = false;
    let unsynced: string[] = [];
    let holds = 0;
    let changedHolds = 0;
    let dirSyncs = 0;
    for (const c of calls) {
      if (c.call === 'flock' && c.args.includes('LOCK_EX')) {
        holding = true;
        holds++;
      } else if (c.call === 'flock' && c.args.includes('LOCK_UN')) {
        assert.equal(unsynced, [], 'changed, and the lock was released before the directory was fsynced');
        holding = false;
      } else if (fsyncOf(dir)(c)) {
        if (unsynced.length > 0) changedHolds++;
        else assert.ok(holding, 'a directory fsync outside a lock hold');
        unsynced = [];
        dirSyncs++;
      } else if (/^(link|unlink|rename)/.test(c.call) && inDir(c.args) && c.ok) {
        unsynced.push(`${c.call}(${c.args})`);
      }
    }
    assert.equal(unsynced, []);
    assert.is(holds, 6);
    assert.is(changedHolds, 5, 'three reserves and two releases');
    assert.is(dirSyncs, 5, 'one directory fsync per changing hold, none for a read');
  }),
);

// ---- The index kept in the lock file between processes (file-index.ts).

const stampOf = (dir: string) => {
  const st = statSync(dir, { bigint: true });
  return `${st.ino}:${st.mtimeNs}:${st.ctimeNs}`;
};

/** Rewrites an owner in place, as no writer of this layout does: the directory's stamp does not move. */
function rewriteInPlace(file: string, text: string): void {
  const fd = openSync(file, 'r+');
  try {
    ftruncateSync(fd, 0);
    writeSync(fd, text, 0);
  } finally {
    closeSync(fd);
  }
}

/** Network `n` under `data` with 10.0.0.2 held by a and 10.0.0.3 by b, written by one store (so indexed); its dir. */
async function reserveAB(data: string): Promise<string> {
  const first = new FileStore(data, 'n');
  await first.withLock(() => {
    first.reserve('10.0.0.2', eth0('a'), 0);
    first.reserve('10.0.0.3', eth0('b'), 0);
  });
  return join(data, 'n');
}

test('a new process takes who holds what from the lock file, and re-reads a file before trusting its owner', () =>
  withTempDir(async (data) => {
    const dir = await reserveAB(data);
    assert.match(readFileSync(join(dir, 'lock'), 'utf8'), /^netboot ipam index 1\n/);
    const stamp = stampOf(dir);
    rewriteInPlace(join(dir, '10.0.0.3'), 'c\r\neth0');
    assert.is(stampOf(dir), stamp, 'an in-place write leaves the stamp');

    const second = new FileStore(data, 'n');
    await second.withLock(() => {
      assert.equal(
        second.list().entries.map((e) => e.containerId),
        ['a', 'b'],
        'the index was used: no file was read',
      );
      assert.equal(second.getById(eth0('b')), [], 'the owner is checked against the file before it is returned');
      assert.equal(second.releaseById(eth0('b')), [], "and before b's DEL deletes it");
      assert.equal(second.getById(eth0('c')), ['10.0.0.3'], 'what that read found is kept');
    });
    assert.is(readFileSync(join(dir, '10.0.0.3'), 'utf8'), 'c\r\neth0');
    assert.equal(readdirSync(dir).sort(), ['10.0.0.2', '10.0.0.3', 'last_reserved_ip.0', 'lock'], 'no file beside host-local’s');
  }));

test('after another writer (host-local, a netboot killed before it wrote the index) every file is read again', () =>
  withTempDir(async (data) => {
    const dir = join(data, 'n');
    const first = new FileStore(data, 'n');
    await first.withLock(() => first.reserve('10.0.0.2', eth0('a'), 0));
    // A killed writer's reservation (link done, index not written), and an owner replaced by rename.
    writeFileSync(join(dir, '10.0.0.5'), 'killed\r\neth0');
    writeFileSync(join(dir, '.x'), 'b\r\neth0');
    renameSync(join(dir, '.x'), join(dir, '10.0.0.2'));
    const second = new FileStore(data, 'n');
    await second.withLock(() =>
      assert.equal(second.list().entries, [
        { ip: '10.0.0.2', containerId: 'b', ifname: 'eth0' },
        { ip: '10.0.0.5', containerId: 'killed', ifname: 'eth0' },
      ]),
    );
    const third = new FileStore(data, 'n');
    await third.withLock(() => assert.equal(third.releaseById(eth0('killed')).length, 1, 'its DEL finds it'));
  }));

test('an index whose stamp failed to move (coarse timestamps) still sees new and vanished names', () =>
  withTempDir(async (data) => {
    const dir = await reserveAB(data);
    writeFileSync(join(dir, '10.0.0.9'), 'late\r\neth0');
    unlinkSync(join(dir, '10.0.0.3'));
    // As if both happened within the timestamp tick the index was written in: it ends at today's stamp.
    const lock = join(dir, 'lock');
    writeFileSync(lock, readFileSync(lock, 'utf8').replace(/@[^\n]*\n$/, `@${stampOf(dir)}\n`));
    const second = new FileStore(data, 'n');
    await second.withLock(() => {
      assert.equal(
        second.list().entries.map((e) => e.ip),
        ['10.0.0.2', '10.0.0.9'],
      );
      assert.equal(second.getById(eth0('late')), ['10.0.0.9']);
    });
  }));

test('an index cut short by a kill is not used: the directory is read', () =>
  withTempDir(async (data) => {
    const dir = join(data, 'n');
    const first = new FileStore(data, 'n');
    await first.withLock(() => first.reserve('10.0.0.2', eth0('a'), 0));
    rewriteInPlace(join(dir, '10.0.0.2'), 'b\r\neth0'); // only a full read can see this
    const lock = join(dir, 'lock');
    const whole = readFileSync(lock, 'utf8');
    writeFileSync(lock, `${whole}\n^\n+10.0.0.2 a`); // a block without its end
    const second = new FileStore(data, 'n');
    await second.withLock(() => assert.equal(second.list().entries, [{ ip: '10.0.0.2', containerId: 'b', ifname: 'eth0' }]));
    assert.match(readFileSync(lock, 'utf8'), /\n\+10\.0\.0\.2 b eth0\n/, 'and the index is written again whole');
  }));

test.run();
