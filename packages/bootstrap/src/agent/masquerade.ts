// Egress NAT for the pods, in an nftables table of netboot's own (`inet netboot`), replaced whole in
// one `nft -f` transaction (the table is created empty, deleted, and written again, all in one
// commit, so there is never a moment without rules and never a stale rule). Pod traffic is
// masqueraded only when it leaves the cluster: never to a pod CIDR of the cluster (pod to pod keeps its
// source address) and never to a node of the cluster (pod to node, e.g. a kubelet's probes).
import { execFileSync, spawn } from 'node:child_process';
import { NetbootError } from '@netboot/core/errors';

const TABLE = 'netboot';

export interface EgressRules {
  /** Pod CIDRs whose traffic is masqueraded when it leaves the cluster (pools with natOutgoing). */
  natFrom: readonly string[];
  /** Destinations that are never masqueraded: every pod CIDR of the cluster. */
  clusterCIDRs: readonly string[];
  /** …and every node's addresses. */
  nodeIPs: readonly string[];
}

const v6 = (s: string) => s.includes(':');

const REMOVE = `table inet ${TABLE} {}\ndelete table inet ${TABLE}\n`;

/**
 * The `nft -f` script that replaces the table with these rules (pure; what `nft list table inet netboot`
 * shows after). Nothing to masquerade (no pool has natOutgoing): the table goes.
 */
export function egressScript(r: EgressRules): string {
  if (r.natFrom.length === 0) return REMOVE;
  const lines = [`table inet ${TABLE} {}`, `delete table inet ${TABLE}`, `table inet ${TABLE} {`];
  for (const [fam, type] of [
    ['4', 'ipv4_addr'],
    ['6', 'ipv6_addr'],
  ] as const) {
    const pick = (xs: readonly string[]) => [...new Set(xs.filter((x) => v6(x) === (fam === '6')))].sort();
    const from = pick(r.natFrom);
    if (from.length === 0) continue;
    const cluster = pick([...r.clusterCIDRs, ...r.nodeIPs]);
    lines.push(`  set nat-from${fam} { type ${type}; flags interval; elements = { ${from.join(', ')} } }`);
    if (cluster.length > 0) lines.push(`  set cluster${fam} { type ${type}; flags interval; auto-merge; elements = { ${cluster.join(', ')} } }`);
  }
  lines.push('  chain postrouting {', '    type nat hook postrouting priority srcnat; policy accept;');
  for (const [family, fam] of [
    ['ip', '4'],
    ['ip6', '6'],
  ] as const) {
    if (!r.natFrom.some((x) => v6(x) === (fam === '6'))) continue;
    if ([...r.clusterCIDRs, ...r.nodeIPs].some((x) => v6(x) === (fam === '6')))
      lines.push(`    ${family} saddr @nat-from${fam} ${family} daddr @cluster${fam} return`);
    lines.push(`    ${family} saddr @nat-from${fam} masquerade`);
  }
  lines.push('  }', '}');
  return `${lines.join('\n')}\n`;
}

/** The IP families ('4', '6') egressScript(r) masquerades, and those of them it made a `cluster` set for. */
export function egressFamilies(r: EgressRules): { nat: Set<string>; sets: Set<string> } {
  const fam = (x: string) => (v6(x) ? '6' : '4');
  const nat = new Set(r.natFrom.map(fam));
  const exempt = new Set([...r.clusterCIDRs, ...r.nodeIPs].map(fam));
  return { nat, sets: new Set([...nat].filter((f) => exempt.has(f))) };
}

/**
 * The `nft -f` script that adds node IPs to the `cluster` sets a full script made (`nft add element
 * inet netboot cluster4 { … }`): a new peer costs a few bytes for nft instead of the whole table again,
 * and the agent no sort of thousands of addresses. Every IP's set must exist (see egressFamilies).
 */
export function egressAddScript(nodeIPs: readonly string[]): string {
  let out = '';
  for (const fam of ['4', '6']) {
    const ips = nodeIPs.filter((x) => v6(x) === (fam === '6'));
    if (ips.length > 0) out += `add element inet ${TABLE} cluster${fam} { ${ips.join(', ')} }\n`;
  }
  return out;
}

/** nft refused a script (or could not be run); the message is nft's. */
class NftError extends NetbootError {
  readonly kind = 'internal' as const;
}

/**
 * Applies `script` (egressScript's) atomically, `nft -f -` in a child the caller does not wait on: with
 * thousands of node IPs nft takes ~40 ms of CPU, which run in-process (execFileSync) stalled every peer
 * event behind it (bench/agent: peer→route p99). Rejects with nft's message when it refuses.
 */
export function applyEgress(script: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const nft = spawn('nft', ['-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    const stderr: Buffer[] = [];
    nft.stderr.on('data', (b: Buffer) => stderr.push(b));
    nft.on('error', (e) => reject(new NftError(`nft: ${e.message}`)));
    nft.on('close', (code) => (code === 0 ? resolve() : reject(new NftError(Buffer.concat(stderr).toString().trim() || `nft -f exited ${code}`))));
    nft.stdin.on('error', () => undefined); // nft gone before reading it all: 'close' says why
    nft.stdin.end(script);
  });
}

/** `nft delete table inet netboot`, if it exists. */
export function removeEgress(): void {
  execFileSync('nft', ['-f', '-'], { input: REMOVE, stdio: ['pipe', 'ignore', 'pipe'] });
}
