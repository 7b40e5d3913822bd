// Link specs refused before anything is sent: pure, over a RequestRecorder (the kernel side is in
// link.priv.test.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { InvalidAddressError } from '../src/base/ip.js';
import { InvalidLinkSpecError, LinkApi } from '../src/link.js';
import type { LinkSpec } from '../src/link.js';
import { RequestRecorder, throwsA } from '../src/public/testing.js';

test('invalid specs are rejected before anything is sent', () => {
  const recorder = new RequestRecorder();
  const link = new LinkApi(recorder);
  const bad: [string, () => unknown][] = [
    ['empty name', () => link.add({ kind: 'bridge', name: '' })],
    ['16 chars', () => link.add({ kind: 'bridge', name: 'x'.repeat(16) })],
    ['slash', () => link.add({ kind: 'bridge', name: 'a/b' })],
    ['space', () => link.add({ kind: 'bridge', name: 'a b' })],
    ['colon', () => link.add({ kind: 'bridge', name: 'a:b' })],
    ['dot', () => link.add({ kind: 'bridge', name: '.' })],
    // The kernel's isspace() on each byte counts 0xA0 (in 'à', C3 A0) as a space: EINVAL if sent.
    ['byte 0xA0', () => link.add({ kind: 'bridge', name: 'brà' })],
    // Go's whitespace (libcni's rule) includes NEL, which JavaScript's \s does not.
    ['NEL', () => link.add({ kind: 'bridge', name: 'a\u0085b' })],
    ['peer name', () => link.add({ kind: 'veth', name: 'ok', peer: { name: 'bad name' } })],
    ['mtu', () => link.add({ kind: 'bridge', name: 'ok', mtu: 1.5 })],
    ['vni', () => link.add({ kind: 'vxlan', name: 'ok', vni: 1 << 24 })],
    ['port', () => link.add({ kind: 'vxlan', name: 'ok', vni: 1, port: 0 })],
    ['mode', () => link.add({ kind: 'macvlan', name: 'ok', mode: 'weird' as 'bridge', link: 'va' })],
    ['kind', () => link.add({ kind: 'dummy', name: 'ok' } as unknown as LinkSpec)],
    ['set name', () => link.set('ok', { name: 'way-too-long-name' })],
    ['set ref', () => link.set('a b', { up: true })],
    ['del ref', () => link.del('')],
    ['get index', () => link.get(-1)],
    ['up', () => link.add({ kind: 'bridge', name: 'ok', up: 'yes' as unknown as boolean })],
    ['peer up', () => link.add({ kind: 'veth', name: 'ok', peer: { name: 'p', up: 1 as unknown as boolean } })],
    ['set up', () => link.set('ok', { up: 'no' as unknown as boolean })],
    ['list kind', () => link.list({ kind: 5 as unknown as string })],
  ];
  for (const [what, fn] of bad) throwsA(fn, InvalidLinkSpecError, undefined, what);
  // Address text is the IP module's error here as in every API.
  const badAddresses: [string, () => unknown][] = [
    ['mac', () => link.add({ kind: 'bridge', name: 'ok', address: 'zz:00:00:00:00:00' })],
    ['peer mac', () => link.add({ kind: 'veth', name: 'ok', peer: { name: 'p', address: '02:00' } })],
    ['local', () => link.add({ kind: 'vxlan', name: 'ok', vni: 1, local: '10.0.0' })],
    ['group', () => link.add({ kind: 'vxlan', name: 'ok', vni: 1, group: 'fd00::1::2' })],
  ];
  for (const [what, fn] of badAddresses) throwsA(fn, InvalidAddressError, undefined, what);
  assert.equal(recorder.sent, [], 'nothing reached the socket');
});

test.run();
