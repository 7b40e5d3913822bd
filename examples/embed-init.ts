// An installer that embeds `netboot init` the way an image builder or cluster provisioner would: it
// picks the network itself, gets every artifact from plan() as data, shows the preflight in its own
// words, applies the plan step by step into a stand-in root, proves a second run changes nothing, and
// resets. No host is read (no facts: an image has no host yet), so this loads no FFI and needs no root.
//
//   node --conditions=source --import tsx examples/embed-init.ts            # dry run into a temp root
//   NETBOOT_PLUGIN=dist/cni/netboot node --conditions=source --import tsx examples/embed-init.ts
//                                                                            # installs that built plugin too
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apply, formatChecks, plan, reset } from 'netboot';

const root = mkdtempSync(join(tmpdir(), 'embed-init-'));
const plugin = process.env.NETBOOT_PLUGIN;
try {
  const p = plan({
    podCIDRs: ['10.244.0.0/16', 'fd00:10:244::/56'],
    serviceCIDRs: ['10.96.0.0/12', 'fd00:10:96::/112'],
    mode: 'vxlan',
    root,
    ...(plugin === undefined ? {} : { cniBinary: plugin }),
  });
  console.log(formatChecks(p.preflight));
  if (!p.ok) process.exit(1);

  // Every artifact is data: bake the kubeadm config into the image, ship the manifests with it.
  const networking = p.kubeadm!.object.networking as { podSubnet: string };
  console.log(`kubeadm ${p.kubeadm!.api}: podSubnet ${networking.podSubnet}; ${p.manifests!.objects.length} agent objects; conflist ${p.cni.conflistPath}`);

  const dryRun = plugin === undefined;
  const first = await apply(p, { dryRun, onProgress: (line) => console.log(`  … ${line}`) });
  for (const s of first.steps) console.log(`${s.step}: ${s.action} ${s.detail}`);
  if (!dryRun) {
    const again = await apply(
      plan({ podCIDRs: ['10.244.0.0/16', 'fd00:10:244::/56'], serviceCIDRs: ['10.96.0.0/12', 'fd00:10:96::/112'], mode: 'vxlan', root, cniBinary: plugin }),
    );
    console.log(again.changed ? 'second run changed something' : 'second run: nothing to change');
    console.log(reset({ root }).done.join('\n'));
  }
  console.log(`workers: ${first.joinCommand}`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
