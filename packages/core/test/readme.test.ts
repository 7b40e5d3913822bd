// The README must not drift from the code: its examples run as written (in nbt- namespaces instead
// of demo-), and every API name it mentions in code spans is exported from the package or one of its
// subpaths (`@netboot/core/ip`, `/errors`, `/flock`, `/testing`, `/testing/pure`).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as core from '../src/index.js';
import * as errors from '../src/public/errors.js';
import * as flock from '../src/public/flock.js';
import * as ip from '../src/public/ip.js';
import * as testing from '../src/public/testing.js';
import * as testingPure from '../src/public/testing/pure.js';
import { listNetns } from '../src/netns.js';

const src = join(import.meta.dirname, '..', 'src');
const exported = new Set([core, errors, flock, ip, testing, testingPure].flatMap((m) => Object.keys(m)));

/** The example with its imports pointed at the sources: '@netboot/core[/x]' → src/index.ts, src/public/x.ts. */
function runnable(code: string): string {
  return code.replace(
    /from '@netboot\/core(?:\/([\w/]+))?'/g,
    (_, sub: string | undefined) => `from ${JSON.stringify(sub === undefined ? join(src, 'index.ts') : join(src, 'public', `${sub}.ts`))}`,
  );
}

const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
const examples = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);

test('the README examples run: veth pair across two namespaces, ping, cleanup; the recorder example', () => {
  assert.ok(examples.length >= 2, 'two ```ts examples');
  const prefix = `nbt-${randomBytes(3).toString('hex')}-`;
  const dir = mkdtempSync(join(tmpdir(), 'nbt-readme-'));
  try {
    for (const [i, code] of examples.entries()) {
      const file = join(dir, `example-${i}.ts`);
      const source = runnable(code).replaceAll('demo-', prefix);
      writeFileSync(file, source);
      execFileSync(process.execPath, ['--import', 'tsx', file], { stdio: 'pipe', cwd: join(import.meta.dirname, '..') });
    }
    assert.equal(
      listNetns().filter((n) => n.startsWith(prefix)),
      [],
      'the example deletes its namespaces',
    );
  } finally {
    for (const name of listNetns().filter((n) => n.startsWith(prefix))) core.deleteNetns(name);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every function and class the README names is exported', () => {
  const named = new Set<string>();
  for (const span of readme.matchAll(/`([^`\n]+)`/g)) {
    // Calls `foo(` (not man pages, `setns(2)`) and error classes `FooError`; methods (`rtnl.link.add(`)
    // are checked by the type-checked tests.
    for (const m of span[1]!.matchAll(/(?<![.\w])([a-zA-Z]\w*)\((?!\d\))/g)) named.add(m[1]!);
    for (const m of span[1]!.matchAll(/\b([A-Z]\w*Error)\b/g)) named.add(m[1]!);
  }
  const methods = new Set([
    'add',
    'del',
    'set',
    'get',
    'find',
    'list',
    'flush',
    'replace',
    'change',
    'append',
    'close',
    'request',
    'dump',
    'batch',
    'addMany',
    'replaceMany',
    'delMany',
    'setMany',
    'open',
    'next',
  ]);
  const missing = [...named].filter((n) => !methods.has(n) && !exported.has(n));
  assert.equal(missing, []);
  assert.ok(named.has('runIn') && named.has('createNetns') && named.has('NetlinkError'), 'the scan finds names');
});

test.run();
