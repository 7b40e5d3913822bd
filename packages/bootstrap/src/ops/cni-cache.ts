// Which pod attachments are live on this node, from the runtime's side: libcni (containerd, CRI-O,
// podman's CNI backend) caches every ADD's result in `<cacheDir>/results/<network>-<containerID>-<ifname>`
// (`{"kind":"cniCacheV1","containerId","ifName","networkName","netns",…}`) and removes it on DEL. An
// attachment is live while its cache entry exists and the namespace it names (when it names one) still
// does; a reservation of no live attachment is a leak.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Attachment } from '@netboot/ipam';

/** libcni's default cache directory. */
export const DEFAULT_CNI_CACHE_DIR = '/var/lib/cni';

export interface CachedAttachment extends Attachment {
  /** The namespace path the runtime gave ADD, when libcni recorded it. */
  netns?: string;
  /** Whether that namespace is still there (true when none was recorded: nothing says it is gone). */
  netnsExists: boolean;
}

/** The cache entries of `network`; undefined when there is no cache directory at all (nothing known). */
export function readCniCache(cacheDir: string, network: string, exists: (path: string) => boolean = existsSync): CachedAttachment[] | undefined {
  const dir = join(cacheDir, 'results');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const out: CachedAttachment[] = [];
  for (const name of names.filter((n) => n.startsWith(`${network}-`)).sort()) {
    let raw: { containerId?: unknown; ifName?: unknown; networkName?: unknown; netns?: unknown };
    try {
      raw = JSON.parse(readFileSync(join(dir, name), 'utf8')) as typeof raw;
    } catch {
      continue; // a half-written or foreign file: not evidence of a live pod
    }
    if (raw.networkName !== network || typeof raw.containerId !== 'string' || typeof raw.ifName !== 'string') continue;
    const netns = typeof raw.netns === 'string' && raw.netns !== '' ? raw.netns : undefined;
    out.push({ containerId: raw.containerId, ifname: raw.ifName, ...(netns && { netns }), netnsExists: netns === undefined || exists(netns) });
  }
  return out;
}

/** The attachments a GC must keep: cached and with their namespace still there. */
export function liveAttachments(cache: readonly CachedAttachment[]): Attachment[] {
  return cache.filter((c) => c.netnsExists).map(({ containerId, ifname }) => ({ containerId, ifname }));
}
