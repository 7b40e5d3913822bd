// Interop with the reference host-local plugin (/usr/lib/cni/host-local) on the same directory, both
// ways: its reservations are ours to see and release, ours are skipped and released by it, and the two
// exclude each other through the same flock.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LocalIpam } from '../src/local.js';
import { FileStore } from '../src/store/file.js';
import { withTempDir } from '@netboot/core/testing/pure';
import { HOST_LOCAL, hostLocal, readReservations } from './store-fixtures.js';

const NETWORK = 'interop';
const RANGES = [[{ subnet: '10.50.0.0/24' }], [{ subnet: 'fd00:50::/120' }]];
const eth0 = (containerId: string) => ({ containerId, ifname: 'eth0' });

const skip = !existsSync(HOST_LOCAL);
if (skip) console.log(`  skipping: ${HOST_LOCAL} not found (apt install containernetworking-plugins)`);
const run = skip ? test.skip : test;

function hostLocalAdd(dataDir: string, containerId: string): string[] {
  const r = hostLocal({ command: 'ADD', dataDir, network: NETWORK, ranges: RANGES, containerId });
  assert.ok(r.ok, `host-local ADD ${containerId} failed: ${JSON.stringify(r.result)} ${r.stderr}`);
  return (r.result.ips as { address: string }[]).map((i) => i.address.split('/')[0]!);
}

run('reservations written by host-local are seen, reused for the same attachment and released by LocalIpam', () =>
  withTempDir(async (data) => {
    assert.equal(hostLocalAdd(data, 'hl-1'), ['10.50.0.2', 'fd00:50::2']);
    assert.equal(hostLocalAdd(data, 'hl-2'), ['10.50.0.3', 'fd00:50::3']);
    const ipam = new LocalIpam(new FileStore(data, NETWORK), RANGES, { node: 'n' });

    assert.equal(
      (await ipam.allocate({ containerId: 'hl-1', ifname: 'eth0' })).map((a) => a.ip),
      ['10.50.0.2', 'fd00:50::2'],
      'same attachment, same IPs',
    );
    assert.equal(
      (await ipam.allocate({ containerId: 'nb-1', ifname: 'eth0' })).map((a) => a.ip),
      ['10.50.0.4', 'fd00:50::4'],
      'round-robin continues after host-local',
    );
    assert.equal(
      (await ipam.usage()).pools.map((p) => p.allocated),
      [3, 3],
    );
    assert.equal((await ipam.check()).problems, []);

    assert.equal((await ipam.release({ containerId: 'hl-2', ifname: 'eth0' })).released.map((r) => r.ip).sort(), ['10.50.0.3', 'fd00:50::3']);
    assert.equal([...readReservations(join(data, NETWORK)).keys()], ['10.50.0.2', '10.50.0.4', 'fd00:50::2', 'fd00:50::4']);
  }),
);

run('reservations written by LocalIpam are skipped by host-local, and host-local DEL releases them', () =>
  withTempDir(async (data) => {
    const ipam = new LocalIpam(new FileStore(data, NETWORK), RANGES, { node: 'n' });
    await ipam.allocate({ containerId: 'nb-1', ifname: 'eth0' });
    await ipam.allocate({ containerId: 'nb-2', ifname: 'eth0' }, { ips: ['10.50.0.4'] }); // host-local continues after .4 now
    assert.equal(hostLocalAdd(data, 'hl-1'), ['10.50.0.5', 'fd00:50::4']);
    // Refuses a duplicate for our attachment: it recognises our file as that container's reservation.
    assert.not.ok(hostLocal({ command: 'ADD', dataDir: data, network: NETWORK, ranges: RANGES, containerId: 'nb-1' }).ok);

    assert.ok(hostLocal({ command: 'DEL', dataDir: data, network: NETWORK, ranges: RANGES, containerId: 'nb-1' }).ok);
    const dir = join(data, NETWORK);
    assert.equal([...readReservations(dir).keys()], ['10.50.0.4', '10.50.0.5', 'fd00:50::3', 'fd00:50::4']);
    assert.is(readFileSync(join(dir, '10.50.0.5'), 'utf8'), 'hl-1\r\neth0');
    // And LocalIpam sees host-local's DEL: the next pod can have .2 once the cursor wraps; the bitmap knows it is free.
    assert.equal(
      (await ipam.usage()).pools.map((p) => p.allocated),
      [2, 2],
    );
  }),
);

