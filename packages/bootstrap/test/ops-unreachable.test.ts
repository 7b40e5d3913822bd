// The operator commands when their datastore cannot be reached: each says what it tried and what to do
// next (--kubeconfig FILE, $KUBECONFIG, --datastore etcd --etcd-endpoint URL), and exits 1 — never a raw
// ENOENT or client-node's "localhost:8080 … HTTP protocol is not allowed".
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { netboot } from './ops-fixture.js';

const home = mkdtempSync(join(tmpdir(), 'nbt-home-'));
// No kubeconfig anywhere: an empty home, no $KUBECONFIG, not in a pod.
const bare = { HOME: home, KUBECONFIG: '', KUBERNETES_SERVICE_HOST: '' };
test.after(() => rmSync(home, { recursive: true, force: true }));

test('status without any kubeconfig names what it tried and the fix', async () => {
  const r = await netboot.env(bare)('status', '--health-port', '0');
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, `${home}/.kube/config (missing)`);
  assert.match(r.stderr, '--kubeconfig FILE');
  assert.match(r.stderr, '$KUBECONFIG');
  assert.match(r.stderr, '--datastore etcd --etcd-endpoint URL');
  assert.not.match(r.stderr, 'localhost:8080');
});

test('status with a missing --kubeconfig or $KUBECONFIG file says so, not ENOENT', async () => {
  const a = await netboot.env(bare)('status', '--kubeconfig', join(home, 'nope.conf'), '--health-port', '0');
  assert.is(a.code, 1);
  assert.match(a.stderr, `kubeconfig ${home}/nope.conf does not exist: give --kubeconfig FILE`);
  assert.not.match(a.stderr, 'ENOENT');
  const b = await netboot.env({ ...bare, KUBECONFIG: join(home, 'gone') })('status', '--health-port', '0');
  assert.is(b.code, 1);
  assert.match(b.stderr, `$KUBECONFIG names ${home}/gone, and none of it exists`);
});

test('doctor reports the missing kubeconfig once, with the fix, and exits 1', async () => {
  const r = await netboot.env(bare)('doctor', '--root', home, '--health-port', '0', '--json');
  assert.is(r.code, 1);
  const finding = r.json().findings.find((f: { check: string }) => f.check === 'pod-subnet');
  assert.match(finding.message, 'no kubeconfig to reach the Kubernetes API');
  assert.match(finding.message, '--datastore etcd --etcd-endpoint URL');
  assert.is(finding.message.split('no kubeconfig').length, 2, finding.message);
});

test('pool and ipam on an etcd that does not answer name the endpoint and exit 1', async () => {
  for (const args of [
    ['pool', 'list'],
    ['ipam', 'check'],
  ]) {
    const r = await netboot(...args, '--etcd-endpoint', 'http://127.0.0.1:1');
    assert.is(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, 'http://127.0.0.1:1');
    assert.match(r.stderr, /etcd is running|--etcd-endpoint/);
  }
});

test.run();
