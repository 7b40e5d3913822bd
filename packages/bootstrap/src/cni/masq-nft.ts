// The nft command, for masquerading's rare paths: creating the table (the first pod on a node, or after
// a reboot) and listing the pod elements (GC, a DEL that does not know the pod's addresses). A module of
// its own so that node:child_process (~3 ms to load) is loaded only then: masq.ts imports it on demand.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { CniCode, CniError } from './errors.js';

const NFT = ['/usr/sbin/nft', '/sbin/nft', '/usr/bin/nft'].find((p) => existsSync(p)) ?? 'nft';

/** Runs an nft script as one transaction (all or nothing). */
export function runNft(script: string): void {
  try {
    execFileSync(NFT, ['-f', '-'], { input: script, stdio: ['pipe', 'ignore', 'pipe'], encoding: 'utf8' });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new CniError(CniCode.Internal, `nft failed: ${(e.stderr ?? e.message).trim()}`);
  }
}

export interface PodElement {
  set: 'pods4' | 'pods6';
  ip: string;
  comment: string | undefined;
}

/** The elements of the pod sets of `inet <table>` (`nft -j list table …`); none when the table does not exist. */
export function listPodElements(table: string): PodElement[] {
  let out: string;
  try {
    out = execFileSync(NFT, ['-j', 'list', 'table', 'inet', table], { stdio: ['ignore', 'pipe', 'ignore'], encoding: 'utf8' });
  } catch {
    return []; // no table: nothing was ever masqueraded here
  }
  const elements: PodElement[] = [];
  for (const item of (JSON.parse(out) as { nftables: { set?: { name: string; elem?: unknown[] } }[] }).nftables) {
    const set = item.set;
    if (!set || (set.name !== 'pods4' && set.name !== 'pods6')) continue;
    for (const e of set.elem ?? []) {
      // Plain elements are strings; elements with a comment are {elem: {val, comment}}.
      const wrapped = (e as { elem?: { val: string; comment?: string } }).elem;
      elements.push({ set: set.name, ip: wrapped ? wrapped.val : (e as string), comment: wrapped?.comment });
    }
  }
  return elements;
}
