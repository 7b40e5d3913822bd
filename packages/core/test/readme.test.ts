// The README must not drift from the code: every API name it mentions in code spans is exported from
// the package or one of its subpaths (`@netboot/core/ip`, `/errors`, `/ifname`, `/flock`, `/testing`,
// `/testing/pure`), and the examples that need no root (the recorder one) run. Those that create
// namespaces run in readme.priv.test.ts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import { withTempDir } from '../src/public/testing/pure.js';
import * as assert from 'uvu/assert';
import * as core from '../src/index.js';
import * as errors from '../src/public/errors.js';
import * as flock from '../src/public/flock.js';
import * as ifname from '../src/public/ifname.js';
import * as ip from '../src/public/ip.js';
import * as testing from '../src/public/testing.js';
import * as testingPure from '../src/public/testing/pure.js';
import { examples, needsKernel, runExample } from './fixtures/readme-examples.js';

const exported = new Set([core, errors, flock, ifname, ip, testing, testingPure].flatMap((m) => Object.keys(m)));
const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');

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

test('the README examples that need no root run (the recorder one)', async () => {
  const pure = examples.filter((code) => !needsKernel(code));
  assert.ok(pure.length >= 1, 'a ```ts example over a RequestRecorder');
  await withTempDir((dir) => {
    for (const [i, code] of pure.entries()) runExample(code, dir, `example-${i}`);
  }, 'nbt-readme-');
});

test.run();
