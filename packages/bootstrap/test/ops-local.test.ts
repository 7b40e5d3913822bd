// `netboot ipam …` on one node's host-local directory (the file and Kubernetes datastores' case): real
// reservation files written by LocalIpam, and libcni's cache saying which pods live (one whose
// namespace is gone, one no runtime knows), run as the CLI.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { withTempDir } from '@netboot/core/testing';
import { FileStore, LocalIpam } from '@netboot/ipam/file';
import { netboot } from './ops-fixture.js';

/** A libcni cache entry as containerd writes it after ADD. */
function cacheEntry(dir: string, containerId: string, netns: string): void {
  mkdirSync(join(dir, 'results'), { recursive: true });
  const entry = { kind: 'cniCacheV1', containerId, ifName: 'eth0', networkName: 'netboot', netns, config: 'e30=' };
  writeFileSync(join(dir, 'results', `netboot-${containerId}-eth0`), JSON.stringify(entry));
}

test('show, check (leaks: namespace gone, unknown to the runtime), release --from-report refusing a reused address, gc', async () => {
  await withTempDir(async (dir) => {
    const dataDir = join(dir, 'networks', 'netboot');
    const cache = join(dir, 'cache');
    const lease = join(dir, 'subnet.json');
    writeFileSync(lease, JSON.stringify({ subnets: ['10.244.1.0/24'], mtu: 1450 }));
    const ipam = new LocalIpam(new FileStore(join(dir, 'networks'), 'netboot'), [[{ subnet: '10.244.1.0/24' }]], { node: 'node1' });
    const [live] = await ipam.allocate({ containerId: 'live1', ifname: 'eth0' });
    const [dead] = await ipam.allocate({ containerId: 'dead1', ifname: 'eth0' });
    const [unknown] = await ipam.allocate({ containerId: 'gone1', ifname: 'eth0' });
    cacheEntry(cache, 'live1', dir); // its namespace (any existing path) is there
    cacheEntry(cache, 'dead1', join(dir, 'no-such-netns'));
    const L = ['--data-dir', dataDir, '--lease-file', lease, '--cache-dir', cache, '--node', 'node1'];

    const who = await netboot('ipam', 'show', '--ip', live!.ip, ...L);
    assert.is(who.code, 0, who.stderr);
    assert.match(who.stdout, new RegExp(`${live!.ip.replace(/\./g, '\\.')} is held by container live1 interface eth0 \\(node node1\\)`));
    assert.match((await netboot('ipam', 'show', ...L)).stdout, /range 10\.244\.1\.0\/24: 3 of 253 addresses in use, 250 free/);

    const check = await netboot('ipam', 'check', ...L, '--json');
    assert.is(check.code, 1);
    const report = check.json();
    assert.equal(
      report.problems.map((p: { kind: string; ip: string }) => [p.kind, p.ip]),
      [
        ['invalid-attachment', dead!.ip],
        ['invalid-attachment', unknown!.ip],
      ],
    );
    assert.is(report.store, `local ${dataDir}`);
    const file = join(dir, 'report.json');
    writeFileSync(file, check.stdout);
    // Between check and release, dead1's address was freed and handed to a new pod: the report is stale for it.
    await ipam.release({ containerId: 'dead1', ifname: 'eth0' });
    await ipam.allocate({ containerId: 'new1', ifname: 'eth0' }, { ips: [dead!.ip] });
    const rel = await netboot('ipam', 'release', '--from-report', file, ...L);
    assert.is(rel.code, 1, 'a stale entry is refused');
    assert.match(rel.stdout, new RegExp(`released ${unknown!.ip.replace(/\./g, '\\.')}  gone1/eth0  node node1`));
    assert.match(rel.stdout, new RegExp(`stale, not released: ${dead!.ip.replace(/\./g, '\\.')} is held by dead1/eth0`));
    assert.is((await ipam.holder(dead!.ip))?.containerId, 'new1', 'the new pod keeps its address');

    // gc: new1 has no cache entry (no runtime knows it), live1 stays.
    const dry = await netboot('ipam', 'gc', '--dry-run', ...L);
    assert.is(dry.code, 0);
    assert.match(dry.stdout, new RegExp(`would release: ${dead!.ip.replace(/\./g, '\\.')} is held by new1/eth0`));
    assert.is((await ipam.holder(dead!.ip))?.containerId, 'new1', 'a dry run changes nothing');
    const gc = await netboot('ipam', 'gc', ...L, '--json');
    assert.is(gc.code, 0, gc.stderr);
    assert.equal(
      gc.json().released.map((r: { containerId: string }) => r.containerId),
      ['new1'],
    );
    assert.equal(
      (await ipam.reservations()).map((r) => r.containerId),
      ['live1'],
    );

    // Without a cache gc cannot tell live pods from leaks, and refuses; --valid says which live.
    const blind = await netboot('ipam', 'gc', ...L, '--cache-dir', join(dir, 'none'));
    assert.is(blind.code, 1);
    assert.match(blind.stderr, /no libcni cache at .* pass --valid CONTAINER_ID\/IFNAME/);
    assert.is((await netboot('ipam', 'gc', ...L, '--cache-dir', join(dir, 'none'), '--valid', 'live1/eth0')).code, 0);
    assert.equal(
      (await ipam.reservations()).map((r) => r.containerId),
      ['live1'],
    );
    const missing = await netboot('ipam', 'show', '--data-dir', join(dir, 'nowhere'), '--subnet', '10.244.1.0/24');
    assert.is(missing.code, 1);
    assert.match(missing.stderr, /no node-local store at .*nowhere/);
  });
});

test.run();
