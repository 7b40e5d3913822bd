// Sockets in the pod's namespace (CNI_NETNS) and the host's (the plugin's own).
import { accessSync, readlinkSync } from 'node:fs';
import { Rtnl } from '@netboot/core';
import { CniCode, CniError } from './errors.js';
import { onRelease } from './kept.js';

/**
 * `open()`'s socket for this thread's namespace (the node's), kept across calls: a warm server answers
 * many. Opened anew when the thread is in another namespace than the kept one's (a test that switches
 * namespaces in-process); callers do not close it. Closed when the last server closes (kept.ts).
 */
export function keptPerNetns<T extends { close(): void }>(open: () => T): () => T {
  let kept: { sock: T; netns: string } | undefined;
  const release = () => {
    const sock = kept?.sock;
    kept = undefined;
    sock?.close();
  };
  return () => {
    // Its link (`net:[4026531840]`) names the namespace as st_ino does, in a sixth of statSync's time.
    const netns = readlinkSync('/proc/thread-self/ns/net');
    if (kept?.netns !== netns) {
      kept?.sock.close();
      kept = { sock: open(), netns };
      onRelease(release);
    }
    return kept.sock;
  };
}

/**
 * The node-side rtnetlink socket: a new one per call cost socket(), five setsockopts, bind,
 * getsockname and a 1 MiB receive buffer for the GC.
 */
export const hostRtnl = keptPerNetns(() => Rtnl.open());

/**
 * An Rtnl whose socket lives in CNI_NETNS; error 3 (unknown container) when the path is not there or
 * not a network namespace. Only the socket's creation switches namespace.
 */
export function openPodNetns(netns: string): Rtnl {
  try {
    // A handful of small requests (and replies): no need for the default 1 MiB buffer each ADD.
    return Rtnl.open({ netns, receiveBufferBytes: 64 * 1024 });
  } catch (err) {
    throw new CniError(CniCode.UnknownContainer, `cannot open CNI_NETNS ${netns}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Error 3 (unknown container) when CNI_NETNS is not there: one access(2), so a wrong path is refused
 * before anything on the node is made, while the socket in it is opened later (openPodNetns, which
 * also refuses a file that is no network namespace).
 */
export function checkPodNetns(netns: string): void {
  try {
    accessSync(netns);
  } catch (err) {
    throw new CniError(CniCode.UnknownContainer, `cannot open CNI_NETNS ${netns}: ${(err as Error).message}`, { cause: err });
  }
}
