// apply() and reset() on a stand-in root (a temp dir): what init writes, that a second run changes
// nothing and says so, that a dry run writes nothing, that --force sets another network aside and reset
// puts it back, and that reset removes exactly what init installed. The plugin is a stand-in file (the
// real binary's build is cni-sea.test.ts's); the host is facts as data, so no root is needed.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withTempDir } from '@netboot/core/testing/pure';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { apply, writeArtifacts } from '../src/init/apply.js';
import { plan } from '../src/init/plan.js';
import { formatChecks } from '../src/init/preflight.js';
import { reset } from '../src/init/reset.js';
import { kubernetesBin } from '../src/testing/control-plane.js';
import type { HostFacts, PlanOptions } from '../src/init/types.js';
import { goodFacts, INIT_FILES, JOIN_FILES, OWN_CONFLIST, tree } from './init-fixtures.js';

/** A stand-in root with a stand-in plugin; `run(options, facts)` plans and checks preflight passed. */
async function withRoot(fn: (root: string, planFor: (o?: PlanOptions, facts?: HostFacts) => ReturnType<typeof plan>) => Promise<void>) {
  await withTempDir(async (dir) => {
    const root = join(dir, 'root');
    const plugin = join(dir, 'netboot');
    writeFileSync(plugin, '#!/bin/sh\necho stand-in plugin\n', { mode: 0o755 });
    mkdirSync(root);
    await fn(root, (o = {}, facts = goodFacts()) => {
      const p = plan({ podCIDRs: ['10.244.0.0/16'], ...o, root, cniBinary: plugin, facts });
      assert.ok(p.ok, formatChecks(p.preflight));
      return p;
    });
  }, 'nbt-init-');
}

/** The facts a second run sees: netboot's conflist in place. */
const afterFirstRun = (): HostFacts => ({ ...goodFacts(), cniConfigs: [OWN_CONFLIST] });

test('init on a stand-in root writes the kubeadm config, the plugin, the conflist, the manifests and its record', async () => {
  await withRoot(async (root, planFor) => {
    const p = planFor();
    const report = await apply(p);
    assert.equal(
      report.steps.map((s) => `${s.step}:${s.action}`),
      ['kubeadm-config:created', 'kubeadm-init:printed', 'cni:created', 'manifests:created', 'state:created'],
    );
    assert.ok(report.changed);
    assert.equal(tree(root), INIT_FILES);
    assert.is(readFileSync(join(root, 'etc/netboot/kubeadm.yaml'), 'utf8'), p.kubeadm!.yaml);
    assert.is(readFileSync(join(root, 'etc/netboot/netboot.yaml'), 'utf8'), p.manifests!.yaml);
    assert.is(readFileSync(join(root, 'etc/cni/net.d/10-netboot.conflist'), 'utf8'), p.cni.conflistText);
    assert.is(readFileSync(join(root, 'opt/cni/bin/netboot'), 'utf8'), readFileSync(p.cni.source, 'utf8'));
    assert.match(report.steps[1]!.detail, new RegExp(`kubeadm init --config ${join(root, 'etc/netboot/kubeadm.yaml')}`));
    assert.is(report.joinCommand, 'netboot join --pod-cidr 10.244.0.0/16 --service-cidr 10.96.0.0/12 --node-mask 24 --mode vxlan --datastore kubernetes');
  });
});

test('a second run changes nothing and says so; a changed plugin is the one thing updated', async () => {
  await withRoot(async (root, planFor) => {
    await apply(planFor());
    const before = tree(root).map((f) => [f, readFileSync(join(root, f), 'utf8')]);
    const again = await apply(planFor({}, afterFirstRun()));
    assert.not.ok(again.changed, JSON.stringify(again.steps));
    assert.equal(
      again.steps.map((s) => s.action),
      ['unchanged', 'printed', 'unchanged', 'unchanged'],
    );
    assert.equal(
      tree(root).map((f) => [f, readFileSync(join(root, f), 'utf8')]),
      before,
    );
    const p = planFor({}, afterFirstRun());
    writeFileSync(p.cni.source, '#!/bin/sh\necho a newer plugin\n');
    const third = await apply(p);
    assert.equal(
      third.steps.filter((s) => s.action !== 'unchanged' && s.action !== 'printed').map((s) => `${s.step}:${s.action}`),
      ['cni:updated'],
    );
  });
});

test('a dry run writes nothing and says what would change; after a real run it says nothing would', async () => {
  await withRoot(async (root, planFor) => {
    const dry = await apply(planFor(), { dryRun: true });
    assert.equal(tree(root), []);
    assert.equal(
      dry.steps.map((s) => `${s.step}:${s.action}`),
      ['kubeadm-config:would-change', 'kubeadm-init:printed', 'cni:would-change', 'manifests:would-change'],
    );
    await apply(planFor());
    const after = await apply(planFor({}, afterFirstRun()), { dryRun: true });
    assert.not.ok(after.changed);
  });
});

