// What a warm server's kept node facts (node-watch.ts NodeFacts) make of each rtnetlink event, fed as
// the kernel's bytes: the pods' own veths and their IPv6 link-local routes change nothing; the
// bridge's own RTM_NEWLINK is handed back to be decoded (bridgeChanged: kept as it now is while still
// up, else dropped); its other link or address events drop the bridge; a route that covers the uplink probe, a rule, or
// another device's link event drops the uplink; a change of `all` forwarding drops every bridge.
// The kernel end of it (a served ADD after each such change) is in cni-server.priv.test.ts.
import { constants, type Link } from '@netboot/core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NodeFacts } from '../src/cni/node-watch.js';

function rtattr(type: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt16LE(4 + payload.length, 0);
  head.writeUInt16LE(type, 2);
  const pad = Buffer.alloc((4 - (payload.length % 4)) % 4);
  return Buffer.concat([head, payload, pad]);
}

function message(type: number, body: Buffer): Buffer {
  const head = Buffer.alloc(16);
  head.writeUInt32LE(16 + body.length, 0);
  head.writeUInt16LE(type, 4);
  return Buffer.concat([head, body]);
}

function link(index: number, name: string, type = constants.RTM_NEWLINK): Buffer {
  const ifi = Buffer.alloc(16);
  ifi.writeInt32LE(index, 4);
  return message(type, Buffer.concat([ifi, rtattr(constants.IFLA_IFNAME, Buffer.from(`${name}\0`))]));
}

function addr(index: number, type = constants.RTM_NEWADDR): Buffer {
  const ifa = Buffer.alloc(8);
  ifa[0] = constants.AF_INET6;
  ifa.writeInt32LE(index, 4);
  return message(type, ifa);
}

function route(family: number, dst: number[] | undefined, dstLen: number): Buffer {
  const rtm = Buffer.alloc(12);
  rtm[0] = family;
  rtm[1] = dstLen;
  return message(constants.RTM_NEWROUTE, dst === undefined ? rtm : Buffer.concat([rtm, rtattr(constants.RTA_DST, Buffer.from(dst))]));
}

function netconf(family: number, ifindex: number): Buffer {
  const index = Buffer.alloc(4);
  index.writeInt32LE(ifindex, 0);
  return message(constants.RTM_NEWNETCONF, Buffer.concat([Buffer.from([family, 0, 0, 0]), rtattr(1, index)]));
}

const BRIDGE = 2;
const UPLINK = 3;

/** Facts holding bridge cni0 (index 2) and the uplink (index 3), after `events`. */
function after(...events: Buffer[]): { bridge: boolean; uplink: boolean } {
  const facts = new NodeFacts();
  facts.bridges.set('cni0', { link: { index: BRIDGE } as never, gateways: new Set(['10.244.1.1/24']) });
  facts.uplink = { mtu: 1400, index: UPLINK };
  for (const e of events) assert.not.ok(facts.apply(e, 0, e.length), 'nothing to decode');
  return { bridge: facts.bridges.has('cni0'), uplink: facts.uplink !== undefined };
}

const kept = { bridge: true, uplink: true };

test("a pod's own events change nothing: its veth's links, link-local address and routes, its netconf", () => {
  const fe80 = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
  const ff00 = [0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
  assert.equal(
    after(
      link(9, 'nbv0123456789ab'),
      link(9, 'nbv0123456789ab', constants.RTM_DELLINK),
      addr(9),
      route(constants.AF_INET6, fe80, 64),
      route(constants.AF_INET6, ff00, 8),
      netconf(constants.AF_INET, 9),
    ),
    kept,
  );
});

test("the bridge's own RTM_NEWLINK (a port joined or left): decoded, it replaces the kept link while the bridge is up", () => {
  const facts = new NodeFacts();
  const was = { index: BRIDGE, name: 'cni0', kind: 'bridge', up: true, address: '02:00:00:00:00:01' } as Link;
  facts.bridges.set('cni0', { link: was, gateways: new Set(['10.244.1.1/24']) });
  facts.uplink = { mtu: 1400, index: UPLINK };
  const event = link(BRIDGE, 'cni0');
  assert.ok(facts.apply(event, 0, event.length), 'to be decoded');
  assert.ok(facts.bridges.has('cni0'), 'not dropped before it is decoded');
  facts.bridgeChanged({ ...was, address: '02:00:00:00:00:02' });
  assert.equal(facts.bridges.get('cni0'), { link: { ...was, address: '02:00:00:00:00:02' }, gateways: new Set(['10.244.1.1/24']) });
  assert.ok(facts.uplink !== undefined, 'the uplink stays');
  facts.bridgeChanged({ ...was, up: false });
  assert.not.ok(facts.bridges.has('cni0'), 'down: dropped');
  assert.equal(after(addr(BRIDGE, constants.RTM_DELADDR), link(BRIDGE, 'cni0')), { bridge: false, uplink: false }, 'no longer kept: another device');
});

test('the bridge: its other link or address events drop it (and only it)', () => {
  assert.equal(after(link(BRIDGE, 'cni0', constants.RTM_DELLINK)), { bridge: false, uplink: true });
  assert.equal(after(addr(BRIDGE, constants.RTM_DELADDR)), { bridge: false, uplink: true });
  assert.equal(after(netconf(constants.AF_INET, -1)), { bridge: false, uplink: true }, 'net.ipv4.ip_forward (all)');
  assert.equal(after(netconf(constants.AF_INET6, -2)), { bridge: false, uplink: true }, 'default');
});

test("the uplink: a route covering the probe, a rule, the uplink's or another device's link event drop it", () => {
  assert.equal(after(route(constants.AF_INET, undefined, 0)), { bridge: true, uplink: false }, 'default route');
  assert.equal(after(route(constants.AF_INET, [192, 0, 2, 0], 24)), { bridge: true, uplink: false }, '192.0.2.0/24');
  assert.equal(after(route(constants.AF_INET, [10, 0, 0, 0], 8)), kept, '10.0.0.0/8 does not cover 192.0.2.1');
  assert.equal(after(route(constants.AF_INET6, [0x20, 0x01, 0x0d, 0xb8], 32)), { bridge: true, uplink: false }, '2001:db8::/32');
  assert.equal(after(message(constants.RTM_NEWRULE, Buffer.alloc(12))), { bridge: true, uplink: false }, 'rule');
  assert.equal(after(link(UPLINK, 'eth0')), { bridge: true, uplink: false }, 'the uplink itself');
  assert.equal(after(link(7, 'eth1')), { bridge: true, uplink: false }, 'another device');
});

test.run();
