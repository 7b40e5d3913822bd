// What the plugin bundle is made of: the ADD path loads core, the file-store IPAM and the plugin, never
// the CLI, gRPC/etcd or YAML; VERSION does not even load the FFI.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bundlePlugin } from '../src/cni/build/bundle.js';

const FORBIDDEN = [
  /\/src\/cli\//,
  /\/src\/(agent|datastore)\//,
  /@kubernetes\//,
  /@netboot\/routes|packages\/routes\//,
  /@grpc\//,
  /\betcd3\b/,
  /ipam\/src\/store\/etcd/,
  /\/yaml\//,
  /commander/,
  /yargs/,
  /protobufjs/,
];

test('the bundle holds the plugin, core and the file store, and nothing of the CLI, gRPC, etcd or YAML', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nbt-bundle-'));
  return bundlePlugin({ outfile: join(dir, 'netboot'), koffi: { kind: 'path', path: '/nonexistent/koffi.node' } })
    .then((meta) => {
      const inputs = Object.keys(Object.values(meta.outputs)[0]!.inputs);
      for (const must of ['src/cni/verbs/add.ts', 'core/src/rtnl.ts', 'ipam/src/store/file.ts', 'ipam/src/local.ts']) {
        assert.ok(
          inputs.some((i) => i.endsWith(must)),
          `${must} is in the bundle`,
        );
      }
      for (const bad of FORBIDDEN)
        assert.equal(
          inputs.filter((i) => bad.test(i)),
          [],
          `nothing matching ${bad}`,
        );
      // VERSION with a koffi path that does not exist: works, because no verb module (and so no FFI) loads.
      spawnSync('chmod', ['755', join(dir, 'netboot')]);
      const version = spawnSync(process.execPath, [join(dir, 'netboot')], { env: { CNI_COMMAND: 'VERSION' }, input: '', encoding: 'utf8' });
      assert.is(version.status, 0, version.stdout + version.stderr);
      const conf = JSON.stringify({
        cniVersion: '1.1.0',
        name: 'n',
        type: 'netboot',
        ipam: { type: 'netboot', ranges: [[{ subnet: '10.0.0.0/24' }]], dataDir: join(dir, 'd') },
      });
      const gc = spawnSync(process.execPath, [join(dir, 'netboot')], { env: { CNI_COMMAND: 'GC' }, input: conf, encoding: 'utf8' });
      assert.is(gc.status, 1, 'GC loads the FFI, so the missing koffi shows');
      assert.match(JSON.parse(gc.stdout).msg, '/nonexistent/koffi.node');
    })
    .finally(() => rmSync(dir, { recursive: true, force: true }));
});

test.run();
