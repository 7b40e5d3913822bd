// The README must not drift from the code: its examples run as written (in nbt- namespaces instead
// of demo-). That every API name it mentions is exported is checked in readme.test.ts.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test as uvuTest } from 'uvu';
import * as assert from 'uvu/assert';
import { deleteNetns, listNetns } from '../src/netns.js';
import { privileged, withTempDir } from '../src/public/testing.js';

const test = privileged(uvuTest);
const src = join(import.meta.dirname, '..', 'src');

/** The example with its imports pointed at the sources: '@netboot/core[/x]' → src/index.ts, src/public/x.ts. */
function runnable(code: string): string {
  return code.replace(
    /from '@netboot\/core(?:\/([\w/]+))?'/g,
    (_, sub: string | undefined) => `from ${JSON.stringify(sub === undefined ? join(src, 'index.ts') : join(src, 'public', `${sub}.ts`))}`,
  );
}

const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
const examples = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);

test('the README examples run: veth pair across two namespaces, ping, cleanup; the recorder example', async () => {
  assert.ok(examples.length >= 2, 'two ```ts examples');
  const prefix = `nbt-${randomBytes(3).toString('hex')}-`;
  try {
    await withTempDir((dir) => {
      for (const [i, code] of examples.entries()) {
        const file = join(dir, `example-${i}.ts`);
        const source = runnable(code).replaceAll('demo-', prefix);
        writeFileSync(file, source);
        execFileSync(process.execPath, ['--import', 'tsx', file], { stdio: 'pipe', cwd: join(import.meta.dirname, '..') });
      }
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
