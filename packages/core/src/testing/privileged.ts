// Skipping for `*.priv.test.ts` files: tests that create network namespaces need CAP_SYS_ADMIN and
// CAP_NET_ADMIN on Linux. Without them such a file reports its tests as skipped, with the reason printed,
// instead of failing; the rest of the suite runs anywhere Node runs (`node scripts/test.mjs --unprivileged`
// leaves these files out altogether). Pure: reads /proc, loads no FFI.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

// Capability bit numbers from linux/capability.h.
const CAP_NET_ADMIN = 12;
const CAP_SYS_ADMIN = 21;

/** The effective capability set of this process, from /proc/self/status (undefined if unreadable). */
function effectiveCaps(): bigint | undefined {
  try {
    const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    return hex === undefined ? undefined : BigInt(`0x${hex}`);
  } catch {
    return undefined;
  }
}

/**
 * Why this process cannot create and enter network namespaces, or undefined when it can: Linux with
 * CAP_SYS_ADMIN (`unshare`, `setns`, the bind mount under /run/netns) and CAP_NET_ADMIN (links, routes).
 */
export function missingPrivileges(): string | undefined {
  if (process.platform !== 'linux') return `needs Linux network namespaces (this is ${process.platform})`;
  const caps = effectiveCaps();
  if (caps === undefined) return 'cannot read the capabilities in /proc/self/status';
  const needed: [bit: number, name: string][] = [
    [CAP_SYS_ADMIN, 'CAP_SYS_ADMIN'],
    [CAP_NET_ADMIN, 'CAP_NET_ADMIN'],
  ];
  const missing = needed.filter(([bit]) => ((caps >> BigInt(bit)) & 1n) === 0n).map(([, name]) => name);
  return missing.length === 0 ? undefined : `needs root (${missing.join(' and ')} missing)`;
}

/**
 * What skipping needs of a uvu `test` or `suite(…)`: `skip` registers a skipped test, `run` reports.
 * Structural, so this module does not depend on uvu.
 */
export interface TestRegistrar {
  (name: string, fn: never): void;
  skip(name?: string): void;
  run(): void;
}

const printed = new Set<string>();

/**
 * Returns `test` when `reason` is undefined. Otherwise prints `skipped (<file>): <reason>` once and
 * returns a look-alike of `test` that registers every test (and `only`) as skipped and ignores the
 * before/after hooks — they would set up what the tests cannot use — so the file ends with
 * `Skipped: N` instead of failures. Use it for a missing kernel feature:
 * `const vxlanTest = skipIf(test, hasVxlan() ? undefined : 'the kernel has no vxlan')`.
 */
export function skipIf<T extends TestRegistrar>(test: T, reason: string | undefined): T {
  if (reason === undefined) return test;
  const line = `  skipped (${basename(process.argv[1] ?? 'test')}): ${reason}`;
  if (!printed.has(line)) {
    printed.add(line);
    console.log(line);
  }
  const hook = Object.assign((): void => {}, { each: (): void => {} });
  const skipped = Object.assign((name: string) => test.skip(name), {
    skip: (name?: string) => test.skip(name),
    only: (name: string) => test.skip(name),
    before: hook,
    after: hook,
    run: () => test.run(),
  });
  // Same calls as uvu's Test (register, skip, only, before/after(.each), run), so it stands in for T.
  return skipped as unknown as T;
}

/**
 * For `*.priv.test.ts` files: `test` itself when this process may create network namespaces, else a
 * look-alike that skips every test and prints why (see skipIf). `needs` adds a check of the file's own
 * (a kernel feature): return why it is missing, or undefined.
 *
 *   import { test as uvuTest } from 'uvu';
 *   const test = privileged(uvuTest);
 */
export function privileged<T extends TestRegistrar>(test: T, needs?: () => string | undefined): T {
  return skipIf(test, missingPrivileges() ?? needs?.());
}
