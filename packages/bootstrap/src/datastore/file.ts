// The local-file datastore: one JSON file lists the nodes and optionally the pools, `{"pools"?: [{cidr,
// disabled?, natOutgoing?}, …], "nodes": [{name, nodeIPs, podCIDRs, vtepMac?, mode?}, …]}`. For a single
// node (no file needed: pass `podCIDRs`) or a fixed peer list (tests, small static setups, the lab's
// agents on one machine sharing one file). A node may hold subnets of several pools (a pool migration):
// those inside a disabled pool keep their pods but get no new ones. publish() merges this node's record
// into the file under an flock on `<file>.lock`, keeping everything else; the watch and leases() poll the
// file and turn each change into events (a node removed from the file is a `remove`).
import { closeSync, openSync, readFileSync } from 'node:fs';
import { flock, LOCK_EX, LOCK_UN } from '@netboot/core/flock';
import { writeFileAtomic } from './atomic.js';
import { pause } from './backoff.js';
import { type Channel, produced } from './channel.js';
import { checkPools, checkRecord, eventFor, leaseFor } from './records.js';
import { type Datastore, DatastoreRecordError, type NodeLease, type NodeRecord, type PeerEvent, type PoolState } from './types.js';

export interface FileDatastoreOptions {
  /** The nodes file; default none (a single node with `podCIDRs` and no peers). */
  path?: string;
  /** This node's name. */
  node: string;
  /** This node's pod subnets; default its entry's `podCIDRs` in the file. */
  podCIDRs?: string[];
  /** How often the watch and leases() re-read the file; default 1000 ms. */
  pollMs?: number;
}

/** The nodes file as read: records by name, the pools (as kept: edit them in place), the rest untouched. */
interface NodesFile {
  nodes: Map<string, NodeRecord>;
  /** Undefined when the file has no `pools`. */
  pools: PoolState[] | undefined;
  /** The file's other top-level fields, kept by publish(). */
  rest: Record<string, unknown>;
}

export class FileDatastore implements Datastore {
  readonly kind = 'file' as const;
  readonly #opts: FileDatastoreOptions;

  constructor(opts: FileDatastoreOptions) {
    this.#opts = opts;
  }

  leases(signal: AbortSignal): AsyncIterable<NodeLease> {
    return produced(signal, (out, s) => this.#pollLease(out, s));
  }

  async publish(record: NodeRecord): Promise<void> {
    if (this.#opts.path === undefined) return;
    editNodesFile(this.#opts.path, (file) => void file.nodes.set(record.name, record));
  }

  watch(signal: AbortSignal): AsyncIterable<PeerEvent> {
    return produced(signal, (out, s) => this.#poll(out, s));
  }

  async close(): Promise<void> {}

  /** This node's entry (or the fixed `podCIDRs`) whenever it or the pools change; a broken file is skipped. */
  async #pollLease(out: Channel<NodeLease>, signal: AbortSignal): Promise<void> {
    let last: string | undefined;
    do {
      let lease: NodeLease | undefined;
      if (this.#opts.podCIDRs !== undefined && this.#opts.podCIDRs.length > 0) lease = leaseFor(this.#opts.podCIDRs);
      else {
        // The file may be written after the agent starts (the lab writes it while nodes come up), and
        // may be broken for a moment while edited: the last lease holds until a good one is read.
        try {
          const file = readNodesFile(this.#opts.path);
          const own = file.nodes.get(this.#opts.node);
          if (own !== undefined && own.podCIDRs.length > 0) lease = leaseFor(own.podCIDRs, file.pools);
        } catch {}
      }
      const text = JSON.stringify(lease);
      if (lease !== undefined && text !== last) out.push(lease);
      if (lease !== undefined) last = text;
    } while (await pause(this.#opts.pollMs ?? 1000, signal));
  }

  async #poll(out: Channel<PeerEvent>, signal: AbortSignal): Promise<void> {
    let known: Map<string, string> | undefined;
    do {
      let nodes: Map<string, NodeRecord>;
      try {
        nodes = readNodesFile(this.#opts.path).nodes;
      } catch (e) {
        // A file being edited by hand may be broken for a moment: keep the last good peers, say why.
        out.push({ type: 'waiting', reason: (e as Error).message, retryMs: this.#opts.pollMs ?? 1000 });
        continue;
      }
      const now = new Map([...nodes].map(([name, r]) => [name, JSON.stringify(r)]));
      if (known === undefined) out.push({ type: 'sync', peers: [...nodes.values()].filter((r) => eventFor(r).type === 'upsert') });
      else {
        for (const name of known.keys()) if (!now.has(name)) out.push({ type: 'remove', name });
        for (const [name, text] of now) if (known.get(name) !== text) out.push(eventFor(nodes.get(name)!));
      }
      known = now;
    } while (await pause(this.#opts.pollMs ?? 1000, signal));
  }
}

/**
 * Changes the nodes file under its lock (`<file>.lock`, which every agent's publish takes too), keeping
 * what `edit` leaves alone: read, edit, write atomically. How an operator (or `netboot lab migrate-pool`)
 * edits it while agents run.
 */
export function editNodesFile(path: string, edit: (file: NodesFile) => void): void {
  const lock = openSync(`${path}.lock`, 'a', 0o644);
  try {
    flock(lock, LOCK_EX); // held for one read and one rename
    const file = readNodesFile(path);
    edit(file);
    const pools = file.pools === undefined ? {} : { pools: file.pools };
    writeFileAtomic(path, `${JSON.stringify({ ...file.rest, ...pools, nodes: [...file.nodes.values()] }, null, 2)}\n`);
  } finally {
    flock(lock, LOCK_UN);
    closeSync(lock);
  }
}

/** The file's records by name and its pools; none when there is no file (or no path). */
function readNodesFile(path: string | undefined): NodesFile {
  const nodes = new Map<string, NodeRecord>();
  const empty: NodesFile = { nodes, pools: undefined, rest: {} };
  if (path === undefined) return empty;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return empty;
    throw e;
  }
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new DatastoreRecordError(`${path}: not JSON (${(e as Error).message})`);
  }
  const { nodes: list, pools, ...rest } = raw;
  if (!Array.isArray(list)) throw new DatastoreRecordError(`${path}: expected {"nodes": [{name, nodeIPs, podCIDRs}, …]}`);
  list.forEach((n, i) => {
    const r = checkRecord(n, `${path} nodes[${i}]`);
    nodes.set(r.name, r);
  });
  return { nodes, pools: pools === undefined ? undefined : checkPools(pools, path), rest };
}
