// LocalIpam: host-local's allocation semantics, checked on the files it leaves on disk.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IpInUseError, RangeExhaustedError } from '../src/allocator.js';
import { LocalIpam, NodeRangeExhaustedError } from '../src/local.js';
import type { RangeSpec } from '../src/allocator.js';
import { FileStore } from '../src/store/file.js';
import { CorruptEntryError } from '../src/records.js';
import { InvalidArgumentError } from '../src/validate.js';
import { rejectsA, withTempDir } from '@netboot/core/testing/pure';
import { readReservations } from './store-fixtures.js';

function open(data: string, ranges: RangeSpec[][]) {
  return { ipam: new LocalIpam(new FileStore(data, 'net'), ranges, { node: 'node-a' }), dir: join(data, 'net') };
}
const ips = (allocations: { ip: string }[]) => allocations.map((a) => a.ip);

test('first pod gets .2 (network and gateway skipped) with the gateway and prefix for the CNI result', () =>
  withTempDir(async (data) => {
    const { ipam, dir } = open(data, [[{ subnet: '10.244.1.0/24' }]]);
    assert.equal(await ipam.allocate({ containerId: 'c1', ifname: 'eth0' }), [
      { ip: '10.244.1.2', containerId: 'c1', ifname: 'eth0', subnet: '10.244.1.0/24', prefixLen: 24, gateway: '10.244.1.1' },
    ]);
    assert.equal(readFileSync(join(dir, '10.244.1.2'), 'utf8'), 'c1\r\neth0');
  }));

test('round-robin from last_reserved_ip: a released address is not handed out again at once', () =>
  withTempDir(async (data) => {
    const { ipam } = open(data, [[{ subnet: '10.0.0.0/24' }]]);
    const a = ips(await ipam.allocate({ containerId: 'a', ifname: 'eth0' }));
    const b = ips(await ipam.allocate({ containerId: 'b', ifname: 'eth0' }));
    await ipam.release({ containerId: 'a', ifname: 'eth0' });
    const c = ips(await ipam.allocate({ containerId: 'c', ifname: 'eth0' }));
    assert.equal([a, b, c], [['10.0.0.2'], ['10.0.0.3'], ['10.0.0.4']]);
  }));

test('continues after a last_reserved_ip written by another process; wraps around at rangeEnd', () =>
  withTempDir(async (data) => {
    const { ipam, dir } = open(data, [[{ subnet: '10.0.0.0/24', rangeStart: '10.0.0.10', rangeEnd: '10.0.0.12' }]]);
    assert.equal(ips(await ipam.allocate({ containerId: 'a', ifname: 'eth0' })), ['10.0.0.10']);
    // As host-local reserves: its IP file first (which moves the directory's stamp), then the cursor in place.
    writeFileSync(join(dir, '10.0.0.11'), 'other\r\neth0');
    writeFileSync(join(dir, 'last_reserved_ip.0'), '10.0.0.11');
    assert.equal(ips(await ipam.allocate({ containerId: 'b', ifname: 'eth0' })), ['10.0.0.12']);
    rmSync(join(dir, '10.0.0.11')); // host-local's DEL
    assert.equal(ips(await ipam.allocate({ containerId: 'c', ifname: 'eth0' })), ['10.0.0.11'], 'wrapped to rangeStart, .10 taken');
  }));

test('the same (containerId, ifname) gets the same IP back; another ifname gets another', () =>
  withTempDir(async (data) => {
    const { ipam, dir } = open(data, [[{ subnet: '10.0.0.0/24' }]]);
    const first = await ipam.allocate({ containerId: 'c1', ifname: 'eth0' });
    assert.equal(await ipam.allocate({ containerId: 'c1', ifname: 'eth0' }), first);
    assert.equal(ips(await ipam.allocate({ containerId: 'c1', ifname: 'net1' })), ['10.0.0.3']);
    assert.equal(readReservations(dir).size, 2);
  }));

test('dual stack: one IP per range set, IPv6 files named canonically', () =>
  withTempDir(async (data) => {
    const { ipam, dir } = open(data, [[{ subnet: '10.0.0.0/24' }], [{ subnet: 'fd00:10::/64', rangeStart: 'fd00:10::a' }]]);
    const got = await ipam.allocate({ containerId: 'c1', ifname: 'eth0' });
    assert.equal(
      got.map((g) => [g.ip, g.gateway, g.subnet]),
      [
        ['10.0.0.2', '10.0.0.1', '10.0.0.0/24'],
        ['fd00:10::a', 'fd00:10::1', 'fd00:10::/64'],
      ],
    );
    assert.equal([...readReservations(dir).keys()], ['10.0.0.2', 'fd00:10::a']);
    assert.equal(readFileSync(join(dir, 'last_reserved_ip.1'), 'utf8'), 'fd00:10::a');
    assert.equal((await ipam.release({ containerId: 'c1', ifname: 'eth0' })).released.length, 2);
    assert.equal(readReservations(dir).size, 0);
  }));

