// Namespace names and paths refused before anything is created or entered: pure, no privileges (the
// namespaces themselves are in netns.priv.test.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { errorKind, InvalidInputError } from '../src/base/errors.js';
import { createNetns, InvalidNetnsNameError, listNetns, NotANetnsError, openNetns, runIn } from '../src/netns.js';
import { throwsA } from '../src/public/testing/pure.js';

test('bad names are rejected before anything is created', () => {
  const before = listNetns();
  for (const bad of ['', '.', '..', 'a/b', 'x'.repeat(256), 'nul\0byte']) {
    const what = `name ${JSON.stringify(bad)}`;
    assert.instance(
      throwsA(() => createNetns(bad), InvalidNetnsNameError, undefined, what),
      InvalidInputError,
      what,
    );
    throwsA(() => runIn(bad, () => 1), InvalidNetnsNameError, undefined, what);
  }
  assert.equal(listNetns(), before);
});

test('a file that is not a namespace is refused', () => {
  assert.is(errorKind(throwsA(() => openNetns('/etc/hostname'), NotANetnsError, /not a network namespace/)), 'invalid');
  throwsA(() => runIn('/etc/hostname', () => 1), NotANetnsError, /not a network namespace/);
});

test.run();
