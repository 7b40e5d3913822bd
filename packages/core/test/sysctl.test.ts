// sysctls written while switched must land in the target namespace (checked with `ip netns exec …
// sysctl`, which opens the file from inside) and leave the host's value alone.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { sysctlGet, sysctlPath, sysctlSet, SysctlError } from '../src/sysctl.js';
import { sh, withNetns } from '../src/public/testing.js';

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

test('dotted keys map to /proc/sys paths', () => {
  assert.is(sysctlPath('net.ipv6.conf.all.disable_ipv6'), '/proc/sys/net/ipv6/conf/all/disable_ipv6');
});

test('unknown keys and refused values are typed errors naming the key', async () => {
  await withNetns(1, (ns) => {
    try {
      sysctlGet('net.ipv4.no_such_key', { netns: ns });
      assert.unreachable('should throw');
    } catch (e) {
      assert.instance(e, SysctlError);
      assert.is((e as SysctlError).code, 'ENOENT');
      assert.is((e as SysctlError).kind, 'not-found');
      assert.match((e as Error).message, 'net.ipv4.no_such_key');
    }
    assert.throws(
      () => sysctlSet('net.ipv4.ip_forward', 'banana', { netns: ns }),
      (e: unknown) => e instanceof SysctlError && e.code === 'EINVAL' && e.kind === 'invalid',
    );
    for (const bad of [true, { toString: () => '1' }, Number.NaN, undefined]) {
      assert.throws(
        () => sysctlSet('net.ipv4.ip_forward', bad as never, { netns: ns }),
        (e: unknown) => e instanceof SysctlError,
        String(bad),
      );
    }
    assert.is(sysctlGet('net.ipv4.ip_forward', { netns: ns }), '0', 'refused write changed nothing');
  });
  for (const bad of ['', 'net..ipv4', 'net/../../etc/passwd', '/abs/path']) {
    assert.throws(
      () => sysctlPath(bad),
      (e: unknown) => e instanceof SysctlError && e.kind === 'invalid',
      bad,
    );
  }
});

test.run();