run('the lock file LocalIpam creates is the one host-local creates (same name, same mode)', () =>
  withTempDir(async (data) => {
    hostLocalAdd(join(data, 'theirs'), 'hl-1');
    await new LocalIpam(new FileStore(join(data, 'ours'), NETWORK), RANGES, { node: 'n' }).allocate({ containerId: 'nb-1', ifname: 'eth0' });
    const mode = (dir: string) => statSync(join(data, dir, NETWORK, 'lock')).mode.toString(8);
    assert.is(mode('ours'), mode('theirs'));
  }),
);

run('host-local waits while LocalIpam holds the lock (the same flock on <dir>/lock)', () =>
  withTempDir(async (data) => {
    const store = new FileStore(data, NETWORK);
    const conf = JSON.stringify({ cniVersion: '1.0.0', name: NETWORK, type: 'bridge', ipam: { type: 'host-local', dataDir: data, ranges: RANGES } });
    let exited = false;
    await store.withLock(async () => {
      const child = spawn(HOST_LOCAL, [], {
        env: { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'hl-wait', CNI_NETNS: '/dev/null', CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' },
        stdio: ['pipe', 'ignore', 'ignore'],
      });
      child.stdin.end(conf);
      child.on('exit', () => (exited = true));
      await new Promise((r) => setTimeout(r, 400)); // host-local alone needs ~3 ms
      assert.not.ok(exited, 'host-local finished while we held the lock');
      assert.not.ok(existsSync(join(data, NETWORK, '10.50.0.2')));
    });
    // Released: host-local gets through.
    const deadline = Date.now() + 5000;
    while (!exited && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.ok(exited, 'host-local never got the lock');
    assert.is(readFileSync(join(data, NETWORK, '10.50.0.2'), 'utf8'), 'hl-wait\r\neth0');
  }),
);

run("a reservation file is the attachment's exactly when host-local says so (it trims the content first)", () =>
  withTempDir(async (data) => {
    const v4 = [[{ subnet: '10.50.0.0/24' }]];
    // What an editor, `echo`, or another tool may leave; host-local compares strings.TrimSpace(content).
    const contents = [
      'x\r\neth0',
      'x\r\neth0\n',
      'x\r\neth0\r\n',
      ' x\r\neth0',
      '\tx\r\neth0 ',
      'x\r\neth0\u0085',
      'x\r\n',
      'x',
      'x\n',
      'x \r\neth0',
      'x\r\n eth0',
      'x\r\neth0\ufeff',
      'x\neth0',
    ];
    for (const [i, content] of contents.entries()) {
      const dataDir = join(data, `case${i}`);
      mkdirSync(join(dataDir, NETWORK), { recursive: true });
      writeFileSync(join(dataDir, NETWORK, '10.50.0.2'), content);
      // host-local refuses a second IP for an attachment that already holds one: that is its verdict.
      const r = hostLocal({ command: 'ADD', dataDir, network: NETWORK, ranges: v4, containerId: 'x' });
      const theirs = !r.ok && /has been allocated to x/.test(JSON.stringify(r.result));
      assert.ok(theirs || r.ok, `host-local failed otherwise: ${JSON.stringify(r.result)}`);
      if (r.ok) hostLocal({ command: 'DEL', dataDir, network: NETWORK, ranges: v4, containerId: 'x' });

      // LocalIpam.allocate and release ask the store exactly this.
      const store = new FileStore(dataDir, NETWORK);
      const what = `${JSON.stringify(content)} (host-local: ${theirs ? '' : 'not '}x's lease)`;
      await store.withLock(() => {
        assert.equal(store.getById(eth0('x')), theirs ? ['10.50.0.2'] : [], what);
        assert.equal(
          store.releaseById(eth0('x')).map((e) => e.ip),
          theirs ? ['10.50.0.2'] : [],
          what,
        );
      });
      assert.is(existsSync(join(dataDir, NETWORK, '10.50.0.2')), !theirs, `${what}: file after release`);
    }
  }),
);

test.run();
