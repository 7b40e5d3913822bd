// Chaining with Debian's reference meta plugins (portmap, bandwidth, tuning), the way libcni runs a conflist: each plugin gets the
// list's name and cniVersion, the previous result as prevResult and its capabilities' runtimeConfig;
// DEL runs in reverse order with the final result.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { sh } from '@netboot/core/testing';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Node, usePlugin } from './cni-fixture.js';

const onNode = usePlugin(test);

type Plugin = Record<string, unknown> & { type: string };

/** A CNI_PATH holding netboot and the reference plugins, as a node would have. */
function cniPath(node: Node): string {
  return `${dirname(node.plugin)}:/usr/lib/cni`;
}

/** libcni's ADD/DEL over a plugin list (what shared/harness/cni-exec.sh does, without jq). */
function runList(
  node: Node,
  command: 'ADD' | 'DEL',
  plugins: Plugin[],
  inv: { containerId: string; netns: string; path: string },
  runtime: Record<string, unknown>,
  cached?: unknown,
): unknown {
  const order = command === 'ADD' ? plugins : [...plugins].reverse();
  let prev = cached;
  for (const p of order) {
    const conf: Record<string, unknown> = { ...p, name: 'podnet', cniVersion: '1.0.0' };
    if (prev !== undefined) conf.prevResult = prev;
    const caps = Object.keys((p.capabilities as Record<string, boolean> | undefined) ?? {}).filter((k) => k in runtime);
    if (caps.length > 0) conf.runtimeConfig = Object.fromEntries(caps.map((k) => [k, runtime[k]]));
    const binary = p.type === 'netboot' ? node.plugin : join('/usr/lib/cni', p.type);
    const r = node.run(command, conf, { ...inv, binary, env: { CNI_PATH: inv.path } });
    assert.is(r.code, 0, `${p.type} ${command}: ${JSON.stringify(r.out)} ${r.stderr}`);
    if (command === 'ADD' && r.out !== undefined) prev = r.out;
  }
  return prev;
}

test('[netboot, portmap]: a TCP request to the host port reaches a server in the pod; DEL in reverse removes the DNAT', () =>
  onNode(async (node) => {
    const path = cniPath(node);
    const pod = node.pod();
    const netboot = { ...node.conf(), type: 'netboot' } as Plugin;
    delete netboot.cniVersion;
    const plugins: Plugin[] = [netboot, { type: 'portmap', capabilities: { portMappings: true }, snat: true }];
    const runtime = { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] };
    const inv = { containerId: pod.name, netns: pod.path, path };
    const result = runList(node, 'ADD', plugins, inv, runtime);
    const server = spawn(
      'ip',
      ['netns', 'exec', pod.name, process.execPath, '-e', "require('http').createServer((q,s)=>s.end('hello-from-pod')).listen(80,()=>console.log('up'))"],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise((resolve) => server.stdout!.once('data', resolve));
      const got = sh(node.ns, process.execPath, '-e', "fetch('http://10.244.1.1:8080/').then(r=>r.text()).then(t=>process.stdout.write(t))");
      assert.is(got, 'hello-from-pod');
      assert.match(sh(node.ns, 'iptables-save', '-t', 'nat'), '--to-destination 10.244.1.2:80');
    } finally {
      server.kill();
    }
    runList(node, 'DEL', plugins, inv, runtime, result);
    // portmap keeps its shared top-level chains; the pod's own DNAT rule must be gone.
    const nat = sh(node.ns, 'iptables-save', '-t', 'nat');
    assert.match(nat, 'CNI-HOSTPORT-DNAT');
    assert.not.match(nat, '--to-destination 10.244.1.2:80');
    assert.equal(node.hostLinks(), []);
    assert.equal(node.reservations(), []);
  }));

test('[netboot, bandwidth]: the host veth gets a tbf qdisc; DEL removes the pod and its ifb', () =>
  onNode((node) => {
    const path = cniPath(node);
    const pod = node.pod();
    const netboot = { ...node.conf(), type: 'netboot' } as Plugin;
    delete netboot.cniVersion;
    const plugins: Plugin[] = [netboot, { type: 'bandwidth', capabilities: { bandwidth: true } }];
    const runtime = { bandwidth: { ingressRate: 1_000_000, ingressBurst: 100_000, egressRate: 1_000_000, egressBurst: 100_000 } };
    const inv = { containerId: pod.name, netns: pod.path, path };
    const result = runList(node, 'ADD', plugins, inv, runtime) as { interfaces: { name: string }[] };
    const hostVeth = result.interfaces[1]!.name;
    const qdiscs = JSON.parse(sh(node.ns, 'tc', '-j', 'qdisc', 'show', 'dev', hostVeth)) as { kind: string }[];
    assert.ok(
      qdiscs.some((q) => q.kind === 'tbf'),
      JSON.stringify(qdiscs),
    );
    runList(node, 'DEL', plugins, inv, runtime, result);
    assert.equal(node.hostLinks(), []);
    assert.equal(node.reservations(), []);
  }));

test('[netboot, tuning]: a sysctl set in the pod on ADD; DEL in reverse order succeeds and leaves nothing', () =>
  onNode((node) => {
    const path = cniPath(node);
    const pod = node.pod();
    const netboot = { ...node.conf(), type: 'netboot' } as Plugin;
    delete netboot.cniVersion;
    const plugins: Plugin[] = [netboot, { type: 'tuning', sysctl: { 'net.core.somaxconn': '512' } }];
    const inv = { containerId: pod.name, netns: pod.path, path };
    const result = runList(node, 'ADD', plugins, inv, {});
    assert.is(sh(pod, 'sysctl', '-n', 'net.core.somaxconn').trim(), '512');
    runList(node, 'DEL', plugins, inv, {}, result);
    assert.equal(node.hostLinks(), []);
    assert.equal(node.reservations(), []);
  }));

test.run();
