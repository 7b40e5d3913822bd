// What the contract suites (kv-contract.ts, pod-ipam-contract.ts) share: a uvu suite whose every test
// runs on a fresh fixture that the implementation sets up and tears down around it, also when it fails.
import { suite } from 'uvu';
import type { Test } from 'uvu';
import { skipIf } from '@netboot/core/testing/pure';

/** Once-per-suite setup around the tests, e.g. starting and stopping an etcd. */
export interface ContractHooks {
  before?: () => Promise<void>;
  after?: () => Promise<void>;
  /** Why this machine cannot run the suite (see skipIf): every test is skipped and the reason printed. */
  skip?: string;
}

/** Runs `fn` on a fresh fixture and cleans up afterwards, also when `fn` fails (like withTempDir). */
export type UseFixture<F> = (fn: (fixture: F) => Promise<void>) => Promise<void>;

export function contractSuite<F>(
  title: string,
  use: UseFixture<F>,
  hooks: ContractHooks = {},
): { test: Test; withFixture: (fn: (fixture: F) => Promise<void>) => () => Promise<void> } {
  const test = skipIf(suite(title), hooks.skip);
  if (hooks.before) test.before(hooks.before);
  if (hooks.after) test.after(hooks.after);
  return { test, withFixture: (fn) => () => use(fn) };
}

/** The UseFixture of a fixture that closes itself: opens it, runs `fn`, closes it. */
export function closing<F extends { close(): Promise<void> }>(open: () => Promise<F>): UseFixture<F> {
  return async (fn) => {
    const fixture = await open();
    try {
      await fn(fixture);
    } finally {
      await fixture.close();
    }
  };
}
