// The lock file's index as text: what a reader accepts. It must refuse anything a killed writer can
// leave (a block cut anywhere, a cut block followed by the next holder's block) rather than half-read
// it, and anything ending at another stamp than the directory's.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeIndex, encodeBlock, encodeSnapshot, FORGET_LAST, goneRecord, holdRecord, type IndexState, lastRecord } from '../src/store/file-index.js';

const state = (): IndexState => ({
  byIp: new Map([
    ['10.0.0.2', { ip: '10.0.0.2', containerId: 'a', ifname: 'eth0' }],
    ['fd00::3', { ip: 'fd00::3', containerId: 'old', ifname: undefined }],
  ]),
  corrupt: new Map([['10.0.0.4', { ip: '10.0.0.4', detail: 'invalid containerId "bad/id": must…\n' }]]),
  lastReserved: new Map<number, string | undefined>([
    [0, '10.0.0.2'],
    [1, undefined],
  ]),
});

test('a snapshot and appended blocks replay to the state they describe', () => {
  const text =
    encodeSnapshot(state(), '1:2:3') +
    encodeBlock([goneRecord('10.0.0.2'), holdRecord({ ip: '10.0.0.5', containerId: 'b', ifname: 'net1' }), FORGET_LAST, lastRecord(1, 'fd00::3')], '1:4:5');
  const decoded = decodeIndex(text, '1:4:5');
  assert.ok(decoded);
  assert.equal(
    [...decoded.state.byIp.values()],
    [
      { ip: 'fd00::3', containerId: 'old', ifname: undefined },
      { ip: '10.0.0.5', containerId: 'b', ifname: 'net1' },
    ],
  );
  assert.equal([...decoded.state.corrupt.values()], [...state().corrupt.values()]);
  assert.equal([...decoded.state.lastReserved], [[1, 'fd00::3']]);
  assert.is(decoded.records, 9);
  assert.is(decodeIndex(text, '1:2:3'), undefined, 'it describes the directory only at its last stamp');
  assert.is(decodeIndex(encodeBlock([], '1:2:3'), '1:2:3'), undefined, 'no header: not an index (an empty lock file)');
  assert.is(decodeIndex('', '1:2:3'), undefined);
});

test('a block cut at any byte is refused, alone or followed by the next holder’s block', () => {
  const whole = encodeSnapshot(state(), '1:2:3');
  const next = encodeBlock([holdRecord({ ip: '10.0.0.6', containerId: 'c', ifname: 'eth0' })], '1:2:3');
  const cut = encodeBlock([holdRecord({ ip: '10.0.0.7', containerId: 'killed-writer', ifname: 'eth0' }), goneRecord('fd00::3')], '1:2:3');
  assert.ok(decodeIndex(whole + cut, '1:2:3'));
  for (let n = 1; n < cut.length; n++) {
    const torn = whole + cut.slice(0, n);
    // Only the separating empty line written: the text is the whole one it was.
    if (n > 1) assert.is(decodeIndex(torn, '1:2:3'), undefined, `cut after ${n} bytes: ${JSON.stringify(cut.slice(0, n))}`);
    const merged = decodeIndex(torn + next, '1:2:3');
    if (merged === undefined) continue;
    // Accepted only with nothing of the cut block, or all of it up to its end line: nothing half-read.
    assert.ok(n === 1 || cut.slice(0, n).includes('\n@'), `cut after ${n} bytes was read: ${JSON.stringify(cut.slice(0, n))}`);
    assert.is(merged.state.byIp.has('fd00::3'), n === 1);
  }
});

test('foreign text and malformed records are refused', () => {
  const ok = (records: string[]) => decodeIndex(`netboot ipam index 1${encodeBlock(records, 's')}`, 's');
  assert.ok(ok([holdRecord({ ip: '10.0.0.2', containerId: 'a', ifname: 'eth0' })]));
  for (const bad of [
    '+10.0.0.02 a eth0',
    '+lock a eth0',
    '+10.0.0.2 a/b eth0',
    '+10.0.0.2 a eth/0',
    '+10.0.0.2 a eth0 x',
    '!10.0.0.2 notjson',
    '-x',
    '=01 10.0.0.2',
    '=0 nope',
    '?',
    ' ',
  ]) {
    assert.is(ok([bad]), undefined, bad);
  }
});

test.run();
