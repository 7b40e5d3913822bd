// Links against the kernel, each test in fresh namespaces, results checked with `ip -j` and ping.
import { readFileSync } from 'node:fs';
import { test as uvuTest } from 'uvu';
import * as assert from 'uvu/assert';
import { NetlinkError, isNotFound } from '../src/netlink/errors.js';
import { ensureLink, InvalidLinkSpecError, LinkNotFoundError } from '../src/link.js';
import type { LinkSpec } from '../src/link.js';
import type { NetnsRef } from '../src/netns.js';
import { ipJson, privileged, sh, throwsA, withNetns, withRtnl } from '../src/public/testing.js';

const test = privileged(uvuTest);

const ipLink = (ns: NetnsRef, dev: string): any => ipJson(ns, '-d', 'link', 'show', 'dev', dev)[0];
const names = (ns: NetnsRef): string[] => ipJson(ns, 'link', 'show').map((l: { ifname: string }) => l.ifname);

test('veth peer created directly in another namespace; addresses; ping both ways', async () => {
  await withNetns(2, (a, b) => {
    const va = withRtnl(a, ({ link, addr }) => {
      link.add({ kind: 'veth', name: 'va', up: true, peer: { name: 'vb', netns: b, up: true } });
      const va = link.get('va');
      addr.add('va', '10.244.1.2/24');
      return va;
    });
    withRtnl(b, ({ link, addr }) => {
      assert.ok(link.get('vb').up, 'peer brought up in its namespace');
      addr.add('vb', '10.244.1.3/24');
      link.set('lo', { up: true });
    });
    assert.is(va.kind, 'veth');
    assert.ok(va.up);
    assert.equal(names(a).sort(), ['lo', 'va'], 'peer never appears in a');
    assert.equal(names(b).sort(), ['lo', 'vb']);
    assert.is(ipLink(a, 'va').ifindex, va.index);
    assert.match(sh(a, 'ping', '-c1', '-W1', '10.244.1.3'), /1 received/);
    assert.match(sh(b, 'ping', '-c1', '-W1', '10.244.1.2'), /1 received/);
  });
});

test('bridge with two veths attached; list filters by master and kind', async () => {
  await withNetns(1, (ns) => {
    withRtnl(ns, ({ link }) => {
      link.add({ kind: 'bridge', name: 'br0', up: true });
      const br = link.get('br0');
      link.add({ kind: 'veth', name: 'p1', peer: { name: 'p1x' }, master: 'br0' });
      link.add({ kind: 'veth', name: 'p2', peer: { name: 'p2x', up: true } });
      assert.ok(ipLink(ns, 'p2x').flags.includes('UP'), 'peer up in the same namespace');
      link.set('p2', { master: br.index, up: true });
      for (const p of ['p1', 'p2']) assert.is(ipLink(ns, p).master, 'br0', `${p} attached`);
      assert.equal(
        link
          .list({ master: 'br0' })
          .map((l) => l.name)
          .sort(),
        ['p1', 'p2'],
      );
      assert.equal(
        link.list({ kind: 'bridge' }).map((l) => l.name),
        ['br0'],
      );
      assert.is(link.list({ kind: 'veth' }).length, 4);
      assert.is(link.get('p1').master, br.index);
      link.set('p1', { master: null });
      assert.is(ipLink(ns, 'p1').master, undefined, 'nomaster detaches');
      assert.is(link.get('p1').master, undefined);
    });
  });
});

test('vxlan: ip -d shows the requested id, port, local, dev, learning, ttl', async () => {
  await withNetns(1, (ns) => {
    withRtnl(ns, ({ link }) => {
      link.add({ kind: 'veth', name: 'under', peer: { name: 'under1' } });
      link.add({ kind: 'vxlan', name: 'vx0', vni: 42, port: 4789, local: '10.0.0.1', dev: 'under', learning: false, ttl: 5, mtu: 1450 });
      const vx = link.get('vx0');
      const d = ipLink(ns, 'vx0');
      assert.is(d.linkinfo.info_kind, 'vxlan');
      assert.is(d.linkinfo.info_data.id, 42);
      assert.is(d.linkinfo.info_data.port, 4789);
      assert.is(d.linkinfo.info_data.local, '10.0.0.1');
      assert.is(d.linkinfo.info_data.link, 'under');
      assert.is(d.linkinfo.info_data.learning, false);
      assert.is(d.linkinfo.info_data.ttl, 5);
      assert.is(d.mtu, 1450);
      assert.is(vx.info?.IFLA_VXLAN_ID, 42);
      assert.is(vx.info?.IFLA_VXLAN_PORT, 4789);
      link.add({ kind: 'vxlan', name: 'vx1', vni: 7, learning: true });
      const learning = link.get('vx1');
      assert.is(ipLink(ns, 'vx1').linkinfo.info_data.learning, true);
      assert.is(ipLink(ns, 'vx1').linkinfo.info_data.port, 4789, 'default port is IANA 4789');
      assert.is(learning.info?.IFLA_VXLAN_LEARNING, 1);
    });
  });
});

