// sysctls written while switched must land in the target namespace (checked with `ip netns exec …
// sysctl`, which opens the file from inside) and leave the host's value alone.
import { test as uvuTest } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { sysctlGet, sysctlPath, sysctlSet, SysctlError } from '../src/sysctl.js';
import { privileged, sh, throwsA, withNetns } from '../src/public/testing.js';

const test = privileged(uvuTest);

const hostForward = (): string => readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();

test('ip_forward set in a namespace is seen there by sysctl(8), host untouched', async () => {
  const host = hostForward();
  await withNetns(2, (a, b) => {
    assert.is(sysctlGet('net.ipv4.ip_forward', { netns: a }), '0');
    sysctlSet('net.ipv4.ip_forward', 1, { netns: a });
    assert.is(sh(a, 'sysctl', '-n', 'net.ipv4.ip_forward').trim(), '1');
    assert.is(sysctlGet('net.ipv4.ip_forward', { netns: a }), '1');
    assert.is(sh(b, 'sysctl', '-n', 'net.ipv4.ip_forward').trim(), '0', 'other namespace untouched');
    assert.is(hostForward(), host, 'host untouched');
    sysctlSet('net.ipv4.ip_forward', '0', { netns: a.name });
    assert.is(sh(a, 'sysctl', '-n', 'net.ipv4.ip_forward').trim(), '0');
  });
});

test('keys for interfaces with dots in their names use the / form', async () => {
  await withNetns(1, (ns) => {
    sh(ns, 'ip', 'link', 'add', 'br.10', 'type', 'bridge');
    const key = 'net/ipv4/conf/br.10/forwarding';
    assert.is(sysctlPath(key), '/proc/sys/net/ipv4/conf/br.10/forwarding');
    sysctlSet(key, 1, { netns: ns });
    assert.is(sh(ns, 'sysctl', '-n', 'net.ipv4.conf.br/10.forwarding').trim(), '1');
    assert.is(sysctlGet(key, { netns: ns }), '1');
  });
});

test('unknown keys and refused values are typed errors naming the key; a refused write changes nothing', async () => {
  await withNetns(1, (ns) => {
    const missing = throwsA(() => sysctlGet('net.ipv4.no_such_key', { netns: ns }), SysctlError, /net\.ipv4\.no_such_key/);
    assert.is(missing.code, 'ENOENT');
    assert.is(missing.kind, 'not-found');
    const refused = throwsA(() => sysctlSet('net.ipv4.ip_forward', 'banana', { netns: ns }), SysctlError);
    assert.is(refused.code, 'EINVAL');
    assert.is(refused.kind, 'invalid');
    for (const bad of [true, { toString: () => '1' }, Number.NaN, undefined]) {
      throwsA(() => sysctlSet('net.ipv4.ip_forward', bad as never, { netns: ns }), SysctlError, undefined, String(bad));
    }
    assert.is(sysctlGet('net.ipv4.ip_forward', { netns: ns }), '0', 'refused write changed nothing');
  });
});

test.run();
