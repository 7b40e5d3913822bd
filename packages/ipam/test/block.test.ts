// The pure block operations (block.ts), tested without any store: what ClusterIpam's reader/writer
// applies between reading a block and writing it back.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { throwsA } from '@netboot/core/testing/pure';
import { IpInUseError } from '../src/allocator.js';
import { assign, BlockAffinityError, blockFree, blockHolder, blockOf, blockReservations, chooseNewBlock, newBlock, unassign } from '../src/block.js';
import { Cidr } from '../src/cidr.js';
import { definePool } from '../src/pool.js';
import { InvalidArgumentError } from '../src/validate.js';

const pod = (n: number) => ({ containerId: `c${n}`, ifname: 'eth0' });

test('assign hands out addresses round-robin after the cursor, never network, gateway or broadcast; unassign frees them', () => {
  let block = newBlock(Cidr.parse('10.0.0.0/29'), 'p', 'n1'); // .2–.6 usable
  const ips: string[] = [];
  for (let i = 0; i < 5; i++) {
    const r = assign(block, pod(i), 'n1', { strictAffinity: true });
    assert.equal([r.reservation.containerId, r.reservation.node, r.reservation.block, r.reservation.pool], [`c${i}`, 'n1', '10.0.0.0/29', 'p']);
    ips.push(r.reservation.ip);
    block = r.block;
  }
  assert.equal(ips, ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
  assert.is(blockFree(block), 0n);
  throwsA(() => assign(block, pod(9), 'n1', { strictAffinity: true }), Error, /no free address/);
  block = unassign(block, ['10.0.0.3', '10.9.9.9']);
  assert.equal(
    blockReservations(block).map((r) => r.ip),
    ['10.0.0.2', '10.0.0.4', '10.0.0.5', '10.0.0.6'],
  );
  assert.is(blockHolder(block, '10.0.0.3'), undefined);
  assert.is(blockHolder(block, '10.0.0.4')?.containerId, 'c2');
  assert.is(assign(block, pod(9), 'n1', { strictAffinity: true }).reservation.ip, '10.0.0.3');
});

test("a requested address: taken or the gateway is refused; another node's block is borrowing, refused under strict affinity", () => {
  const block = assign(newBlock(Cidr.parse('10.0.0.0/29'), 'p', 'n1'), pod(1), 'n1', { ip: '10.0.0.5', strictAffinity: true }).block;
  throwsA(() => assign(block, pod(2), 'n1', { ip: '10.0.0.5', strictAffinity: true }), IpInUseError);
  throwsA(() => assign(block, pod(2), 'n1', { ip: '10.0.0.1', strictAffinity: true }), InvalidArgumentError, /gateway/);
  const err = throwsA(() => assign(block, pod(2), 'n2', { ip: '10.0.0.6', strictAffinity: true }), BlockAffinityError);
  assert.equal([err.kind, err.owner, err.node], ['conflict', 'n1', 'n2']);
  const borrowed = assign(block, pod(2), 'n2', { strictAffinity: false });
  assert.equal([borrowed.reservation.ip, borrowed.reservation.node], ['10.0.0.6', 'n2']);
  assert.is(blockHolder(borrowed.block, '10.0.0.6')?.node, 'n2', 'the borrower is recorded');
});

test("chooseNewBlock: stable per node, skips claimed blocks, stops at maxBlocksPerNode; blockOf finds an address's block", () => {
  const pool = definePool({ name: 'p', cidr: '10.244.0.0/16', maxBlocksPerNode: 2 });
  const first = chooseNewBlock(pool, 'node-7', [], new Set())!;
  assert.equal(chooseNewBlock(pool, 'node-7', [], new Set()), first, 'the same node gets the same slot');
  const second = chooseNewBlock(pool, 'node-7', [first], new Set([first.cidr]))!;
  assert.is.not(second.cidr, first.cidr);
  assert.is(chooseNewBlock(pool, 'node-7', [first, second], new Set([first.cidr, second.cidr])), undefined, 'at maxBlocksPerNode');
  const tiny = definePool({ name: 't', cidr: '10.0.0.0/28', blockSize: 29 });
  assert.is(chooseNewBlock(tiny, 'n', [], new Set(['10.0.0.0/29', '10.0.0.8/29'])), undefined, 'a full pool');
  assert.is(blockOf(pool, '10.244.77.10').toString(), '10.244.77.0/24');
});

test('allocations stay in offset order, also for IPv6 offsets past 2^32 that objects keep in insertion order', () => {
  let block = newBlock(Cidr.parse('fd00::/64'), 'p', 'n1');
  for (const [n, ip] of [
    [1, 'fd00::1:0:0:9'],
    [2, 'fd00::5'],
    [3, 'fd00::1:0:0:7'],
  ] as const) {
    block = assign(block, pod(n), 'n1', { ip, strictAffinity: true }).block;
  }
  assert.equal(
    blockReservations(block).map((r) => r.ip),
    ['fd00::5', 'fd00::1:0:0:7', 'fd00::1:0:0:9'],
  );
  assert.is(block.cursor, Cidr.parse('fd00::/64').offsetOf('fd00::1:0:0:7').toString(), 'the cursor follows the last address taken');
  assert.is(assign(block, pod(4), 'n1', { strictAffinity: true }).reservation.ip, 'fd00::1:0:0:8', 'round-robin continues after it');
});

test.run();
