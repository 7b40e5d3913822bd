// CONTRACT STUB — the namespaces helper replaces the bodies; the exported names and shapes are fixed.

/** A network namespace: a name under /run/netns, an absolute path (/proc/<pid>/ns/net), or an open Netns. */
export type NetnsRef = string | Netns;

export interface Netns {
  /** Name under /run/netns when it has one. */
  readonly name?: string;
  /** Path of the nsfs file (/run/netns/<name>, /proc/…/ns/net). */
  readonly path: string;
}

/**
 * Runs `fn` with the calling (main) thread switched into `ns`, then switches back — always, in
 * `finally`; aborts the process if switching back fails. `fn` must be synchronous: no await, no async fs.
 */
export function runIn<T>(_ns: NetnsRef, _fn: () => T): T {
  throw new Error('not implemented');
}
