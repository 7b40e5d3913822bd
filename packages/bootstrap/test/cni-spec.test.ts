// Spec tests: the bundled plugin run as a runtime runs it (env + stdin, exit code, JSON on stdout),
// in nbt-* namespaces; every verb, every cniVersion, the error codes with nothing left behind.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ipJson, sh, type TempNetns } from '@netboot/core/testing';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CNI_VERSIONS, type Node, usePlugin } from './cni-fixture.js';

const onNode = usePlugin(test);

function podAddrs(ns: TempNetns, ifname = 'eth0'): string[] {
  return ipJson(ns, 'addr', 'show', 'dev', ifname)[0]
    .addr_info.filter((a: { scope: string }) => a.scope === 'global')
    .map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`);
}

function assertClean(node: Node, what: string): void {
  assert.equal(node.hostLinks(), [], `${what}: host links left`);
  assert.equal(node.reservations(), [], `${what}: reservations left`);
}

test('ADD in every cniVersion: the result in that version, the pod configured and reaching its gateway; DEL removes it all', () =>
  onNode((node) => {
    for (const cniVersion of CNI_VERSIONS) {
      const pod = node.pod();
      const result = node.add(pod, node.conf({ cniVersion }));
      assert.is(result.cniVersion, cniVersion);
      assert.is(result.interfaces.length, 3);
      assert.is(result.interfaces[2].name, 'eth0');
      assert.is(result.interfaces[2].sandbox, pod.path);
      assert.is(result.interfaces[2].mtu !== undefined, cniVersion === '1.1.0', `interface mtu only in 1.1.0 (${cniVersion})`);
      assert.is(result.ips[0].version !== undefined, cniVersion < '1.0.0', `ips[].version only before 1.0.0 (${cniVersion})`);
      assert.is(result.ips[0].interface, 2);
      assert.is(result.ips[0].gateway, '10.244.1.1');
      assert.equal(podAddrs(pod), [result.ips[0].address]);
      const hostVeth = ipJson(node.ns, 'link', 'show', result.interfaces[1].name)[0];
      assert.is(hostVeth.master, 'cni0');
      assert.equal(result.routes, [{ dst: '0.0.0.0/0', gw: '10.244.1.1' }]);
      assert.is(ipJson(pod, 'route', 'show', 'default')[0].gateway, '10.244.1.1');
      sh(pod, 'ping', '-c1', '-W2', '10.244.1.1');
    }
    for (const pod of node.pods) {
      const r = node.run('DEL', node.conf(), { containerId: pod.name, netns: pod.path });
      assert.is(r.code, 0, JSON.stringify(r.out));
    }
    assertClean(node, 'after DEL');
    assert.equal(
      ipJson(node.pods[0]!, 'link', 'show').map((l: { ifname: string }) => l.ifname),
      ['lo'],
    );
  }));

test('two pods on the bridge reach each other; a repeated ADD is refused and leaves the first pod intact', () =>
  onNode((node) => {
    const a = node.pod();
    const b = node.pod();
    const ra = node.add(a, node.conf());
    const rb = node.add(b, node.conf());
    assert.is.not(ra.ips[0].address, rb.ips[0].address);
    sh(a, 'ping', '-c1', '-W2', rb.ips[0].address.split('/')[0]);
    const again = node.run('ADD', node.conf(), { containerId: a.name, netns: a.path });
    assert.is(again.code, 1);
    assert.is(again.out.code, 102);
    assert.match(again.out.msg, 'eth0 already exists');
    assert.equal(podAddrs(a), [ra.ips[0].address]);
    assert.is(node.reservations().length, 2);
    // Another attachment into a pod whose eth0 is taken: refused, and its fresh reservation released.
    const other = node.run('ADD', node.conf(), { containerId: `${a.name}-other`, netns: a.path });
    assert.is(other.out.code, 102, JSON.stringify(other.out));
    assert.match(other.out.msg, 'eth0 already exists');
    assert.is(node.reservations().length, 2);
    assert.equal(podAddrs(a), [ra.ips[0].address]);
    sh(a, 'ping', '-c1', '-W2', rb.ips[0].address.split('/')[0]);
  }));

test('a repeated ADD after a partial one (interface gone, reservation kept) gets the same IP back', () =>
  onNode((node) => {
    const pod = node.pod();
    const first = node.add(pod, node.conf());
    sh(node.ns, 'ip', 'link', 'del', first.interfaces[1].name); // what a plugin killed mid-ADD could leave
    const again = node.add(pod, node.conf());
    assert.is(again.ips[0].address, first.ips[0].address);
    assert.equal(node.reservations(), [first.ips[0].address.split('/')[0]]);
    sh(pod, 'ping', '-c1', '-W2', '10.244.1.1');
  }));

test('DEL twice, DEL without CNI_NETNS, DEL after the netns was deleted: all succeed and leave nothing', () =>
  onNode((node) => {
    const [p1, p2, p3] = [node.pod(), node.pod(), node.pod()];
    for (const p of [p1, p2, p3]) node.add(p, node.conf());
    assert.is(node.run('DEL', node.conf(), { containerId: p1.name, netns: p1.path }).code, 0);
    assert.is(node.run('DEL', node.conf(), { containerId: p1.name, netns: p1.path }).code, 0);
    assert.is(node.run('DEL', node.conf(), { containerId: p2.name }).code, 0);
    p3.delete();
    const gone = node.run('DEL', node.conf(), { containerId: p3.name, netns: p3.path });
    assert.is(gone.code, 0, JSON.stringify(gone.out));
    assertClean(node, 'after the DELs');
  }));

test('CHECK passes after ADD and names what changed: a host MTU, a removed route', () =>
  onNode((node) => {
    const pod = node.pod();
    const result = node.add(pod, node.conf());
    const conf = { ...node.conf(), prevResult: result };
    const ok = node.run('CHECK', conf, { containerId: pod.name, netns: pod.path });
    assert.is(ok.code, 0, JSON.stringify(ok.out));
    sh(node.ns, 'ip', 'link', 'set', result.interfaces[1].name, 'mtu', '1400');
    const mtu = node.run('CHECK', conf, { containerId: pod.name, netns: pod.path });
    assert.is(mtu.out.code, 100);
    assert.match(mtu.out.msg, `host interface ${result.interfaces[1].name} has MTU 1400, the container's eth0 1500`);
    sh(node.ns, 'ip', 'link', 'set', result.interfaces[1].name, 'mtu', '1500');
    sh(pod, 'ip', 'route', 'del', 'default');
    const bad = node.run('CHECK', conf, { containerId: pod.name, netns: pod.path });
    assert.is(bad.code, 1);
    assert.is(bad.out.code, 100);
    assert.match(bad.out.msg, 'route 0.0.0.0/0 via 10.244.1.1 is missing');
    const noPrev = node.run('CHECK', node.conf(), { containerId: pod.name, netns: pod.path });
    assert.is(noPrev.out.code, 7);
    assert.match(noPrev.out.msg, 'prevResult');
  }));

