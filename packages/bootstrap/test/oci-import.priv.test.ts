// The lab images imported into a real containerd, run as a kubelet lab node runs it: in a throwaway
// namespace, its own private mount namespace, root, state, socket and cgroups. `ctr images ls` must list
// both names as CRI will look them up, and after stopping it nothing is left in its cgroups.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { privileged, tempNetns } from '@netboot/core/testing';
import { test as uvuTest } from 'uvu';
import * as assert from 'uvu/assert';
import { buildLabImages, HTTP_TEST, missingBusybox, PAUSE } from '../src/lab/images/busybox.js';
import { makeNodeCgroups, removeNodeCgroups } from '../src/lab/kubelet/cgroups.js';
import { runtimeLayout } from '../src/lab/kubelet/layout.js';
import { ctr, importImages, missingContainerd, RUN_CONTAINERD, startContainerd, waitForContainerd } from '../src/lab/kubelet/runtime.js';
import { isRunning, stopProcess } from '../src/lab/processes.js';

const needs = () => {
  const missing = missingContainerd() ?? missingBusybox();
  if (missing !== undefined && process.env.CI) throw new Error(missing);
  return missing;
};
const test = privileged(uvuTest, needs);

test('containerd in its own mount namespace imports the lab images', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nbt-oci-import-'));
  const ns = tempNetns();
  const cgroup = `/nbt-oci-${randomBytes(4).toString('hex')}`;
  const madeRun = !existsSync(RUN_CONTAINERD);
  if (madeRun) mkdirSync(RUN_CONTAINERD);
  const l = runtimeLayout(join(dir, 'node'));
  let proc: ReturnType<typeof startContainerd> | undefined;
  try {
    const images = buildLabImages(join(dir, 'images'));
    proc = startContainerd(ns.name, l, PAUSE.name, makeNodeCgroups(cgroup));
    await waitForContainerd(proc, l);
    const names = await importImages(
      l,
      images.map((i) => i.archive),
    );
    assert.ok(names.includes(PAUSE.name), names.join(', '));
    assert.ok(names.includes(HTTP_TEST.name), names.join(', '));
    // Unpacked for overlayfs (CRI needs the snapshot), and the host's /run/containerd untouched.
    const listing = await ctr(l, ['images', 'ls']);
    assert.match(listing, /netboot\/pause:1/);
    assert.ok(readdirSync(join(l.containerdRoot, 'io.containerd.snapshotter.v1.overlayfs', 'snapshots')).length >= 1);
    assert.equal(readdirSync(RUN_CONTAINERD), [], 'nothing written to the host /run/containerd');
  } finally {
    if (proc !== undefined) await stopProcess(proc);
    const killed = await removeNodeCgroups(cgroup);
    assert.is(killed, 0, 'containerd left no process behind');
    assert.not.ok(proc !== undefined && isRunning(proc));
    assert.not.ok(existsSync(`/sys/fs/cgroup/memory${cgroup}`));
    ns.delete();
    rmSync(dir, { recursive: true, force: true });
    if (madeRun) rmdirSync(RUN_CONTAINERD);
  }
});

test.run();