test('static IP requests: honoured, refused for the gateway, a taken address or an address outside the ranges', () =>
  withTempDir(async (data) => {
    const { ipam, dir } = open(data, [[{ subnet: '10.0.0.0/24' }]]);
    assert.equal(ips(await ipam.allocate({ containerId: 's', ifname: 'eth0' }, { ips: ['10.0.0.50'] })), ['10.0.0.50']);
    assert.equal(readFileSync(join(dir, 'last_reserved_ip.0'), 'utf8'), '10.0.0.50', 'round-robin continues after it, like host-local');
    await rejectsA(ipam.allocate({ containerId: 't', ifname: 'eth0' }, { ips: ['10.0.0.1'] }), InvalidArgumentError);
    await rejectsA(ipam.allocate({ containerId: 't', ifname: 'eth0' }, { ips: ['10.0.0.50'] }), IpInUseError);
    await rejectsA(ipam.allocate({ containerId: 't', ifname: 'eth0' }, { ips: ['10.9.0.5'] }), InvalidArgumentError);
    assert.equal([...readReservations(dir).keys()], ['10.0.0.50']);
  }));

test('exhaustion names the range and the node and writes nothing; a failure in set 1 rolls back set 0', () =>
  withTempDir(async (data) => {
    const { ipam, dir } = open(data, [[{ subnet: '10.0.0.0/29' }], [{ subnet: '10.1.0.0/30' }]]);
    await ipam.allocate({ containerId: 'a', ifname: 'eth0' }); // /30 has .1 (gateway) and .2: now full
    const before = [...readReservations(dir).keys()];
    const err = await ipam.allocate({ containerId: 'b', ifname: 'eth0' }).catch((e: unknown) => e);
    assert.instance(err, NodeRangeExhaustedError);
    assert.instance(err, RangeExhaustedError);
    assert.is((err as Error).name, 'NodeRangeExhaustedError', 'NetbootError names it after its class');
    assert.match((err as Error).message, '10.1.0.0/30');
    assert.match((err as Error).message, 'node-a');
    assert.equal([...readReservations(dir).keys()], before, 'the address taken from set 0 was given back');
  }));

test('release of an unknown attachment releases nothing and is not an error; releaseIp leaves a corrupt file to a human', () =>
  withTempDir(async (data) => {
    const { ipam, dir } = open(data, [[{ subnet: '10.0.0.0/24' }]]);
    assert.equal(await ipam.release({ containerId: 'nobody', ifname: 'eth0' }), { released: [], skipped: [] });
    await ipam.allocate({ containerId: 'a', ifname: 'eth0' });
    writeFileSync(join(dir, '10.0.0.9'), '');
    await rejectsA(ipam.releaseIp('10.0.0.9'), CorruptEntryError, /10\.0\.0\.9/); // as ClusterIpam refuses a corrupt block
    assert.equal([...readReservations(dir).keys()], ['10.0.0.2', '10.0.0.9']);
    assert.is(await ipam.releaseIp('10.0.0.8'), undefined);
  }));

test('gc(valid) releases exactly the reservations the runtime no longer lists', () =>
  withTempDir(async (data) => {
    const { ipam, dir } = open(data, [[{ subnet: '10.0.0.0/24' }]]);
    for (const id of ['a', 'b', 'c']) await ipam.allocate({ containerId: id, ifname: 'eth0' });
    writeFileSync(join(dir, '10.0.0.100'), 'old'); // host-local's one-line format: valid if its ID is
    const result = await ipam.gc([
      { containerId: 'b', ifname: 'eth0' },
      { containerId: 'old', ifname: 'eth0' },
    ]);
    assert.equal(
      result.released.map((r) => [r.ip, r.containerId]),
      [
        ['10.0.0.2', 'a'],
        ['10.0.0.4', 'c'],
      ],
    );
    assert.equal([...readReservations(dir).keys()], ['10.0.0.100', '10.0.0.3']);
    writeFileSync(join(dir, '10.0.0.77'), '');
    assert.equal(
      (await ipam.gc([])).skipped.map((p) => [p.kind, p.ip, p.node]),
      [['corrupt-entry', '10.0.0.77', 'node-a']],
      'a corrupt file is left and reported',
    );
    await rejectsA(ipam.gc([{ containerId: '../x', ifname: 'eth0' }]), InvalidArgumentError);
    assert.equal(readReservations(dir).size, 1, 'bad input changed nothing');
  }));