test('each error code from a malformed or wrong input, with cniVersion, and nothing left behind', () =>
  onNode((node) => {
    const pod = node.pod();
    const inv = { containerId: pod.name, netns: pod.path };
    const notNetns = join(node.dir, 'not-a-netns');
    writeFileSync(notNetns, '');
    const cases: [string, number, () => ReturnType<Node['run']>][] = [
      ['no CNI_COMMAND', 4, () => node.run(undefined, node.conf(), inv)],
      ['unknown CNI_COMMAND', 4, () => node.run('FROB', node.conf(), inv)],
      ['ADD without CNI_NETNS', 4, () => node.run('ADD', node.conf(), { containerId: pod.name })],
      ['stdin not JSON', 6, () => node.run('ADD', '{"cniVersion": ', inv)],
      ['unsupported cniVersion', 1, () => node.run('ADD', node.conf({ cniVersion: '9.9.9' }), inv)],
      ['a field of the wrong type', 7, () => node.run('ADD', node.conf({ ipMasq: 'yes' }), inv)],
      ['a subnet with host bits', 7, () => node.run('ADD', node.conf({}, { ranges: [[{ subnet: '10.244.1.5/24' }]] }), inv)],
      ['an unknown CNI_ARGS key', 2, () => node.run('ADD', node.conf(), { ...inv, args: 'FOO=bar' })],
      ['a netns that does not exist', 3, () => node.run('ADD', node.conf(), { ...inv, netns: '/run/netns/nbt-does-not-exist' })],
      // The veth is sent before the pod's socket is opened: the kernel refuses it, and error 3 still comes, with nothing left.
      ['a netns path that is no namespace', 3, () => node.run('ADD', node.conf(), { ...inv, netns: notNetns })],
      ['no node lease yet', 11, () => node.run('ADD', node.conf({}, { ranges: undefined, leaseFile: join(node.dir, 'missing.json') }), inv)],
      ['an IPAM plugin not in CNI_PATH', 103, () => node.run('ADD', node.conf({}, { type: 'no-such-ipam' }), inv)],
    ];
    for (const [what, code, run] of cases) {
      const r = run();
      assert.is(r.code, 1, what);
      assert.is(r.out.code, code, `${what}: ${JSON.stringify(r.out)}`);
      assert.is(typeof r.out.cniVersion, 'string', what);
      assert.ok(r.out.msg.length > 10, what);
      assertClean(node, what);
      assert.equal(ipJson(pod, 'link', 'show').length, 1, `${what}: the pod has only lo`);
    }
  }));

