// ipMasq: one nftables table of the plugin's own with a set of pod addresses; run inside the test's
// node namespace only. Proof that it masquerades: a "outside" namespace with no route back to the
// pod subnet answers the pod's ping only when the source was rewritten.
import { sh } from '@netboot/core/testing';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NFT_TABLE } from '../src/cni/masq.js';
import { type Node, usePlugin } from './cni-fixture.js';

const onNode = usePlugin(test);

/** Pod addresses in the masquerade sets, as `nft -j list table inet netboot-cni` shows them. */
function elements(node: Node): { ip: string; comment: string | undefined }[] {
  let out: string;
  try {
    out = sh(node.ns, 'nft', '-j', 'list', 'table', 'inet', NFT_TABLE);
  } catch {
    return [];
  }
  return JSON.parse(out).nftables.flatMap((i: any) =>
    i.set?.name.startsWith('pods')
      ? (i.set.elem ?? []).map((e: any) => (typeof e === 'string' ? { ip: e, comment: undefined } : { ip: e.elem.val, comment: e.elem.comment }))
      : [],
  );
}

test('ADD adds one element per pod and the pod reaches a host that has no route back; DEL removes it', () =>
  onNode((node) => {
    const outside = node.pod();
    sh(node.ns, 'ip', 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'ext0', 'netns', outside.name);
    sh(node.ns, 'ip', 'addr', 'add', '192.168.50.1/24', 'dev', 'up0');
    sh(node.ns, 'ip', 'link', 'set', 'up0', 'up');
    sh(outside, 'ip', 'addr', 'add', '192.168.50.2/24', 'dev', 'ext0');
    sh(outside, 'ip', 'link', 'set', 'ext0', 'up');
    const conf = node.conf({ ipMasq: true });
    const [a, b] = [node.pod(), node.pod()];
    const ra = node.add(a, conf);
    node.add(b, conf);
    assert.equal(
      elements(node)
        .map((e) => e.ip)
        .sort(),
      ['10.244.1.2', '10.244.1.3'],
    );
    sh(a, 'ping', '-c1', '-W2', '192.168.50.2');
    sh(a, 'ping', '-c1', '-W2', '10.244.1.3'); // inside the subnet: not masqueraded, still works
    const del = node.run('DEL', { ...conf, prevResult: ra }, { containerId: a.name, netns: a.path });
    assert.is(del.code, 0, JSON.stringify(del.out));
    assert.equal(
      elements(node).map((e) => e.ip),
      ['10.244.1.3'],
    );
    // DEL without prevResult finds the element by the attachment
    assert.is(node.run('DEL', conf, { containerId: b.name, netns: b.path }).code, 0);
    assert.equal(elements(node), []);
    assert.is(node.run('DEL', conf, { containerId: b.name, netns: b.path }).code, 0, 'DEL again');
  }));

test('GC removes the elements of attachments not in the valid list; a failed ADD leaves no element', () =>
  onNode((node) => {
    const conf = node.conf({ ipMasq: true });
    const pods = [node.pod(), node.pod()];
    for (const p of pods) node.add(p, conf);
    const r = node.run('GC', { ...conf, 'cni.dev/valid-attachments': [{ containerID: pods[1]!.name, ifname: 'eth0' }] });
    assert.is(r.code, 0, JSON.stringify(r.out));
    assert.equal(
      elements(node).map((e) => e.ip),
      ['10.244.1.3'],
    );
    const bad = node.pod();
    const failed = node.run('ADD', node.conf({ ipMasq: true }, { routes: [{ dst: '192.168.0.0/16', gw: '172.16.0.1' }] }), {
      containerId: bad.name,
      netns: bad.path,
    });
    assert.is(failed.code, 1);
    assert.equal(
      elements(node).map((e) => e.ip),
      ['10.244.1.3'],
    );
  }));

test.run();
