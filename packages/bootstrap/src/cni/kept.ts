// What a warm server keeps between calls — the node's netlink and nf_tables sockets, the node watch,
// IPAM stores with their lock file and cursors open — is let go together when the process's last
// server closes (server.ts): an embedder that stops serving (the agent's `--cni-socket`, a test) gets
// its descriptors back. Each keeper registers its release when it first keeps something; whatever is
// used again afterwards is kept again, and registers again.

type Release = () => void | Promise<void>;

const releases = new Set<Release>();

/** Registers `release` (once, however often it is given) for the next releaseKept(). */
export function onRelease(release: Release): void {
  releases.add(release);
}

/** Runs every registered release, forgets them, and returns the failures (each release runs regardless). */
export async function releaseKept(): Promise<unknown[]> {
  const all = [...releases];
  releases.clear();
  const settled = await Promise.allSettled(all.map(async (release) => release()));
  return settled.flatMap((s) => (s.status === 'rejected' ? [s.reason] : []));
}
