// `netboot cni install` into a stand-in root: atomic placement, other networks' files kept, a different
// netboot conflist refused without --force; and the CLI that drives it.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CniError } from '../src/cni/errors.js';
import { CONFLIST_NAME, conflist, install } from '../src/cni/install.js';

const CLI = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));

function withRoot(fn: (root: string, from: string) => void): void {
  const root = mkdtempSync(join(tmpdir(), 'nbt-install-'));
  const from = join(root, 'build');
  mkdirSync(from);
  writeFileSync(join(from, 'netboot'), '#!/bin/sh\necho plugin\n');
  try {
    fn(root, from);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

test('installs the binary (0755) and 10-netboot.conflist, keeping other networks and leaving no temp file', () =>
  withRoot((root, from) => {
    const confDir = join(root, 'etc/cni/net.d');
    mkdirSync(confDir, { recursive: true });
    writeFileSync(join(confDir, '87-podman-bridge.conflist'), '{"name":"podman"}');
    const done = install({ binary: join(from, 'netboot'), root, subnets: ['10.244.1.0/24'] });
    assert.is(done.binary, join(root, 'opt/cni/bin/netboot'));
    assert.is(statSync(done.binary).mode & 0o777, 0o755);
    assert.is(readFileSync(done.binary, 'utf8'), '#!/bin/sh\necho plugin\n');
    assert.equal(readdirSync(confDir).sort(), ['10-netboot.conflist', '87-podman-bridge.conflist']);
    const written = JSON.parse(readFileSync(join(confDir, CONFLIST_NAME), 'utf8'));
    assert.equal(
      written.plugins.map((p: { type: string }) => p.type),
      ['netboot', 'portmap'],
    );
    assert.equal(written.plugins[0].ipam, { type: 'netboot', ranges: [[{ subnet: '10.244.1.0/24' }]] });
    assert.equal(readdirSync(join(root, 'opt/cni/bin')), ['netboot']);
  }));

test('the same conflist again is kept; a different one is refused unless forced', () =>
  withRoot((root, from) => {
    install({ binary: join(from, 'netboot'), root });
    assert.is(install({ binary: join(from, 'netboot'), root }).conflistState, 'unchanged');
    const path = join(root, 'etc/cni/net.d', CONFLIST_NAME);
    writeFileSync(path, '{"edited": true}');
    try {
      install({ binary: join(from, 'netboot'), root });
      assert.unreachable('overwrote an edited conflist');
    } catch (err) {
      assert.instance(err, CniError);
      assert.match((err as Error).message, '--force');
    }
    assert.is(readFileSync(path, 'utf8'), '{"edited": true}');
    assert.is(install({ binary: join(from, 'netboot'), root, force: true }).conflistState, 'written');
    assert.equal(JSON.parse(readFileSync(path, 'utf8')), conflist());
  }));

test('the CLI: `netboot cni install --root … --from …`, and usage errors exit 2', () =>
  withRoot((root, from) => {
    const run = (...args: string[]) => spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', CLI, ...args], { encoding: 'utf8' });
    const ok = run('cni', 'install', '--root', root, '--from', from, '--bin-dir', '/usr/libexec/cni', '--no-masq');
    assert.is(ok.status, 0, ok.stderr);
    assert.ok(statSync(join(root, 'usr/libexec/cni/netboot')).isFile());
    assert.is(JSON.parse(readFileSync(join(root, 'etc/cni/net.d', CONFLIST_NAME), 'utf8')).plugins[0].ipMasq, false);
    const bad = run('cni', 'install', '--bogus', 'x');
    assert.is(bad.status, 2);
    assert.match(bad.stderr, 'unknown option --bogus');
    assert.is(run('cni', 'install', '--root', root, '--from', from, '--mtu', 'big').status, 2);
  }));

test('the CLI with --json: the paths installed and whether the conflist was written or kept', () =>
  withRoot((root, from) => {
    const run = (...args: string[]) => spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', CLI, ...args], { encoding: 'utf8' });
    const first = run('cni', 'install', '--root', root, '--from', from, '--json');
    assert.is(first.status, 0, first.stderr);
    assert.equal(JSON.parse(first.stdout), {
      binary: join(root, 'opt/cni/bin/netboot'),
      conflist: join(root, 'etc/cni/net.d', CONFLIST_NAME),
      conflistState: 'written',
    });
    assert.is(JSON.parse(run('cni', 'install', '--root', root, '--from', from, '--json').stdout).conflistState, 'unchanged');
    const built = run('cni', 'build', '--out', join(root, 'out'), '--script-only', '--json');
    assert.is(built.status, 0, built.stderr);
    assert.equal(JSON.parse(built.stdout), { executable: null, script: join(root, 'out', 'netboot.cjs') });
  }));

test.run();
