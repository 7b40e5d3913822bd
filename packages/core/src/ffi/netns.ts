// Switching the calling thread's network namespace for a synchronous piece of work: the one
// primitive both the protocol layer (a socket created in a namespace) and netns.ts (runIn,
// createNetns) build on. Why synchronous and on the main thread: see netns.ts.
import { closeSync, openSync } from 'node:fs';
import { CLONE_NEWNET } from './generated.js';
import { setns } from './libc.js';

/**
 * Switches the thread back to `savedFd`'s namespace. If that fails the thread is in the wrong
 * namespace and nothing after this can be trusted, so the process aborts.
 */
export function restoreOrAbort(savedFd: number, context: string): void {
  try {
    setns(savedFd, CLONE_NEWNET);
  } catch (err) {
    process.stderr.write(`netboot: cannot switch back to the original network namespace after ${context}: ${String(err)}\n`);
    process.abort();
  }
}

/**
 * Runs `fn` (synchronous) with the calling thread in the network namespace behind `nsFd`, then
 * switches back, always. A failing switch in throws SyscallError from `setns` before `fn` runs.
 */
export function inNetnsFd<T>(nsFd: number, fn: () => T, context: string): T {
  const saved = openSync('/proc/thread-self/ns/net', 'r');
  try {
    setns(nsFd, CLONE_NEWNET);
    try {
      return fn();
    } finally {
      restoreOrAbort(saved, context);
    }
  } finally {
    closeSync(saved);
  }
}
