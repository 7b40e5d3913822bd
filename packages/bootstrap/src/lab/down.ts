// `netboot lab down`: removes what `lab up` recorded, in reverse — its processes (each only if its PID
// still has the recorded start time), the pods (CNI DEL, as a runtime tears a pod down), every namespace
// newest first, then the lab dir. Works on the partial state of a crashed `up`, and a second run finds
// nothing to do. Before a namespace goes, any process still inside it is stopped too: an `up` killed
// between spawning an agent and recording it leaves one that no state names (seen in CI: node3's agent of
// lab.priv's killed `up`, retrying on a vanished eth0 for ever).
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { deleteNetns, NETNS_RUN_DIR, NetnsNotFoundError } from '@netboot/core';
import { cniDel, labPlugin } from './pods.js';
import { labProcess, stopProcess } from './processes.js';
import { LabNotFoundError, type LabState, labDir, loadLabState } from './state.js';

/**
 * Namespaces named like this lab's, for what a crash between `ip netns add` and the next state write
 * left unrecorded.
 */
function strayNamespaces(name: string): string[] {
  const own = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-(underlay|outside|node\\d+(-pod\\d+)?)$`);
  try {
    return readdirSync(NETNS_RUN_DIR).filter((n) => own.test(n));
  } catch {
    return [];
  }
}

/** The processes inside namespace `ns` (as `ip netns pids NS`: same namespace inode), this one aside. */
function pidsIn(ns: string): number[] {
  let want: string;
  try {
    want = `net:[${statSync(`${NETNS_RUN_DIR}/${ns}`).ino}]`;
  } catch {
    return [];
  }
  return readdirSync('/proc')
    .map(Number)
    .filter((pid) => {
      if (!Number.isInteger(pid) || pid === process.pid) return false;
      try {
        return readlinkSync(`/proc/${pid}/ns/net`) === want;
      } catch {
        return false; // gone meanwhile
      }
    });
}

/** Stops every process left in `namespaces` (SIGTERM, SIGKILL after 5 s), all at once. */
async function stopStrayProcesses(namespaces: readonly string[], progress: (line: string) => void): Promise<void> {
  const stops = namespaces.flatMap((ns) =>
    pidsIn(ns).map(async (pid) => {
      try {
        const what = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
        const how = await stopProcess(labProcess(what, pid));
        progress(`${what} (pid ${pid}) in ${ns}, not in the lab's state: ${how}`);
      } catch {
        // exited between the scan and here
      }
    }),
  );
  await Promise.all(stops);
}

/** Removes lab `name`; `progress` gets one line per thing removed. Resolves false when there was nothing. */
export async function labDown(name: string, progress: (line: string) => void): Promise<boolean> {
  let state: LabState | undefined;
  try {
    state = loadLabState(name);
  } catch (e) {
    if (!(e instanceof LabNotFoundError)) throw e;
  }
  const dir = labDir(name);
  const stray = strayNamespaces(name).filter((ns) => !state?.namespaces.includes(ns));
  if (state === undefined && stray.length === 0 && !existsSync(dir)) return false;

  // Agents first (newest first), then the datastore they talk to.
  for (const p of [...(state?.processes ?? [])].reverse()) {
    const how = await stopProcess(p);
    progress(how === 'gone' ? `${p.what} (pid ${p.pid}): already gone` : `${p.what} (pid ${p.pid}): ${how}`);
  }
  // A kubelet lab's pods, shims, cgroups and the machine's sysctls (nothing for other labs).
  await (await import('./kubelet/down.js')).kubeletDown(dir, progress);
  const plugin = labPlugin(dir);
  for (const pod of state?.pods ?? []) {
    const node = state!.nodes.find((n) => n.name === pod.node);
    if (node === undefined || !existsSync(plugin) || !existsSync(`${NETNS_RUN_DIR}/${node.netns}`)) continue;
    try {
      await cniDel(plugin, node, pod);
      progress(`${pod.name}: CNI DEL ok`);
    } catch (e) {
      // The namespaces go next anyway; say so rather than stop.
      progress(`${pod.name}: ${(e as Error).message} (deleting its namespace anyway)`);
    }
  }
  const namespaces = [...(state?.namespaces ?? []), ...stray].reverse();
  await stopStrayProcesses(namespaces, progress);
  for (const ns of namespaces) {
    try {
      deleteNetns(ns);
    } catch (e) {
      if (!(e instanceof NetnsNotFoundError)) throw e;
    }
  }
  if (namespaces.length > 0) progress(`deleted ${namespaces.length} namespaces (${namespaces.at(-1)} … ${namespaces[0]})`);
  rmSync(dir, { recursive: true, force: true });
  progress(`removed ${dir}`);
  return true;
}
