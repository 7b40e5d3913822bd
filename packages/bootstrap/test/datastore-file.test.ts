// The Datastore contract on the local-file datastore: several agents' views of one nodes file.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileDatastore } from '../src/datastore/index.js';
import { datastoreContract } from './datastore-contract.js';

datastoreContract('local file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nbt-ds-file-'));
  const path = join(dir, 'nodes.json');
  let next = 1;
  // The operator edits the file by hand: read, change, write (no lock, as an editor would).
  const edit = (fn: (nodes: Record<string, unknown>[]) => Record<string, unknown>[]) => {
    let nodes: Record<string, unknown>[] = [];
    try {
      nodes = JSON.parse(readFileSync(path, 'utf8')).nodes;
    } catch {}
    writeFileSync(path, JSON.stringify({ nodes: fn(nodes) }));
  };
  return {
    clusterCIDR: '10.244.0.0/16',
    open: async (node) => new FileDatastore({ path, node, pollMs: 50 }),
    addNode: async (node) => edit((nodes) => [...nodes, { name: node, podCIDRs: [`10.244.${next++}.0/24`] }]),
    removeNode: async (node) => edit((nodes) => nodes.filter((n) => n.name !== node)),
    moveNode: async (node) => edit((nodes) => nodes.map((n) => (n.name === node ? { ...n, podCIDRs: [`10.244.${next++}.0/24`] } : n))),
    close: async () => rmSync(dir, { recursive: true, force: true }),
  };
});
