// What this process has open, from /proc/self/fd: leak checks for code that keeps descriptors (sockets,
// lock files) between calls. Pure: no FFI.
import { readdirSync, readlinkSync } from 'node:fs';

/**
 * The targets of this process's open descriptors that `accept` takes (`socket:[…]`, `/path/to/file`),
 * as `ls -l /proc/self/fd` shows them.
 */
export function openFds(accept: (target: string) => boolean = () => true): string[] {
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      return accept(target) ? [target] : [];
    } catch {
      return []; // closed while we looked (readdirSync's own descriptor among them)
    }
  });
}
