// What the contract suites (kv-contract.ts, pod-ipam-contract.ts) share: a uvu suite whose every test
// runs on a fresh fixture from the implementation's `open`, closed afterwards also when the test fails.
import { suite } from 'uvu';
import type { Test } from 'uvu';

/** Once-per-suite setup around the tests, e.g. starting and stopping an etcd. */
export interface ContractHooks {
  before?: () => Promise<void>;
  after?: () => Promise<void>;
}

export function contractSuite<F extends { close(): Promise<void> }>(
  title: string,
  open: () => Promise<F>,
  hooks: ContractHooks = {},
): { test: Test; withFixture: (fn: (fixture: F) => Promise<void>) => () => Promise<void> } {
  const test = suite(title);
  if (hooks.before) test.before(hooks.before);
  if (hooks.after) test.after(hooks.after);
  return { test, withFixture: (fn) => withFixture(open, fn) };
}

/** A test body that runs `fn` on a fresh fixture from `open` and closes it afterwards, also when `fn` fails. */
export function withFixture<F extends { close(): Promise<void> }>(open: () => Promise<F>, fn: (fixture: F) => Promise<void>): () => Promise<void> {
  return async () => {
    const fixture = await open();
    try {
      await fn(fixture);
    } finally {
      await fixture.close();
    }
  };
}
