// Network configuration: bridge's field names and netboot's defaults; error 7 naming the field.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseConfig, requestedIps } from '../src/cni/config.js';
import { CniError } from '../src/cni/errors.js';

const base = { cniVersion: '1.1.0', name: 'podnet', type: 'netboot', ipam: { type: 'netboot' } };

function fails(conf: Record<string, unknown>, code: number, field: string) {
  try {
    parseConfig(conf);
  } catch (err) {
    assert.instance(err, CniError);
    assert.is((err as CniError).code, code, (err as Error).message);
    assert.match((err as Error).message, field);
    return;
  }
  assert.unreachable(`${JSON.stringify(conf)} was accepted`);
}

test('defaults: cni0, gateway and default gateway on, masquerade off, lease file and host-local dataDir', () => {
  const c = parseConfig(base);
  assert.equal(
    { bridge: c.bridge, isGateway: c.isGateway, isDefaultGateway: c.isDefaultGateway, ipMasq: c.ipMasq, hairpin: c.hairpinMode, promisc: c.promiscMode },
    { bridge: 'cni0', isGateway: true, isDefaultGateway: true, ipMasq: false, hairpin: false, promisc: false },
  );
  assert.equal(c.ipam, {
    type: 'netboot',
    ranges: undefined,
    routes: [],
    dataDir: '/var/lib/cni/networks',
    resolvConf: undefined,
    leaseFile: '/run/netboot/subnet.json',
  });
});

test('unknown top-level fields are ignored, as the spec requires', () => {
  assert.is(parseConfig({ ...base, somethingNew: { x: 1 }, capabilities: { portMappings: true } }).name, 'podnet');
});

test('host-local fields: dual-stack ranges, routes, legacy single subnet', () => {
  const c = parseConfig({
    ...base,
    ipam: {
      type: 'netboot',
      ranges: [[{ subnet: '10.244.1.0/24', rangeStart: '10.244.1.10', gateway: '10.244.1.1' }], [{ subnet: 'fd00:10:244:1::/64' }]],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '10.96.0.0/12', gw: '10.244.1.1' }],
      dataDir: '/tmp/x',
    },
  });
  assert.equal(c.ipam, {
    type: 'netboot',
    ranges: [[{ subnet: '10.244.1.0/24', rangeStart: '10.244.1.10', gateway: '10.244.1.1' }], [{ subnet: 'fd00:10:244:1::/64' }]],
    routes: [{ dst: '0.0.0.0/0' }, { dst: '10.96.0.0/12', gw: '10.244.1.1' }],
    dataDir: '/tmp/x',
    resolvConf: undefined,
    leaseFile: '/run/netboot/subnet.json',
  });
  const legacy = parseConfig({ ...base, ipam: { type: 'netboot', subnet: '10.1.0.0/16', rangeEnd: '10.1.0.50' } });
  assert.equal((legacy.ipam as { ranges: unknown }).ranges, [[{ subnet: '10.1.0.0/16', rangeEnd: '10.1.0.50' }]]);
});

test('any other ipam.type is delegated', () => {
  assert.equal(parseConfig({ ...base, ipam: { type: 'host-local', subnet: 'whatever' } }).ipam, { type: 'host-local' });
});

test('a known field with a wrong type or value is error 7 naming the field', () => {
  fails({ ...base, ipMasq: 'yes' }, 7, 'ipMasq');
  fails({ ...base, isGateway: 1 }, 7, 'isGateway');
  fails({ ...base, hairpinMode: 'true' }, 7, 'hairpinMode');
  fails({ ...base, mtu: 20 }, 7, 'mtu');
  fails({ ...base, mtu: '1500' }, 7, 'mtu');
  fails({ ...base, bridge: 'br/0' }, 7, 'bridge');
  fails({ ...base, name: '../x' }, 7, 'name');
  fails({ ...base, type: 3 }, 7, 'type');
  fails({ ...base, ipam: undefined }, 7, 'ipam');
  fails({ ...base, ipam: {} }, 7, 'ipam.type');
  fails({ ...base, ipam: { type: 'netboot', ranges: [[{ subnet: '10.244.1.7/24' }]] } }, 7, 'ipam.ranges[0][0].subnet');
  fails({ ...base, ipam: { type: 'netboot', ranges: [[{ subnet: '10.244.1.0/24', gateway: 'x' }]] } }, 7, 'ipam.ranges[0][0].gateway');
  fails({ ...base, ipam: { type: 'netboot', ranges: [] } }, 7, 'ipam.ranges');
  fails({ ...base, ipam: { type: 'netboot', routes: [{ dst: 'nope' }] } }, 7, 'ipam.routes[0].dst');
  fails({ ...base, isGateway: false, isDefaultGateway: true }, 7, 'isGateway');
  fails({ ...base, prevResult: { ips: [{ address: '10.0.0.2' }] } }, 7, 'prevResult.ips[0].address');
  fails({ ...base, 'cni.dev/valid-attachments': [{ containerID: 'a' }] }, 7, 'cni.dev/valid-attachments[0]');
});

test('cniVersion missing or unsupported is error 1', () => {
  fails({ ...base, cniVersion: undefined }, 1, 'no cniVersion');
  fails({ ...base, cniVersion: '2.0.0' }, 1, '2.0.0');
});

test('GC also accepts the pre-rename key cni.dev/attachments', () => {
  assert.equal(parseConfig({ ...base, 'cni.dev/attachments': [{ containerID: 'c', ifname: 'eth0' }] }).validAttachments, [
    { containerId: 'c', ifname: 'eth0' },
  ]);
});

test('CNI_ARGS: IP= requests addresses; unknown keys are error 2 unless IgnoreUnknown', () => {
  assert.equal(requestedIps({ IP: '10.0.0.5,fd00::5', K8S_POD_NAME: 'x' }), ['10.0.0.5', 'fd00::5']);
  assert.equal(requestedIps({ IgnoreUnknown: '1', FOO: 'bar' }), []);
  try {
    requestedIps({ FOO: 'bar' });
    assert.unreachable();
  } catch (err) {
    assert.is((err as CniError).code, 2);
    assert.match((err as Error).message, 'FOO');
  }
});

test.run();