test('check reports reservations outside the ranges, corrupt files and attachments the runtime does not know', () =>
  withTempDir(async (data) => {
    const { ipam, dir } = open(data, [[{ subnet: '10.0.0.0/24' }]]);
    await ipam.allocate({ containerId: 'live', ifname: 'eth0' });
    await ipam.allocate({ containerId: 'dead', ifname: 'eth0' });
    writeFileSync(join(dir, '10.5.0.9'), 'stray\r\neth0');
    writeFileSync(join(dir, '10.0.0.1'), 'gw\r\neth0');
    writeFileSync(join(dir, '10.0.0.77'), '');
    const { problems } = await ipam.check({
      valid: [
        { containerId: 'live', ifname: 'eth0' },
        { containerId: 'stray', ifname: 'eth0' },
        { containerId: 'gw', ifname: 'eth0' },
      ],
    });
    const seen = problems.map((p) => `${p.kind} ${p.ip}`).sort();
    assert.equal(seen, ['corrupt-entry 10.0.0.77', 'invalid-attachment 10.0.0.3', 'outside-pools 10.0.0.1', 'outside-pools 10.5.0.9']);
    assert.ok(problems.every((p) => p.node === 'node-a' && p.detail.length > 0));
    assert.equal((await ipam.check()).problems.length, 3, 'without a valid list, attachments are not judged');
  }));

test('releaseReport frees what check reported, only while the same holder has it; corrupt files are skipped', () =>
  withTempDir(async (data) => {
    const { ipam, dir } = open(data, [[{ subnet: '10.0.0.0/24' }]]);
    await ipam.allocate({ containerId: 'live', ifname: 'eth0' });
    await ipam.allocate({ containerId: 'dead', ifname: 'eth0' }); // 10.0.0.3
    await ipam.allocate({ containerId: 'gone', ifname: 'eth0' }); // 10.0.0.4
    writeFileSync(join(dir, '10.5.0.9'), 'stray\r\neth0');
    writeFileSync(join(dir, '10.0.0.77'), '');
    const report = await ipam.check({
      valid: [
        { containerId: 'live', ifname: 'eth0' },
        { containerId: 'stray', ifname: 'eth0' },
      ],
    });
    // Between check and release, 'gone' leaves and a new pod gets its address: the report is stale for it.
    await ipam.release({ containerId: 'gone', ifname: 'eth0' });
    writeFileSync(join(dir, '10.0.0.4'), 'newer\r\neth0');
    const elsewhere = { kind: 'invalid-attachment' as const, ip: '10.0.0.2', node: 'node-b', containerId: 'live', ifname: 'eth0', detail: 'from another node' };
    const { released, skipped } = await ipam.releaseReport({ problems: [...report.problems, elsewhere] });
    assert.equal(
      released.map((r) => [r.ip, r.containerId]),
      [
        ['10.0.0.3', 'dead'],
        ['10.5.0.9', 'stray'],
      ],
    );
    assert.equal(
      skipped.map((p) => `${p.kind} ${p.ip}`),
      ['corrupt-entry 10.0.0.77', 'invalid-attachment 10.0.0.2'],
    );
    assert.equal([...readReservations(dir).keys()], ['10.0.0.2', '10.0.0.4', '10.0.0.77']);
    assert.is(readFileSync(join(dir, '10.0.0.4'), 'utf8'), 'newer\r\neth0', 'a reused address is left alone');
    assert.equal(
      (
        await ipam.check({
          valid: [
            { containerId: 'live', ifname: 'eth0' },
            { containerId: 'newer', ifname: 'eth0' },
          ],
        })
      ).problems.map((p) => p.kind),
      ['corrupt-entry'],
    );
  }));

test('usage counts usable addresses (gateway excluded) per range set', () =>
  withTempDir(async (data) => {
    const { ipam } = open(data, [[{ subnet: '10.0.0.0/24' }]]);
    await ipam.allocate({ containerId: 'a', ifname: 'eth0' });
    await ipam.allocate({ containerId: 'b', ifname: 'eth0' });
    const { pools } = await ipam.usage();
    assert.equal(
      pools.map((p) => [p.cidr, p.size, p.allocated, p.free]),
      [['10.0.0.0/24', 253, 2, 251]],
    );
  }));

test('bad ranges are refused at construction: overlapping sets, a start outside the subnet', () =>
  withTempDir(async (data) => {
    const store = new FileStore(data, 'net');
    assert.throws(() => new LocalIpam(store, [[{ subnet: '10.0.0.0/24' }], [{ subnet: '10.0.0.0/16' }]]), /overlap/);
    assert.throws(() => new LocalIpam(store, [[{ subnet: '10.0.0.0/24', rangeStart: '10.0.1.1' }]]), /rangeStart/);
    assert.throws(() => new LocalIpam(store, []), /range set/);
  }));

test.run();
