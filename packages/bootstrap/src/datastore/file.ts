// The local-file datastore: one JSON file lists the nodes, `{"nodes": [{name, nodeIPs, podCIDRs,
// vtepMac?, mode?}, …]}`. For a single node (no file needed: pass `podCIDRs`) or a fixed peer list
// (tests, small static setups, the lab's agents on one machine sharing one file). publish() merges this
// node's record into the file under an flock on `<file>.lock`; the watch polls the file and turns each
// change into events (a node removed from the file is a `remove`).
import { closeSync, openSync, readFileSync } from 'node:fs';
import { flock, LOCK_EX, LOCK_UN } from '@netboot/core/flock';
import { writeFileAtomic } from './atomic.js';
import { pause } from './backoff.js';
import { type Channel, produced } from './channel.js';
import { checkRecord, eventFor } from './records.js';
import { abortReason, type Datastore, DatastoreRecordError, type NodeRecord, type PeerEvent } from './types.js';

export interface FileDatastoreOptions {
  /** The nodes file; default none (a single node with `podCIDRs` and no peers). */
  path?: string;
  /** This node's name. */
  node: string;
  /** This node's pod subnets; default its entry's `podCIDRs` in the file. */
  podCIDRs?: string[];
  /** How often the watch and lease() re-read the file; default 1000 ms. */
  pollMs?: number;
}

export class FileDatastore implements Datastore {
  readonly kind = 'file' as const;
  readonly #opts: FileDatastoreOptions;

  constructor(opts: FileDatastoreOptions) {
    this.#opts = opts;
  }

  async lease(signal?: AbortSignal): Promise<string[]> {
    if (this.#opts.podCIDRs !== undefined && this.#opts.podCIDRs.length > 0) return this.#opts.podCIDRs;
    // The file may be written after the agent starts (the lab writes it while nodes come up).
    for (;;) {
      const own = this.#read().get(this.#opts.node);
      if (own !== undefined && own.podCIDRs.length > 0) return own.podCIDRs;
      if (!(await pause(this.#opts.pollMs ?? 1000, signal))) throw abortReason(signal, `waiting for node ${this.#opts.node}'s podCIDRs in ${this.#opts.path}`);
    }
  }

  async publish(record: NodeRecord): Promise<void> {
    const path = this.#opts.path;
    if (path === undefined) return;
    const lock = openSync(`${path}.lock`, 'a', 0o644);
    try {
      flock(lock, LOCK_EX); // held for one read and one rename
      const nodes = this.#read();
      nodes.set(record.name, record);
      writeFileAtomic(path, `${JSON.stringify({ nodes: [...nodes.values()] }, null, 2)}\n`);
    } finally {
      flock(lock, LOCK_UN);
      closeSync(lock);
    }
  }

  watch(signal: AbortSignal): AsyncIterable<PeerEvent> {
    return produced(signal, (out, s) => this.#poll(out, s));
  }

  async close(): Promise<void> {}

  async #poll(out: Channel<PeerEvent>, signal: AbortSignal): Promise<void> {
    let known: Map<string, string> | undefined;
    do {
      let nodes: Map<string, NodeRecord>;
      try {
        nodes = this.#read();
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

  /** The file's records by name; none when there is no file. */
  #read(): Map<string, NodeRecord> {
    const path = this.#opts.path;
    const nodes = new Map<string, NodeRecord>();
    if (path === undefined) return nodes;
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return nodes;
      throw e;
    }
    let raw: { nodes?: unknown };
    try {
      raw = JSON.parse(text) as { nodes?: unknown };
    } catch (e) {
      throw new DatastoreRecordError(`${path}: not JSON (${(e as Error).message})`);
    }
    if (!Array.isArray(raw.nodes)) throw new DatastoreRecordError(`${path}: expected {"nodes": [{name, nodeIPs, podCIDRs}, …]}`);
    raw.nodes.forEach((n, i) => {
      const r = checkRecord(n, `${path} nodes[${i}]`);
      nodes.set(r.name, r);
    });
    return nodes;
  }
}
