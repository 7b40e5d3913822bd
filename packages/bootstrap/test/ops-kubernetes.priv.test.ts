// `netboot status` and `netboot doctor`'s pod-subnet check on a real Kubernetes API server and
// controller manager (src/testing/control-plane.ts): Nodes whose spec.podCIDRs the node IPAM assigned,
// and a kubeadm-config ConfigMap whose podSubnet agrees with them, then does not. Skips without the
// Kubernetes binaries (printing the command that builds them), except in CI.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { privileged, tempNetns, withTempDir } from '@netboot/core/testing';
import { type ControlPlane, missingKubernetes, startControlPlane } from '../src/testing/control-plane.js';
import { netboot } from './ops-fixture.js';

const it = privileged(test, () => (process.env.CI === 'true' ? undefined : missingKubernetes()));
let cp: ControlPlane | undefined;
it.after(async () => {
  await cp?.stop();
});

/** A Node as the kubelet registers it and the agent annotates it. */
const nodeObject = (name: string, ip: string) =>
  JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name, annotations: { 'netboot.io/node-ips': ip, 'netboot.io/mode': 'vxlan' } } });

const kubeadmConfig = (podSubnet: string) =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'kubeadm-config', namespace: 'kube-system' },
    data: { ClusterConfiguration: `apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nnetworking:\n  podSubnet: ${podSubnet}\n` },
  });

async function podCIDRsOf(name: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const cidrs = cp!.kubectl(['get', 'node', name, '-o', 'jsonpath={.spec.podCIDRs[*]}']).trim();
    if (cidrs !== '') return cidrs;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the controller manager gave ${name} no podCIDRs`);
}

it('status lists the Nodes’ podCIDRs; doctor compares kubeadm’s podSubnet with Node.spec.podCIDRs', async () => {
  cp = await startControlPlane({ podCIDR: '10.244.0.0/16' });
  cp.kubectl(['create', '-f', '-'], nodeObject('node1', '192.168.1.11'));
  cp.kubectl(['create', '-f', '-'], nodeObject('node2', '192.168.1.12'));
  const cidr1 = await podCIDRsOf('node1');
  const cidr2 = await podCIDRsOf('node2');

  const status = await netboot('status', '--kubeconfig', cp.kubeconfig, '--health-port', '0', '--json');
  assert.is(status.code, 0, status.stderr);
  assert.equal(
    status.json().nodes.map((n: { name: string; podCIDRs: string[]; nodeIPs: string[] }) => [n.name, n.podCIDRs.join(' '), n.nodeIPs]),
    [
      ['node1', cidr1, ['192.168.1.11']],
      ['node2', cidr2, ['192.168.1.12']],
    ],
  );

  cp.kubectl(['apply', '-f', '-'], kubeadmConfig('10.244.0.0/16'));
  const ns = tempNetns();
  try {
    await withTempDir(async (root) => {
      const doctor = async () => {
        const r = await netboot('doctor', '--kubeconfig', cp!.kubeconfig, '--root', root, '--netns', ns.name, '--node', 'node1', '--json');
        return (r.json().findings as { check: string; status: string; message: string }[]).find((f) => f.check === 'pod-subnet')!;
      };
      const agree = await doctor();
      assert.is(agree.status, 'ok', agree.message);
      assert.match(agree.message, new RegExp(`agree with kubeadm podSubnet 10\\.244\\.0\\.0/16, Node\\.spec\\.podCIDRs ${cidr1.replace(/\./g, '\\.')}`));
      // kubeadm was told another pod network than the controller manager's --cluster-cidr.
      cp!.kubectl(['apply', '-f', '-'], kubeadmConfig('10.32.0.0/12'));
      const differ = await doctor();
      assert.is(differ.status, 'problem');
      assert.match(differ.message, new RegExp(`Node node1's spec\\.podCIDRs ${cidr1.replace(/\./g, '\\.')} is outside kubeadm's podSubnet 10\\.32\\.0\\.0/12`));
    });
  } finally {
    ns.delete();
  }
});

test.run();
