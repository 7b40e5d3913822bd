// Test fixtures shared by every package (`@netboot/core/testing`): throwaway network namespaces and
// independent tools (`ip -j`, `ip netns exec`) to check what the library did. Privileged tests do all
// their work inside namespaces from here and never touch the host's own.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createNetns, deleteNetns, NetnsNotFoundError } from '../netns.js';
import type { Netns, NetnsRef } from '../netns.js';
import { Rtnl } from '../rtnl.js';
import { NetbootError } from '../base/errors.js';

export { type EtcdFixture, EtcdStartError, freePort, startEtcd, type StartEtcdOptions } from '../testing/etcd.js';
export { readGolden } from '../testing/golden.js';
export { type Answer, type CannedReply, type RequestMatch, RequestRecorder } from '../testing/recorder.js';
export {
  type ErrorClass,
  isA,
  missingPrivileges,
  openFds,
  privileged,
  rejectsA,
  type RunWithoutOptions,
  type RunWithoutResult,
  runWithout,
  skipIf,
  type TestRegistrar,
  throwsA,
  withTempDir,
} from './testing/pure.js';

/** A namespace that removes itself; `delete()` is idempotent so it can sit in every `finally`. */
export type TempNetns = Netns & { readonly name: string; delete(): void; [Symbol.dispose](): void };

/** Creates an empty namespace named `<prefix>-<8 random hex>` (`ip netns add`). */
export function tempNetns(prefix = 'nbt'): TempNetns {
  const ns = createNetns(`${prefix}-${randomBytes(4).toString('hex')}`);
  const name = ns.name!;
  const remove = (): void => {
    try {
      deleteNetns(name);
    } catch (err) {
      if (!(err instanceof NetnsNotFoundError)) throw err;
    }
  };
  return { ...ns, name, delete: remove, [Symbol.dispose]: remove };
}

/**
 * Runs `fn` with an Rtnl (link, addr, route and neigh over one socket) opened in `ns`, and closes it
 * when `fn` returns — or, if `fn` returns a Promise, when that settles.
 */
export function withRtnl<T>(ns: NetnsRef, fn: (rtnl: Rtnl) => T): T {
  const rtnl = Rtnl.open({ netns: ns });
  let result: T;
  try {
    result = fn(rtnl);
  } catch (err) {
    rtnl.close();
    throw err;
  }
  if (result instanceof Promise) return result.finally(() => rtnl.close()) as T;
  rtnl.close();
  return result;
}

/** The ifindex of `dev` in `ns`, as `ip -j link show <dev>` reports it. */
export function ifindexOf(ns: NetnsRef, dev: string): number {
  return ipJson(ns, 'link', 'show', dev)[0].ifindex as number;
}

/**
 * Runs `fn` in a fresh namespace holding veth0 (10.1.0.1/24, fd00:1::1/64) and its peer veth1, both
 * up, with an Rtnl opened there and veth0's ifindex: the routing fixture of the route and nexthop tests.
 */
