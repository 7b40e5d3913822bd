// The README must not drift from the code: its examples run as written (in nbt- namespaces instead of
// demo-), and every function and error class it names in code spans is exported.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deleteNetns, listNetns } from '@netboot/core';
import { privileged } from '@netboot/core/testing';
import { test as uvuTest } from 'uvu';
import * as assert from 'uvu/assert';
import * as routes from '../src/index.js';

const test = privileged(uvuTest);
const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
const examples = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
const src = (pkg: string): string => JSON.stringify(join(import.meta.dirname, '..', '..', pkg, 'src', 'index.ts'));

test('the README examples run: reconcile and churn with vxlan, a Network with host-gw; namespaces cleaned up', () => {
  assert.ok(examples.length >= 2, 'two ```ts examples');
  const prefix = `nbt-${randomBytes(3).toString('hex')}-`;
  const dir = mkdtempSync(join(tmpdir(), 'nbt-readme-'));
  try {
    const outputs = examples.map((code, i) => {
      // .mts: the examples use top-level await, and /tmp has no package.json saying "module".
      const file = join(dir, `example-${i}.mts`);
      writeFileSync(
        file,
        code
          .replaceAll("from '@netboot/core'", `from ${src('core')}`)
          .replaceAll("from '@netboot/routes'", `from ${src('routes')}`)
          .replaceAll('demo-', prefix),
      );
      return execFileSync(process.execPath, ['--import', 'tsx', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    });
    assert.match(outputs[0]!, /created 8 operations; pod MTU 1450/);
    assert.match(outputs[0]!, /^10\.244\.3\.0\/24 nhid \d+ via 10\.244\.3\.0 dev netboot\.1 onlink\s*$/m);
    assert.not.match(outputs[0]!, /10\.244\.2\.0/, 'node2 left nothing');
    assert.match(outputs[1]!, /^full 1 /m, 'a plain route (two peers: no nexthop objects)');
    assert.match(outputs[1]!, /^update 1 /m);
    assert.equal(
      listNetns().filter((n) => n.startsWith(prefix)),
      [],
      'the examples delete their namespaces',
    );
  } finally {
    for (const name of listNetns().filter((n) => n.startsWith(prefix))) deleteNetns(name);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every function and error class the README names is exported', () => {
  const named = new Set<string>();
  for (const span of readme.matchAll(/`([^`\n]+)`/g)) {
    for (const m of span[1]!.matchAll(/(?<![.\w])([a-zA-Z]\w*)\((?!\d\))/g)) named.add(m[1]!);
    for (const m of span[1]!.matchAll(/\b([A-Z]\w*Error)\b/g)) named.add(m[1]!);
  }
  // Methods (`reconciler.full(`) are checked by the type-checked tests; NetbootError is core's.
  const notExports = new Set([
    'full',
    'update',
    'observe',
    'repair',
    'run',
    'setPeers',
    'upsertPeer',
    'removePeer',
    'mtuOverhead',
    'mtu',
    'deviceSpec',
    'desired',
    'forPeer',
    'monitor',
    'NetbootError',
  ]);
  const missing = [...named].filter((n) => !notExports.has(n) && !(n in routes));
  assert.equal(missing, []);
  assert.ok(named.has('discoverNode') && named.has('ModeUnavailableError'), 'the scan finds names');
});

test.run();
