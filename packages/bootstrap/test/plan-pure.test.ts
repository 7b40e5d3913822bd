// `import { plan, apply } from 'netboot'` loads no FFI: the package's "." entry is imported, and a
// plan made and applied (dry) to a stand-in root, in a child Node in which `koffi` cannot be loaded —
// as on a laptop or an installer's build machine. gatherFacts() reads the host through netlink, so it
// must fail there: that case proves the block is real.
import { fileURLToPath } from 'node:url';
import { runWithout } from '@netboot/core/testing/pure';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const cwd = fileURLToPath(new URL('..', import.meta.url));

test("'netboot' plans and dry-applies without koffi", () => {
  const { status, output } = runWithout(
    ['koffi'],
    `
    import { mkdtempSync } from 'node:fs';
    import { tmpdir } from 'node:os';
    import { join } from 'node:path';
    import { plan, apply, formatChecks } from 'netboot';
    const root = mkdtempSync(join(tmpdir(), 'nbt-pure-'));
    const p = plan({ podCIDRs: ['10.244.0.0/16', 'fd00:10:244::/56'], root });
    if (!p.ok) throw new Error(formatChecks(p.preflight));
    const r = await apply(p, { dryRun: true });
    console.log('podSubnet', p.kubeadm.object.networking.podSubnet, 'objects', p.manifests.objects.length, 'steps', r.steps.map((s) => s.action).join(','));
  `,
    { cwd },
  );
  assert.is(status, 0, output);
  assert.match(output, /podSubnet 10\.244\.0\.0\/16,fd00:10:244::\/56 objects [1-9]\d* steps would-change/);
});

test('examples/embed-init.ts (an installer embedding plan/apply) runs without koffi', () => {
  const { status, output } = runWithout(['koffi'], `await import('../../examples/embed-init.ts');`, { cwd });
  assert.is(status, 0, output);
  assert.match(output, /kubeadm v1beta4: podSubnet 10\.244\.0\.0\/16,fd00:10:244::\/56; [1-9]\d* agent objects/);
  assert.match(output, /workers: netboot join --pod-cidr/);
});

test('gatherFacts() needs koffi (the block is real)', () => {
  const { status, output } = runWithout(['koffi'], `import { gatherFacts } from 'netboot'; await gatherFacts({ probeKernel: false });`, { cwd });
  assert.is.not(status, 0, output);
  assert.match(output, /koffi is blocked/);
});

test.run();
