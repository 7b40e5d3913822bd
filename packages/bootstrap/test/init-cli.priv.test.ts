// `netboot init`, `join` and `reset` as a person runs them: the real CLI in a child process, inside an
// nbt-* namespace of its own (where the test may turn on ip_forward: gatherFacts reads the namespace it
// runs in, and probes the kernel in a throwaway one), writing only under a stand-in --root, so /opt and
// /etc of this machine are never touched.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { privileged, sh, type TempNetns, tempNetns, withTempDir } from '@netboot/core/testing';
import { INIT_FILES, JOIN_FILES, tree } from './init-fixtures.js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const ROOT = new URL('../../..', import.meta.url).pathname;
const CLI = join(ROOT, 'packages/bootstrap/src/cli/main.ts');
const ptest = privileged(test);

let ns: TempNetns | undefined;
ptest.before(() => {
  ns = tempNetns();
  sh(ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
  sh(ns, 'sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1');
});
ptest.after(() => ns?.delete());

/** `netboot ARGS…` in the test's namespace, no terminal, no KUBECONFIG from the caller. */
function netboot(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const { KUBECONFIG: _, ...env } = process.env;
  const r = spawnSync('ip', ['netns', 'exec', ns!.name, process.execPath, '--conditions=source', '--import', 'tsx', CLI, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A temp dir with a stand-in root and a stand-in built plugin in `cni/`. */
async function withDirs(fn: (root: string, cni: string, dir: string) => void): Promise<void> {
  await withTempDir((dir) => {
    const root = join(dir, 'root');
    const cni = join(dir, 'cni');
    mkdirSync(root);
    mkdirSync(cni);
    writeFileSync(join(cni, 'netboot'), '#!/bin/sh\necho stand-in plugin\n', { mode: 0o755 });
    fn(root, cni, dir);
  }, 'nbt-init-cli-');
}

ptest('init --help shows examples (exit 0); an unknown option is a usage error (exit 2)', () => {
  const help = netboot('init', '--help');
  assert.is(help.code, 0);
  assert.match(help.stdout, /examples:\n {2}netboot init --pod-cidr 10\.244\.0\.0\/16 --yes/);
  const bad = netboot('init', '--pod-cird', '10.244.0.0/16');
  assert.is(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /unknown option --pod-cird/);
});

ptest('a CIDR that is not one, or two of one family, is a ✗ preflight line with its fix (exit 1), not a usage error; nothing changed', () =>
  withDirs((root, cni, dir) => {
    const r = netboot('init', '--pod-cidr', 'bogus', '--root', root, '--cni-from', cni, '--yes');
    assert.is(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /^✗ --pod-cidr bogus is not a valid CIDR list: .*\n {4}fix: give one CIDR per IP family, e\.g\. --pod-cidr 10\.244\.0\.0\/16/m);
    assert.match(r.stdout, /^✓ kernel supports veth/m);
    assert.match(r.stderr, /preflight failed; nothing on this node was changed/);
    assert.equal(tree(root), []);
    const two = netboot('init', '--pod-cidr', '10.244.0.0/16,10.244.0.0/17', '--root', root, '--cni-from', cni, '--yes', '--json');
    assert.is(two.code, 1, two.stdout + two.stderr);
    const out = JSON.parse(two.stdout);
    assert.is(out.ok, false);
    assert.is(out.plan.ok, false);
    const failed = out.plan.preflight.filter((c: { status: string }) => c.status === 'fail');
    assert.equal(
      failed.map((c: { id: string }) => c.id),
      ['cidr-valid'],
    );
    assert.match(failed[0].message, /one CIDR per IP family/);
    assert.equal(tree(root), []);
    // A dry run does not render artifacts for the defaults standing in for a bad CIDR.
    const dry = netboot('init', '--dry-run', '--pod-cidr', '10.244.1.0/16', '--out', join(dir, 'out'), '--root', root, '--cni-from', cni);
    assert.is(dry.code, 1, dry.stdout + dry.stderr);
    assert.match(dry.stdout, /^✗ --pod-cidr 10\.244\.1\.0\/16 .*host bits/m);
    assert.equal(tree(dir), ['cni/netboot']);
  }),
);

ptest('init end to end under --root: preflight, files, the printed kubeadm command and join line; again: nothing to change; reset', () =>
  withDirs((root, cni) => {
    const args = ['init', '--pod-cidr', '10.244.0.0/16,fd00:10:244::/56', '--root', root, '--cni-from', cni, '--yes'];
    const first = netboot(...args);
    assert.is(first.code, 0, first.stdout + first.stderr);
    assert.match(first.stdout, /^✓ kernel supports vxlan .*throwaway namespace$/m);
    assert.match(first.stdout, /^✓ net\.ipv6\.conf\.all\.forwarding = 1$/m);
    assert.match(first.stdout, new RegExp(`run kubeadm with this config:\\n {2}kubeadm init --config ${join(root, 'etc/netboot/kubeadm.yaml')}`));
    assert.match(first.stdout, /netboot join --pod-cidr 10\.244\.0\.0\/16,fd00:10:244::\/56 --service-cidr 10\.96\.0\.0\/12 --node-mask 24,64 --mode vxlan/);
    assert.match(first.stderr, /inspecting this host/);
    assert.equal(tree(root), INIT_FILES);
    assert.match(readFileSync(join(root, 'etc/netboot/kubeadm.yaml'), 'utf8'), /podSubnet: 10\.244\.0\.0\/16,fd00:10:244::\/56/);

    const second = netboot(...args, '--json');
    assert.is(second.code, 0, second.stderr);
    const out = JSON.parse(second.stdout);
    assert.is(out.report.changed, false);
    assert.is(out.plan.settings.mode, 'vxlan');
    assert.match(netboot(...args).stdout, /^nothing to change$/m);

    const r = netboot('reset', '--root', root, '--yes');
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /removed .*opt\/cni\/bin\/netboot/);
    assert.equal(tree(root), []);
    assert.match(netboot('reset', '--root', root, '--yes').stdout, /nothing to remove/);
  }),
);

ptest('a failed preflight exits 1, says why and how to fix it, and changes nothing', () =>
  withDirs((root, cni, dir) => {
    mkdirSync(join(root, 'etc/cni/net.d'), { recursive: true });
    writeFileSync(join(root, 'etc/cni/net.d/10-flannel.conflist'), '{"name":"cbr0","plugins":[{"type":"flannel"}]}');
    const before = tree(root);
    const r = netboot('init', '--root', root, '--cni-from', cni, '--yes');
    assert.is(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /^✗ another pod network is configured: 10-flannel\.conflist \(cbr0: flannel\)/m);
    assert.match(r.stdout, /fix: remove it, or pass --force/);
    assert.match(r.stderr, /preflight failed; nothing on this node was changed/);
    assert.equal(tree(root), before);
    // A dry run still renders the artifacts to --out (that changes nothing on the node), and exits 1.
    const out = join(dir, 'out');
    const dry = netboot('init', '--dry-run', '--out', out, '--root', root, '--cni-from', cni);
    assert.is(dry.code, 1, dry.stdout + dry.stderr);
    assert.equal(tree(out), ['10-netboot.conflist', 'kubeadm.yaml', 'netboot.yaml']);
    assert.equal(tree(root), before);
  }),
);

ptest('without a terminal and without --yes nothing is changed (exit 2); --dry-run --out writes only the artifacts', () =>
  withDirs((root, cni, dir) => {
    const asked = netboot('init', '--root', root, '--cni-from', cni);
    assert.is(asked.code, 2, asked.stderr);
    assert.match(asked.stderr, /pass --yes/);
    assert.equal(tree(root), []);
    const out = join(dir, 'out');
    const dry = netboot('init', '--dry-run', '--pod-cidr', '10.244.0.0/16', '--out', out, '--root', root, '--cni-from', cni);
    assert.is(dry.code, 0, dry.stderr);
    assert.equal(tree(out), ['10-netboot.conflist', 'kubeadm.yaml', 'netboot.yaml']);
    assert.equal(tree(root), []);
    assert.match(dry.stdout, /\? cni: would-change/);
  }),
);

ptest('join with the flags init printed installs the plugin and conflist; reset undoes it', () =>
  withDirs((root, cni) => {
    const r = netboot('join', '--pod-cidr', '10.244.0.0/16', '--node-mask', '24', '--mode', 'vxlan', '--root', root, '--cni-from', cni, '--yes');
    assert.is(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^✓ 10\.244\.0\.0\/16 in \/24 slices: 256 nodes/m);
    assert.not.match(r.stdout, /kubeadm/);
    assert.equal(tree(root), JOIN_FILES);
    assert.is(netboot('reset', '--root', root, '--yes').code, 0);
    assert.equal(tree(root), []);
  }),
);

test.run();
