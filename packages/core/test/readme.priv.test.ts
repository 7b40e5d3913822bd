// The README must not drift from the code: its examples that create namespaces run as written (in nbt-
// namespaces instead of demo-). The recorder example and the exported names are checked in readme.test.ts.
import { randomBytes } from 'node:crypto';
import { test as uvuTest } from 'uvu';
import * as assert from 'uvu/assert';
import { deleteNetns, listNetns } from '../src/netns.js';
import { privileged, withTempDir } from '../src/public/testing.js';
import { examples, needsKernel, runExample } from './fixtures/readme-examples.js';

const test = privileged(uvuTest);

test('the README examples that need the kernel run: veth pair across two namespaces, ping, cleanup', async () => {
  const kernel = examples.filter(needsKernel);
  assert.ok(kernel.length >= 1, 'a ```ts example that creates namespaces');
  const prefix = `nbt-${randomBytes(3).toString('hex')}-`;
  try {
    await withTempDir((dir) => {
      for (const [i, code] of kernel.entries()) runExample(code.replaceAll('demo-', prefix), dir, `example-${i}`);
    }, 'nbt-readme-');
    assert.equal(
      listNetns().filter((n) => n.startsWith(prefix)),
      [],
      'the example deletes its namespaces',
    );
  } finally {
    for (const name of listNetns().filter((n) => n.startsWith(prefix))) deleteNetns(name);
  }
});

test.run();