export async function withVethNs<T>(fn: (ns: TempNetns, rtnl: Rtnl, veth0: number) => T | Promise<T>): Promise<T> {
  return withNetns(1, async (ns) => {
    sh(ns, 'ip', 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth1');
    sh(ns, 'ip', 'link', 'set', 'veth0', 'up');
    sh(ns, 'ip', 'link', 'set', 'veth1', 'up');
    sh(ns, 'ip', 'addr', 'add', '10.1.0.1/24', 'dev', 'veth0');
    sh(ns, 'ip', '-6', 'addr', 'add', 'fd00:1::1/64', 'dev', 'veth0', 'nodad');
    return withRtnl(ns, (rtnl) => fn(ns, rtnl, ifindexOf(ns, 'veth0')));
  });
}

/**
 * Runs `fn` with `n` fresh namespaces and deletes them all afterwards, also when `fn` throws.
 * Namespaces already created are deleted if a later one cannot be.
 */
export async function withNetns<T>(n: number, fn: (...nss: TempNetns[]) => Promise<T> | T, prefix = 'nbt'): Promise<T> {
  const nss: TempNetns[] = [];
  let outcome: { ok: true; value: T } | { ok: false; error: unknown };
  try {
    for (let i = 0; i < n; i++) nss.push(tempNetns(prefix));
    outcome = { ok: true, value: await fn(...nss) };
  } catch (error) {
    outcome = { ok: false, error };
  }
  // Every one is deleted even if deleting another fails. fn's own failure is the one reported; failing
  // to delete is reported only when fn succeeded (the first such failure).
  let cleanup: { error: unknown } | undefined;
  for (const ns of nss.reverse()) {
    try {
      ns.delete();
    } catch (error) {
      cleanup ??= { error };
    }
  }
  if (!outcome.ok) throw outcome.error;
  if (cleanup !== undefined) throw cleanup.error;
  return outcome.value;
}

/** A command run by `sh` exited non-zero (or could not start); keeps its output. */
export class CommandError extends NetbootError {
  readonly kind = 'internal' as const;
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  constructor(argv: string[], status: number | null, stdout: string, stderr: string) {
    super(`\`${argv.join(' ')}\` exited ${status}: ${stderr.trim() || stdout.trim()}`);
    this.status = status;
    this.stdout = stdout;
    this.stderr = stderr;
  }
}

function nameOf(ns: NetnsRef): string | undefined {
  return typeof ns === 'string' ? (ns.startsWith('/') ? undefined : ns) : ns.name;
}

/** argv that runs `cmd args…` inside `ns`: `ip netns exec` for names, `nsenter --net=` for paths. */
function inNetnsArgv(ns: NetnsRef, cmd: string, args: string[]): string[] {
  const name = nameOf(ns);
  const path = typeof ns === 'string' ? ns : ns.path;
  return name === undefined ? ['nsenter', `--net=${path}`, cmd, ...args] : ['ip', 'netns', 'exec', name, cmd, ...args];
}

function run(argv: string[]): string {
  try {
    return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { status?: number | null; stdout?: string; stderr?: string; message: string };
    throw new CommandError(argv, e.status ?? null, e.stdout ?? '', e.stderr ?? e.message);
  }
}

/** Runs `cmd args…` inside `ns` (`ip netns exec <ns> cmd …`) and returns stdout; CommandError on failure. */
export function sh(ns: NetnsRef, cmd: string, ...args: string[]): string {
  return run(inNetnsArgv(ns, cmd, args));
}

/** `ip -n <ns> -j <args…>`, parsed (`ipJson(ns, 'link', 'show')` → an array of objects). */
// iproute2's JSON has no schema, so tests index it freely: `any` on purpose.
export function ipJson(ns: NetnsRef, ...args: string[]): any {
  const name = nameOf(ns);
  const argv = name === undefined ? inNetnsArgv(ns, 'ip', ['-j', ...args]) : ['ip', '-n', name, '-j', ...args];
  const out = run(argv).trim();
  return out === '' ? [] : JSON.parse(out);
}

const linkKinds = new Map<string, string | undefined>();

/**
 * Why this kernel cannot create a link of `kind`, or undefined when it can: tries `ip link add probe0
 * type <kind> <args…>` in a throwaway namespace (this kernel has no loadable modules, so ipip, gre,
 * dummy, vlan… may be missing). Needs privileges; pass it as privileged()'s own check so it runs only
 * then: `const test = privileged(uvuTest, () => missingLinkKind('ipip'))`. Cached per kind and args.
 */
export function missingLinkKind(kind: string, ...args: string[]): string | undefined {
  const key = [kind, ...args].join(' ');
  if (!linkKinds.has(key)) {
    const ns = tempNetns();
    try {
      sh(ns, 'ip', 'link', 'add', 'probe0', 'type', kind, ...args);
      linkKinds.set(key, undefined);
    } catch (err) {
      if (!(err instanceof CommandError)) throw err;
      linkKinds.set(key, `this kernel cannot create a ${kind} link (${err.stderr.trim() || `exit ${err.status}`})`);
    } finally {
      ns.delete();
    }
  }
  return linkKinds.get(key);
}