test('macvlan on a veth, each mode', async () => {
  await withNetns(1, (ns) => {
    withRtnl(ns, ({ link }) => {
      link.add({ kind: 'veth', name: 'va', peer: { name: 'vb' } });
      const va = link.get('va');
      for (const mode of ['bridge', 'private', 'vepa'] as const) {
        link.add({ kind: 'macvlan', name: `mv-${mode}`, mode, link: 'va' });
        const mv = link.get(`mv-${mode}`);
        const d = ipLink(ns, mv.name);
        assert.is(d.linkinfo.info_kind, 'macvlan');
        assert.is(d.linkinfo.info_data.mode, mode);
        assert.is(d.link, 'va');
        assert.is(mv.parent, va.index);
      }
    });
  });
});

test('set: mtu, address, name, down/up, netns', async () => {
  await withNetns(2, (a, b) => {
    withRtnl(a, ({ link }) => {
      link.add({ kind: 'veth', name: 'v0', peer: { name: 'v0p' }, mtu: 1400, address: '02:00:00:00:00:01' });
      const v = link.get('v0');
      assert.is(ipLink(a, 'v0').mtu, 1400);
      assert.is(ipLink(a, 'v0').address, '02:00:00:00:00:01');
      link.set('v0', { mtu: 1300, address: '02:00:00:00:00:AA' });
      assert.is(ipLink(a, 'v0').mtu, 1300);
      assert.is(ipLink(a, 'v0').address, '02:00:00:00:00:aa');
      link.set(v.index, { up: true });
      assert.ok(ipLink(a, 'v0').flags.includes('UP'));
      link.set('v0', { up: false });
      assert.not.ok(ipLink(a, 'v0').flags.includes('UP'));
      link.set('v0', { name: 'renamed' });
      assert.is(link.get(v.index).name, 'renamed');
      assert.ok(names(a).includes('renamed'));
      link.set('renamed', { netns: b, name: 'moved' });
      assert.not.ok(names(a).includes('renamed'));
      assert.is(link.find('renamed'), undefined);
    });
    withRtnl(a, ({ link }) => {
      link.add({ kind: 'veth', name: 'w0', peer: { name: 'w1' } });
      link.set('w0', { netns: b.path });
    });
    assert.not.ok(names(a).includes('w0'));
    assert.ok(names(b).includes('w0'), 'moved by name, namespace given as a path');
    assert.ok(names(b).includes('moved'), 'moved and renamed in one request');
    assert.is(ipLink(b, 'moved').mtu, 1300);
  });
});

test('errors: EEXIST on a taken name, ENODEV with the kernel message on a missing one', async () => {
  await withNetns(1, (ns) => {
    withRtnl(ns, ({ link }) => {
      link.add({ kind: 'bridge', name: 'br0' });
      const dup = throwsA(() => link.add({ kind: 'bridge', name: 'br0' }), NetlinkError, undefined, 'duplicate add');
      assert.is(dup.code, 'EEXIST');
      assert.is(dup.op, 'RTM_NEWLINK');
      const del = throwsA(() => link.del('nope0'), LinkNotFoundError, /"nope0" not found .*no such device/i, 'del of a missing link');
      assert.instance(del, NetlinkError);
      assert.is(del.code, 'ENODEV');
      assert.is(del.op, 'RTM_DELLINK');
      assert.ok(isNotFound(throwsA(() => link.get('nope0'), LinkNotFoundError, /"nope0"/, 'get of a missing link')));
      assert.is(link.find(9999), undefined);
      throwsA(() => link.index('nope0'), LinkNotFoundError);
      assert.is(throwsA(() => link.set('nope0', { up: true }), LinkNotFoundError).op, 'RTM_NEWLINK');
      throwsA(() => link.set(9999, { mtu: 1400 }), LinkNotFoundError);
      link.del('br0');
      assert.not.ok(names(ns).includes('br0'));
    });
  });
});