test('on a fresh control plane a dry run reports the manifests as applied after kubeadm init, without calling kubectl', async () => {
  const kubectl = join(kubernetesBin() ?? '', 'kubectl');
  if (!existsSync(kubectl)) {
    if (process.env.CI) assert.unreachable(`${kubectl} is missing: build it with scripts/kubernetes.sh`);
    console.log(`skipped: ${kubectl} is missing (scripts/kubernetes.sh builds it)`);
    return;
  }
  await withRoot(async (root, planFor) => {
    // What plan() targets when kubeadm runs here: kubectl with the admin.conf kubeadm init has not written yet.
    const adminConf = join(root, 'etc/kubernetes/admin.conf');
    const p = planFor({}, { ...goodFacts(), programs: { nft: '/usr/sbin/nft', kubectl } });
    p.manifests!.target = { kind: 'kubectl', kubeconfig: adminConf, kubectl };
    const dry = await apply(p, { dryRun: true });
    const step = dry.steps.find((s) => s.step === 'manifests')!;
    assert.is(step.action, 'would-change', JSON.stringify(step));
    assert.match(step.detail, `after kubeadm init writes ${adminConf}`);
    assert.equal(tree(root), []);
    // A real run whose kubeadm init left no admin.conf says so (and what to do), instead of kubectl's stat error.
    try {
      await apply(p);
      assert.unreachable('applied without a kubeconfig');
    } catch (err) {
      assert.match((err as Error).message, `${adminConf} does not exist — run kubeadm init`);
    }
  });
});

test('kubeadm is printed, never run, under a stand-in root — even where it is installed', async () => {
  await withRoot(async (root, planFor) => {
    const facts = { ...goodFacts(), programs: { nft: '/usr/sbin/nft', kubeadm: '/bin/false' }, kubeadmVersion: 'v1.37.2' };
    const p = planFor({}, facts);
    assert.not.ok(p.kubeadm!.run);
    assert.equal(p.kubeadm!.command, ['/bin/false', 'init', '--config', join(root, 'etc/netboot/kubeadm.yaml')]);
    const report = await apply(p);
    assert.is(report.steps.find((s) => s.step === 'kubeadm-init')!.action, 'printed');
  });
});

test('--force sets another network aside; reset removes what init installed and puts it back; a second reset has nothing to do', async () => {
  await withRoot(async (root, planFor) => {
    const flannel = join(root, 'etc/cni/net.d/10-flannel.conflist');
    mkdirSync(join(root, 'etc/cni/net.d'), { recursive: true });
    writeFileSync(flannel, '{"name":"cbr0","plugins":[{"type":"flannel"}]}');
    writeFileSync(join(root, 'etc/cni/net.d/99-loopback.conf'), '{"name":"lo","type":"loopback"}');
    const facts = goodFacts();
    facts.cniConfigs.push(
      { file: '10-flannel.conflist', network: 'cbr0', plugins: ['flannel'], text: '' },
      { file: '99-loopback.conf', network: 'lo', plugins: ['loopback'], text: '' },
    );
    const report = await apply(planFor({ force: true }, facts));
    assert.is(report.steps.find((s) => s.step === 'cni-set-aside')!.action, 'updated');
    assert.ok(existsSync(`${flannel}.netboot-disabled`));
    assert.not.ok(existsSync(flannel));
    // The second run finds the set-aside files no longer loaded; the record keeps them.
    const again = await apply(planFor({ force: true }, afterFirstRun()));
    assert.not.ok(again.changed, JSON.stringify(again.steps));

    const dry = reset({ root, dryRun: true });
    assert.ok(dry.done.every((l) => l.startsWith('would ')));
    assert.ok(existsSync(join(root, 'opt/cni/bin/netboot')), 'a dry reset removes nothing');
    const done = reset({ root });
    assert.equal(done.left, []);
    assert.ok(done.done.some((l) => l === `restored ${flannel}`));
    assert.equal(tree(root), ['etc/cni/net.d/10-flannel.conflist', 'etc/cni/net.d/99-loopback.conf']);
    assert.equal(reset({ root }), { done: [], left: [] });
  });
});

test('reset leaves what it did not install, and says when a set-aside file cannot go back', async () => {
  await withRoot(async (root, planFor) => {
    const flannel = join(root, 'etc/cni/net.d/10-flannel.conflist');
    mkdirSync(join(root, 'etc/cni/net.d'), { recursive: true });
    writeFileSync(flannel, '{}');
    const facts = goodFacts();
    facts.cniConfigs.push({ file: '10-flannel.conflist', plugins: [], text: '{}' });
    await apply(planFor({ force: true }, facts));
    writeFileSync(flannel, '{"someone":"else"}');
    writeFileSync(join(root, 'etc/netboot/notes.txt'), 'an operator’s file');
    const r = reset({ root });
    assert.equal(r.left, [`${flannel}.netboot-disabled not restored: ${flannel} exists again`]);
    assert.equal(tree(root), ['etc/cni/net.d/10-flannel.conflist', 'etc/cni/net.d/10-flannel.conflist.netboot-disabled', 'etc/netboot/notes.txt']);
  });
});

test('join installs the plugin and conflist only (no kubeadm config, no manifests); reset undoes it', async () => {
  await withRoot(async (root, planFor) => {
    const p = planFor({ role: 'join' });
    assert.is(p.kubeadm, undefined);
    assert.is(p.manifests, undefined);
    const report = await apply(p);
    assert.equal(
      report.steps.map((s) => `${s.step}:${s.action}`),
      ['cni:created', 'state:created'],
    );
    assert.equal(tree(root), JOIN_FILES);
    reset({ root });
    assert.equal(tree(root), []);
  });
});

test('writeArtifacts writes the kubeadm config, manifests and conflist into a directory and nothing else', async () => {
  await withRoot(async (root, planFor) => {
    const out = join(root, '..', 'out');
    const p = planFor({ out });
    assert.is(p.kubeadm!.path, join(out, 'kubeadm.yaml'));
    assert.equal(p.manifests!.target, { kind: 'file', path: join(out, 'netboot.yaml') });
    writeArtifacts(p, out);
    assert.equal(tree(out), ['10-netboot.conflist', 'kubeadm.yaml', 'netboot.yaml']);
    assert.equal(tree(root), []);
  });
});

test.run();