test('an exhausted range is error 101 and STATUS says 50; the failed ADD leaves no veth or reservation', () =>
  onNode((node) => {
    const conf = node.conf({}, { ranges: [[{ subnet: '10.244.1.0/24', rangeStart: '10.244.1.9', rangeEnd: '10.244.1.9' }]] });
    assert.is(node.run('STATUS', conf).code, 0);
    const [a, b] = [node.pod(), node.pod()];
    node.add(a, conf);
    const full = node.run('STATUS', conf);
    assert.is(full.out.code, 50);
    assert.match(full.out.msg, '10.244.1.0/24');
    const r = node.run('ADD', conf, { containerId: b.name, netns: b.path });
    assert.is(r.out.code, 101, JSON.stringify(r.out));
    assert.is(node.hostLinks().length, 1);
    assert.equal(node.reservations(), ['10.244.1.9']);
  }));

test('a failure late in ADD (a route the kernel refuses) unwinds: no veth, no reservation', () =>
  onNode((node) => {
    const pod = node.pod();
    const r = node.run('ADD', node.conf({}, { routes: [{ dst: '192.168.0.0/16', gw: '172.16.0.1' }] }), { containerId: pod.name, netns: pod.path });
    assert.is(r.code, 1);
    assert.ok(r.out.code >= 100, JSON.stringify(r.out));
    assertClean(node, 'after the failed ADD');
    assert.equal(ipJson(pod, 'link', 'show').length, 1);
  }));

test('STATUS before and after the node lease exists; ADD then allocates from the lease', () =>
  onNode((node) => {
    const leaseFile = join(node.dir, 'subnet.json');
    const conf = node.conf({}, { ranges: undefined, leaseFile });
    const before = node.run('STATUS', conf);
    assert.is(before.out.code, 50);
    assert.match(before.out.msg, leaseFile);
    writeFileSync(leaseFile, JSON.stringify({ subnets: ['10.244.7.0/24'], mtu: 1400 }));
    assert.is(node.run('STATUS', conf).code, 0);
    const pod = node.pod();
    const result = node.add(pod, conf);
    assert.is(result.ips[0].address, '10.244.7.2/24');
    assert.is(result.interfaces[2].mtu, 1400);
    assert.is(ipJson(pod, 'link', 'show', 'eth0')[0].mtu, 1400);
  }));

