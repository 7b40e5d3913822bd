// sysctl keys to /proc/sys paths: pure, no namespace (the kernel side is in sysctl.priv.test.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { sysctlPath, SysctlError } from '../src/sysctl.js';
import { throwsA } from '../src/public/testing/pure.js';

test('dotted keys map to /proc/sys paths; the / form keeps dots in interface names', () => {
  assert.is(sysctlPath('net.ipv6.conf.all.disable_ipv6'), '/proc/sys/net/ipv6/conf/all/disable_ipv6');
  assert.is(sysctlPath('net/ipv4/conf/br.10/forwarding'), '/proc/sys/net/ipv4/conf/br.10/forwarding');
});

test('keys that are empty, have empty parts, climb out or are absolute are invalid', () => {
  for (const bad of ['', 'net..ipv4', 'net/../../etc/passwd', '/abs/path']) {
    assert.is(throwsA(() => sysctlPath(bad), SysctlError, undefined, bad).kind, 'invalid');
  }
});

test.run();
