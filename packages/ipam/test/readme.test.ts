// The README must not drift from the code: every self-contained example (one that imports what it uses)
// runs as written, and every error class it names is exported from an ipam entry point (or core's
// errors and ip entries, which ipam's errors build on).
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as coreErrors from '@netboot/core/errors';
import * as coreIp from '@netboot/core/ip';
import { withTempDir } from '@netboot/core/testing/pure';
import * as ipam from '../src/index.js';
import * as etcd from '../src/public/etcd.js';
import * as file from '../src/public/file.js';

const root = join(import.meta.dirname, '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const examples = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((code) => /^import /m.test(code));
const entries: Record<string, string> = {
  '@netboot/ipam/file': join(root, 'src', 'public', 'file.ts'),
  '@netboot/ipam/etcd': join(root, 'src', 'public', 'etcd.ts'),
  '@netboot/ipam': join(root, 'src', 'index.ts'),
};

test('the README examples run as written', () =>
  withTempDir((dir) => {
    assert.ok(examples.length >= 2, 'a PodIpam example and a ClusterIpam example');
    for (const [i, code] of examples.entries()) {
      const source = code.replace(/from '(@netboot\/ipam(?:\/\w+)?)'/g, (_, spec: string) => `from ${JSON.stringify(entries[spec])}`);
      const path = join(dir, `example-${i}.mts`);
      writeFileSync(path, source);
      execFileSync(process.execPath, ['--conditions=source', '--import', 'tsx', path], { stdio: 'pipe', cwd: root });
    }
  }));

test('every error class the README names is exported', () => {
  const named = new Set([...readme.matchAll(/\b([A-Z]\w*Error)\b/g)].map((m) => m[1]!));
  const exported = { ...coreErrors, ...coreIp, ...ipam, ...file, ...etcd };
  assert.equal(
    [...named].filter((n) => !(n in exported)),
    [],
  );
  assert.ok(named.has('CorruptEntryError') && named.has('KvUnavailableError'), 'the scan finds names');
});

test.run();