test('createLater: the veth is made while this thread works; its answer (or EEXIST) comes from the function returned', async () => {
  await withNetns(2, (a, b) => {
    withRtnl(a, ({ link }) => {
      const spec = { kind: 'veth', name: 'va', mtu: 1400, peer: { name: 'eth0', netns: b, mtu: 1400, address: '02:00:00:00:00:07' } } as const;
      const finish = link.createLater(spec);
      let busy = 0;
      for (let i = 0; i < 1e5; i++) busy += i; // other work while the kernel makes the pair
      const va = finish();
      assert.ok(busy > 0);
      assert.is(va.name, 'va');
      assert.is(va.index, ipLink(a, 'va').ifindex);
      assert.is(va.mtu, 1400);
      assert.is(va.parent ?? va.index, ipLink(b, 'eth0').ifindex, "the peer's index in its namespace (left out when it equals va's)");
      assert.is(ipLink(b, 'eth0').address, '02:00:00:00:00:07');
      const again = link.createLater(spec); // refused by the kernel: thrown when read, not when sent
      const dup = throwsA(again, NetlinkError, undefined, 'second create');
      assert.is(dup.code, 'EEXIST');
      assert.is(link.get('va').index, va.index, 'the socket answers the next request');
      assert.equal(names(a).sort(), ['lo', 'va']);
    });
  });
});

test('veth queues: both ends made with that many TX and RX queues (ip -d); out of range refused before sending', async () => {
  await withNetns(2, (a, b) => {
    withRtnl(a, ({ link }) => {
      // Unset, each end gets one queue per possible CPU (2 here): then this test can tell.
      link.create({ kind: 'veth', name: 'vq', queues: 1, peer: { name: 'eth0', netns: b } });
      const queues = (ns: NetnsRef, dev: string) => [ipLink(ns, dev).num_tx_queues, ipLink(ns, dev).num_rx_queues];
      assert.equal(queues(a, 'vq'), [1, 1]);
      assert.equal(queues(b, 'eth0'), [1, 1]);
      // /sys/devices/system/cpu/possible is e.g. '0-1' or '0': its last number + 2 is one more than the possible CPUs.
      const more = Number(readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim().split(/[-,]/).pop()) + 2;
      // And one more than the possible CPUs, which no default gives: the 1/1 above is the option's on any machine too.
      link.create({ kind: 'veth', name: 'vqn', queues: more, peer: { name: 'eth3', netns: b } });
      assert.equal(queues(a, 'vqn'), [more, more]);
      assert.equal(queues(b, 'eth3'), [more, more]);
      throwsA(() => link.create({ kind: 'veth', name: 'vz', queues: 0, peer: { name: 'eth2', netns: b } }), InvalidLinkSpecError);
      assert.equal(names(a).sort(), ['lo', 'vq', 'vqn']);
    });
  });
});

test('ensureLink: creates, keeps a compatible link, fixes drift, replaces an incompatible one', async () => {
  await withNetns(1, (ns) => {
    withRtnl(ns, ({ link }) => {
      const spec: LinkSpec = { kind: 'vxlan', name: 'vx0', vni: 1, port: 4789, learning: false, mtu: 1450 };
      const first = ensureLink(link, spec);
      const again = ensureLink(link, spec);
      assert.is(again.index, first.index, 'kept');
      sh(ns, 'ip', 'link', 'set', 'vx0', 'mtu', '1300');
      const fixed = ensureLink(link, { ...spec, up: true });
      assert.is(fixed.index, first.index, 'changed in place');
      assert.is(ipLink(ns, 'vx0').mtu, 1450);
      assert.ok(fixed.up);
      const replaced = ensureLink(link, { ...spec, vni: 2 });
      assert.is.not(replaced.index, first.index, 'recreated for a new VNI');
      assert.is(ipLink(ns, 'vx0').linkinfo.info_data.id, 2);
      const bridge = ensureLink(link, { kind: 'bridge', name: 'vx0' });
      assert.is(bridge.kind, 'bridge', 'another kind replaces it');
      assert.is(ipLink(ns, 'vx0').linkinfo.info_kind, 'bridge');
    });
  });
});

test.run();
