// The shared test helpers of `@netboot/core/testing/pure`: error assertions that fail when they should,
// and privileged files that skip (hooks included) with a printed reason when run without root.
import { spawnSync } from 'node:child_process';
import { AssertionError } from 'node:assert';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isA, missingPrivileges, rejectsA, runWithout, skipIf, throwsA, withTempDir } from '@netboot/core/testing/pure';

class ParentError extends Error {}
class ChildError extends ParentError {}
const boom = (err: Error) => (): never => {
  throw err;
};

test('isA is a predicate for assert.throws', () => {
  assert.throws(boom(new ChildError('x')), isA(ParentError));
  assert.not.ok(isA(ChildError)(new ParentError('x')));
});

test('throwsA returns the error when its class (and message) match', () => {
  const err = new ChildError('bad prefix 10.0.0.1/33');
  assert.is(throwsA(boom(err), ParentError), err);
  assert.is(throwsA(boom(err), ChildError, /\/33/), err);
});

test('throwsA fails when nothing, another class or another message is thrown', () => {
  assert.throws(
    () => throwsA(() => 1, ChildError),
    (e: unknown) => e instanceof AssertionError && /nothing was thrown/.test(e.message),
  );
  assert.throws(
    () => throwsA(boom(new ParentError('x')), ChildError),
    (e: unknown) => e instanceof AssertionError && /expected a ChildError, got Error: x/.test(e.message),
  );
  assert.throws(
    () => throwsA(boom(new ChildError('x')), ChildError, /y/),
    (e: unknown) => e instanceof AssertionError && /does not match \/y\//.test(e.message),
  );
});

test('rejectsA returns the rejection, and fails on a resolve or another class', async () => {
  const err = new ChildError('gone');
  assert.is(await rejectsA(Promise.reject(err), ParentError, /gone/), err);
  const failure = async (p: Promise<unknown>): Promise<string> => {
    try {
      await p;
    } catch (e) {
      assert.instance(e, AssertionError);
      return (e as AssertionError).message;
    }
    return assert.unreachable('rejectsA did not fail') as never;
  };
  assert.match(await failure(rejectsA(Promise.resolve(1), ChildError, undefined, 'allocate')), /^allocate: expected a ChildError rejection, it resolved/);
  assert.match(await failure(rejectsA(Promise.reject(new ParentError('p')), ChildError)), /expected a ChildError/);
});

test('withTempDir removes its directory, also when fn fails', async () => {
  let kept = '';
  assert.is(
    await withTempDir((dir) => {
      kept = dir;
      writeFileSync(join(dir, 'f'), 'x');
      return 7;
    }),
    7,
  );
  assert.not.ok(existsSync(kept));
  const err = await rejectsA(
    withTempDir(async (dir) => {
      kept = dir;
      throw new ParentError('inside');
    }, 'nbt-fail-'),
    ParentError,
  );
  assert.is(err.message, 'inside');
  assert.match(kept, /nbt-fail-/);
  assert.not.ok(existsSync(kept));
});

test('runWithout: @netboot/core/testing/pure loads without koffi; @netboot/core/testing cannot', () => {
  const cwd = join(import.meta.dirname, '..');
  const pure = runWithout(['koffi'], "import { throwsA, privileged } from '@netboot/core/testing/pure'; console.log(typeof throwsA, typeof privileged);", {
    cwd,
  });
  assert.is(pure.status, 0, pure.output);
  assert.match(pure.output, /function function/);
  // The block is real: the fixtures that create namespaces do load the FFI.
  const full = runWithout(['koffi'], "import '@netboot/core/testing';", { cwd });
  assert.is.not(full.status, 0, full.output);
  assert.match(full.output, /koffi is blocked \(runWithout\)/);
});

test('skipIf keeps the test function when there is no reason', () => {
  assert.is(skipIf(test, undefined), test);
});

// Running a child as nobody needs root itself: the helper under test decides.
skipIf(test, missingPrivileges())('a privileged file run as nobody skips its tests and hooks, and says why', () => {
  const res = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', join(import.meta.dirname, 'fixtures', 'privileged-file.ts')], {
    cwd: join(import.meta.dirname, '..'),
    encoding: 'utf8',
    uid: 65534,
    gid: 65534,
    env: { ...process.env, FORCE_COLOR: '0' },
    timeout: 60_000,
  });
  const out = `${res.stdout}${res.stderr}`;
  assert.is(res.status, 0, out);
  assert.match(out, /skipped \(privileged-file\.ts\): needs root \(CAP_SYS_ADMIN and CAP_NET_ADMIN missing\)/);
  assert.match(out, /Total:\s+0\s+Passed:\s+0\s+Skipped:\s+1/);
  assert.not.match(out, /ran without privileges/);
});

test("the fixtures' own failures are NetbootErrors: CommandError (internal), EtcdStartError (unavailable)", async () => {
  const { CommandError, EtcdStartError, sh, startEtcd } = await import('@netboot/core/testing');
  const { NetbootError } = await import('@netboot/core/errors');
  const cmd = throwsA(() => sh('/nonexistent/nbt-netns', 'true'), CommandError);
  assert.ok(cmd instanceof NetbootError && cmd.kind === 'internal');
  const etcd = await rejectsA(startEtcd({ bin: '/bin/false', timeoutMs: 2000 }), EtcdStartError, /exited during start/);
  assert.ok(etcd instanceof NetbootError && etcd.kind === 'unavailable');
});

test.run();
