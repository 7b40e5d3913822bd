// Results in every supported cniVersion, and prevResult read back from any of them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type CniResult, formatResult, parseResult } from '../src/cni/result.js';
import { SUPPORTED_VERSIONS } from '../src/cni/versions.js';

const result: CniResult = {
  interfaces: [
    { name: 'cni0', mac: '02:00:00:00:00:01' },
    { name: 'nbv0123456789ab', mac: '02:00:00:00:00:02' },
    { name: 'eth0', mac: '02:00:00:00:00:03', mtu: 1450, sandbox: '/run/netns/p' },
  ],
  ips: [
    { address: '10.244.1.2/24', gateway: '10.244.1.1', interface: 2 },
    { address: 'fd00::2/64', gateway: 'fd00::1', interface: 2 },
  ],
  routes: [{ dst: '0.0.0.0/0', gw: '10.244.1.1', mtu: 1400 }],
  dns: { nameservers: ['10.96.0.10'] },
};

test('1.1.0 keeps interface mtu and route mtu; 1.0.0 drops them; 0.x adds ips[].version', () => {
  const v11 = formatResult(result, '1.1.0');
  assert.equal(v11, { cniVersion: '1.1.0', ...result });
  const v10 = formatResult(result, '1.0.0') as { interfaces: object[]; routes: object[]; ips: object[] };
  assert.equal(v10.interfaces[2], { name: 'eth0', mac: '02:00:00:00:00:03', sandbox: '/run/netns/p' });
  assert.equal(v10.routes, [{ dst: '0.0.0.0/0', gw: '10.244.1.1' }]);
  assert.equal(v10.ips, result.ips);
  for (const v of ['0.3.0', '0.3.1', '0.4.0'] as const) {
    const old = formatResult(result, v) as { cniVersion: string; ips: { version: string }[] };
    assert.is(old.cniVersion, v);
    assert.equal(
      old.ips.map((ip) => ip.version),
      ['4', '6'],
    );
  }
});

test('every version round-trips through parseResult to the same 1.1.0 shape (minus fields it cannot carry)', () => {
  for (const v of SUPPORTED_VERSIONS) {
    const back = parseResult(JSON.parse(JSON.stringify(formatResult(result, v))), 'prevResult');
    const expected = v === '1.1.0' ? result : parseResult(formatResult(result, '1.0.0'), 'x');
    assert.equal(back, expected, v);
  }
});

test('an IPAM result (no interfaces) parses; a dangling interface index is error 7', () => {
  assert.equal(parseResult({ cniVersion: '0.4.0', ips: [{ version: '4', address: '10.0.0.2/24' }] }, 'ipam'), {
    ips: [{ address: '10.0.0.2/24' }],
    routes: [],
    dns: {},
  });
  assert.throws(() => parseResult({ ips: [{ address: '10.0.0.2/24', interface: 1 }] }, 'prevResult'), /prevResult.ips\[0\].interface/);
});

test.run();
