// `netboot cni build`: the single executable and the script fallback both answer as plugins, ADD and DEL
// a pod in nbt-* namespaces; the embedded koffi.node is written to a root-only directory and loaded only
// after its hash matched (a tampered copy is replaced, not loaded).
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ipJson } from '@netboot/core/testing';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildCni } from '../src/cni/build/sea.js';
import { Node } from './cni-fixture.js';

const out = mkdtempSync(join(tmpdir(), 'nbt-sea-'));
const nativeDir = join(out, 'native');
let built: Awaited<ReturnType<typeof buildCni>>;

test.before(async () => {
  built = await buildCni({ out });
});
test.after(() => rmSync(out, { recursive: true, force: true }));

for (const which of ['executable', 'script'] as const) {
  test(`the ${which} runs VERSION, ADD and DEL as a plugin`, () => {
    const file = which === 'executable' ? built.executable! : built.script;
    const node = new Node(file);
    try {
      const env = { NETBOOT_NATIVE_DIR: nativeDir };
      const version = node.run('VERSION', '', { env });
      assert.is(version.out.supportedVersions.length, 5);
      const pod = node.pod();
      const add = node.run('ADD', node.conf(), { containerId: pod.name, netns: pod.path, env });
      assert.is(add.code, 0, JSON.stringify(add.out) + add.stderr);
      assert.is(ipJson(pod, 'addr', 'show', 'eth0')[0].addr_info[0].local, '10.244.1.2');
      assert.is(node.run('DEL', node.conf(), { containerId: pod.name, netns: pod.path, env }).code, 0);
      assert.equal(node.hostLinks(), []);
    } finally {
      node.delete();
    }
  });
}

test('koffi.node lives in a 0700 directory, read-only; a tampered copy is rewritten before it is loaded', () => {
  assert.is(statSync(nativeDir).mode & 0o777, 0o700);
  const [name] = readdirSync(nativeDir);
  const file = join(nativeDir, name!);
  assert.is(statSync(file).mode & 0o777, 0o500);
  writeFileSync(file, 'not a shared object');
  const node = new Node(built.executable!);
  try {
    const pod = node.pod();
    const add = node.run('ADD', node.conf(), { containerId: pod.name, netns: pod.path, env: { NETBOOT_NATIVE_DIR: nativeDir } });
    assert.is(add.code, 0, JSON.stringify(add.out) + add.stderr);
    assert.ok(statSync(file).size > 100_000, 'the real module was written back');
  } finally {
    node.delete();
  }
});

test.run();