test('without mtu in the config or the lease, pods get the MTU of the uplink (the device of the route out), else 1500', () =>
  onNode((node) => {
    const conf = node.conf({ cniVersion: '1.1.0' });
    const first = node.pod();
    assert.is(node.add(first, conf).interfaces[2].mtu, 1500, 'no route out: 1500');
    sh(node.ns, 'ip', 'link', 'add', 'up0', 'mtu', '1400', 'type', 'veth', 'peer', 'name', 'up1');
    sh(node.ns, 'ip', 'link', 'set', 'up0', 'up');
    sh(node.ns, 'ip', 'addr', 'add', '192.168.77.2/24', 'dev', 'up0');
    sh(node.ns, 'ip', 'route', 'add', 'default', 'via', '192.168.77.1');
    const second = node.pod();
    assert.is(node.add(second, conf).interfaces[2].mtu, 1400);
    assert.is(ipJson(second, 'link', 'show', 'eth0')[0].mtu, 1400);
  }));

test('DEL still releases the IP after the node lease file is gone', () =>
  onNode((node) => {
    const leaseFile = join(node.dir, 'subnet.json');
    writeFileSync(leaseFile, JSON.stringify({ subnets: ['10.244.7.0/24'] }));
    const conf = node.conf({}, { ranges: undefined, leaseFile });
    const pod = node.pod();
    node.add(pod, conf);
    rmSync(leaseFile);
    const r = node.run('DEL', conf, { containerId: pod.name, netns: pod.path });
    assert.is(r.code, 0, JSON.stringify(r.out));
    assertClean(node, 'DEL without lease');
  }));

test('CNI_ARGS IP= asks for an address; hairpinMode and promiscMode are set on the bridge', () =>
  onNode((node) => {
    const pod = node.pod();
    const result = node.add(pod, node.conf({ hairpinMode: true, promiscMode: true }), pod.name, { args: 'IgnoreUnknown=1;K8S_POD_NAME=web;IP=10.244.1.50' });
    assert.is(result.ips[0].address, '10.244.1.50/24');
    const port = JSON.parse(sh(node.ns, 'bridge', '-j', '-d', 'link', 'show', 'dev', result.interfaces[1].name))[0];
    assert.is(port.hairpin, true, JSON.stringify(port));
    assert.ok(ipJson(node.ns, 'link', 'show', 'cni0')[0].flags.includes('PROMISC'));
  }));

test('GC releases reservations and host links of attachments not in cni.dev/valid-attachments', () =>
  onNode((node) => {
    const pods = [node.pod(), node.pod(), node.pod()];
    for (const p of pods) node.add(p, node.conf());
    const keep = pods[0]!;
    const r = node.run('GC', { ...node.conf(), 'cni.dev/valid-attachments': [{ containerID: keep.name, ifname: 'eth0' }] });
    assert.is(r.code, 0, JSON.stringify(r.out));
    assert.is(node.reservations().length, 1);
    assert.is(node.hostLinks().length, 1);
    sh(keep, 'ping', '-c1', '-W2', '10.244.1.1');
    // the older key works too
    const r2 = node.run('GC', { ...node.conf(), 'cni.dev/attachments': [] });
    assert.is(r2.code, 0);
    assertClean(node, 'after GC with nothing valid');
  }));

test('dual-stack ADD: an address per family, a default route per family, both gateways reachable', () =>
  onNode((node) => {
    const pod = node.pod();
    const conf = node.conf({}, { ranges: [[{ subnet: '10.244.1.0/24' }], [{ subnet: 'fd00:10:244:1::/64' }]] });
    const result = node.add(pod, conf);
    assert.equal(
      result.ips.map((ip: { address: string }) => ip.address),
      ['10.244.1.2/24', 'fd00:10:244:1::2/64'],
    );
    assert.equal(result.routes, [
      { dst: '0.0.0.0/0', gw: '10.244.1.1' },
      { dst: '::/0', gw: 'fd00:10:244:1::1' },
    ]);
    sh(pod, 'ping', '-c1', '-W2', '10.244.1.1');
    sh(pod, 'ping', '-6', '-c1', '-W2', 'fd00:10:244:1::1');
    assert.is(node.run('DEL', conf, { containerId: pod.name, netns: pod.path }).code, 0);
    assertClean(node, 'dual-stack DEL');
  }));

