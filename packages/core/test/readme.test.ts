// The README must not drift from the code: its example runs as written (in nbt- namespaces instead
// of demo-), and every API name it mentions in code spans is exported from the package.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as core from '../src/index.js';
import { listNetns } from '../src/netns.js';

const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
const examples = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);

test('the README example runs: veth pair across two namespaces, ping, cleanup', () => {
  assert.ok(examples.length >= 1, 'a ```ts example');
  const prefix = `nbt-${randomBytes(3).toString('hex')}-`;
  const dir = mkdtempSync(join(tmpdir(), 'nbt-readme-'));
  try {
    for (const [i, code] of examples.entries()) {
      const file = join(dir, `example-${i}.ts`);
      const source = code
        .replaceAll("from '@netboot/core'", `from ${JSON.stringify(join(import.meta.dirname, '..', 'src', 'index.ts'))}`)
        .replaceAll('demo-', prefix);
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
  const methods = new Set(['add', 'del', 'set', 'get', 'find', 'list', 'flush', 'replace', 'change', 'append', 'close', 'request', 'dump', 'batch', 'addMany', 'replaceMany', 'delMany', 'open']);
  const missing = [...named].filter((n) => !methods.has(n) && !(n in core));
  assert.equal(missing, []);
  assert.ok(named.has('runIn') && named.has('createNetns') && named.has('NetlinkError'), 'the scan finds names');
});

test.run();
