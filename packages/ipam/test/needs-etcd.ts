// Tests that need an etcd server skip, printing why, where the `etcd` binary is missing (a laptop, a
// minimal container). Under CI=true they run and fail instead: a CI image without etcd must not go green
// by skipping what it was meant to test.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

function onPath(bin: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, bin), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Why this machine cannot run etcd tests, for skipIf; undefined where etcd is installed, and always under CI. */
export const missingEtcd: string | undefined =
  process.env.CI === 'true' || onPath('etcd') ? undefined : 'no `etcd` binary on PATH (Debian: etcd-server); under CI=true this is a failure';