test('delegated host-local (Debian /usr/lib/cni): ADD uses its result, CHECK and DEL go through it', () =>
  onNode((node) => {
    const dataDir = join(node.dir, 'hl');
    // Debian's host-local (1.1.1) speaks up to 1.0.0.
    const conf = { ...node.conf({ cniVersion: '1.0.0' }), ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.244.9.0/24' }]] } };
    const pod = node.pod();
    const result = node.add(pod, conf);
    assert.is(result.ips[0].address, '10.244.9.2/24');
    assert.equal(node.reservations('podnet', dataDir), ['10.244.9.2']);
    sh(pod, 'ping', '-c1', '-W2', '10.244.9.1');
    const check = node.run('CHECK', { ...conf, prevResult: result }, { containerId: pod.name, netns: pod.path });
    assert.is(check.code, 0, JSON.stringify(check.out));
    // STATUS and GC (1.1) are forwarded; host-local 1.1.1 predates them, which does not fail the network.
    const conf11 = { ...conf, cniVersion: '1.1.0' };
    assert.is(node.run('STATUS', conf11).code, 0);
    assert.is(node.run('GC', { ...conf11, 'cni.dev/valid-attachments': [{ containerID: pod.name, ifname: 'eth0' }] }).code, 0);
    assert.equal(node.hostLinks().length, 1, 'GC kept the valid pod');
    assert.is(node.run('DEL', { ...conf, prevResult: result }, { containerId: pod.name, netns: pod.path }).code, 0);
    assert.equal(node.reservations('podnet', dataDir), []);
    assert.equal(node.hostLinks(), []);
  }));

test('a failed ADD releases its address only after the pod lost it (no two pods ever hold one IP)', () =>
  onNode((node) => {
    // An IPAM plugin whose route cannot be added in the pod (its gateway is off the pod's subnet), so
    // the ADD fails after the pod got its address; its DEL notes what the pod holds when it runs.
    const cniPath = join(node.dir, 'cni-bin');
    const held = join(node.dir, 'held-at-release');
    mkdirSync(cniPath);
    const result = { cniVersion: '1.0.0', ips: [{ address: '10.244.9.5/24', gateway: '10.244.9.1' }], routes: [{ dst: '10.99.0.0/16', gw: '10.77.0.1' }] };
    writeFileSync(
      join(cniPath, 'noting-ipam'),
      `#!/bin/sh\ncat >/dev/null\ncase "$CNI_COMMAND" in\nADD) echo '${JSON.stringify(result)}' ;;\nDEL) nsenter --net="$CNI_NETNS" ip -o addr show > ${held} 2>&1 ;;\nesac\n`,
      { mode: 0o755 },
    );
    const pod = node.pod();
    const r = node.run(
      'ADD',
      { ...node.conf({ cniVersion: '1.0.0' }), ipam: { type: 'noting-ipam' } },
      { containerId: pod.name, netns: pod.path, path: cniPath },
    );
    assert.is.not(r.code, 0, JSON.stringify(r.out));
    assert.not.match(readFileSync(held, 'utf8'), '10.244.9.5', 'the address was released while the pod still held it');
    assert.equal(node.hostLinks(), []);
  }));

test('VERSION lists 0.3.0 … 1.1.0', () =>
  onNode((node) => {
    const r = node.run('VERSION', '');
    assert.equal(r.out, { cniVersion: '1.1.0', supportedVersions: [...CNI_VERSIONS] });
  }));

test.run();
