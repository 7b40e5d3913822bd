// The shared fixtures that need root: the kernel-feature probe behind privileged()'s own checks.
import { test as uvuTest } from 'uvu';
import * as assert from 'uvu/assert';
import { listNetns } from '../src/netns.js';
import { missingLinkKind, privileged } from '../src/public/testing.js';

const test = privileged(uvuTest);

test('missingLinkKind: undefined for a kind the kernel has, the reason for one it lacks; no namespace left', () => {
  const before = listNetns().filter((n) => n.startsWith('nbt-'));
  assert.is(missingLinkKind('bridge'), undefined);
  assert.is(missingLinkKind('vxlan', 'id', '42', 'dstport', '4789'), undefined);
  assert.match(missingLinkKind('nbt-no-such-kind') ?? '', /^this kernel cannot create a nbt-no-such-kind link \(.*Unknown device type/);
  assert.equal(
    listNetns().filter((n) => n.startsWith('nbt-') && !before.includes(n)),
    [],
    'probe namespaces deleted',
  );
});

test.run();
