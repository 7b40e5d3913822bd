// The nft command, for masquerading's one rare path: creating the table (the first pod on a node, or
// after a reboot). A module of its own so that node:child_process (~3 ms to load) is loaded only then:
// masq.ts imports it on demand.
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
