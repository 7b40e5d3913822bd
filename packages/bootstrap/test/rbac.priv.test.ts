// The rendered manifests on a real API server with RBAC on (kubeadm's `--authorization-mode=Node,RBAC`):
// accepted by `kubectl apply --dry-run=server`, then applied; a token minted for the ServiceAccount runs
// real agents (two node namespaces, as test/agent.priv.test.ts does) with the DaemonSet's capabilities
// only (setpriv: bounding set = the manifest's `add`) and /proc/sys read-only, as in the container. They
// do their whole job — lease the Node's podCIDRs, publish the annotations, watch the peers, route them
// over VXLAN so pods talk across nodes — while every request outside the role is refused with 403, and
// the node policy refuses what RBAC cannot (another Node, anything but netboot.io/ annotations). Then
// each granted verb is taken away in turn and the agent fails: least privilege shown, not assumed.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { privileged, sh, skipIf } from '@netboot/core/testing';
import { renderManifests } from '../src/manifests/index.js';
import { type ControlPlane, missingKubernetes, startControlPlane } from '../src/testing/control-plane.js';
import { type AgentProcess, eventually, type Lab, makeLab, ping, routes, startAgent } from './agent-fixture.js';

const SA = 'system:serviceaccount:netboot-system:netboot';
// Without the Kubernetes binaries this file skips with the build command (in CI it runs, and fails).
const it = skipIf(privileged(test), process.env.CI === 'true' ? undefined : missingKubernetes());

let lab: Lab | undefined;
let cp: ControlPlane | undefined;
const agents: AgentProcess[] = [];
it.after(async () => {
  for (const a of agents.splice(0)) await a.stop();
  await cp?.stop();
  lab?.close();
});

// The defaults: vxlan, so the agent also makes its VXLAN device with just the manifest's capabilities.
const manifests = renderManifests({ clusterCIDRs: ['10.244.0.0/16'] });
const pod = manifests.daemonSet.spec!.template.spec!;
const agentContainer = pod.containers.find((c) => c.name === 'agent')!;

/** `kubectl --kubeconfig FILE args…` inside the control plane's namespace: stdout, or the error's stderr and code. */
function kubectlAs(kubeconfig: string, args: string[], input = ''): { ok: boolean; out: string } {
  try {
    const out = execFileSync('ip', ['netns', 'exec', lab!.underlay.name, join(cp!.bin, 'kubectl'), '--kubeconfig', kubeconfig, ...args], {
      encoding: 'utf8',
      input,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    return { ok: true, out };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    return { ok: false, out: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}

/** `kubectl auth can-i VERB RESOURCE --as=<the agent's ServiceAccount>`, asked by the admin: true for yes. */
const canI = (verb: string, resource: string, ...more: string[]) => kubectlAs(cp!.kubeconfig, ['auth', 'can-i', verb, resource, `--as=${SA}`, ...more]).ok;

/** The agent as its container runs it: the ConfigMap's agent.json, NODE_NAME as a flag, the token's kubeconfig. */
function runAgent(node: Lab['nodes'][number], kubeconfig: string): AgentProcess {
  const config = join(lab!.dir, 'agent.json');
  writeFileSync(config, manifests.configMap.data!['agent.json']!);
  const args = agentContainer.args!.map((a) => (a === '$(NODE_NAME)' ? node.name : a === '/etc/netboot/agent.json' ? config : a));
  args.push('--kubeconfig', kubeconfig, '--lease-file', join(lab!.dir, `${node.name}.lease.json`));
  // The container's privileges: a bounding set of the manifest's added capabilities only (root's
  // effective set then holds just those), and /proc/sys read-only as the runtime mounts it.
  const caps = agentContainer.securityContext!.capabilities!.add!.map((c) => `+${c.toLowerCase()}`).join(',');
  const wrap = [
    ...['unshare', '--mount', '--propagation', 'private', 'sh', '-c'],
    `mount -o bind,ro /proc/sys /proc/sys && exec setpriv --bounding-set=-all,${caps} --inh-caps=-all "$@"`,
    'sh',
  ];
  const a = startAgent(node.ns, args, wrap);
  agents.push(a);
  return a;
}

/** The capability sets of a running process, from /proc/PID/status (hex). */
function capsOf(pid: number): { eff: bigint; bnd: bigint } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => BigInt(`0x${new RegExp(`^${name}:\\s*([0-9a-f]+)$`, 'm').exec(status)![1]}`);
  return { eff: field('CapEff'), bnd: field('CapBnd') };
}

/** The HTTP status of GET `url` from inside namespace `netns` (Node's fetch), with a bearer token and a CA when given. */
function httpStatus(netns: string, url: string, token = '', ca?: string): string {
  const script = `fetch(process.argv[1], { headers: process.argv[2] ? { authorization: 'Bearer ' + process.argv[2] } : {} }).then((r) => console.log(r.status))`;
  return execFileSync('ip', ['netns', 'exec', netns, process.execPath, '-e', script, url, token], {
    encoding: 'utf8',
    env: { ...process.env, ...(ca && { NODE_EXTRA_CA_CERTS: ca }) },
  }).trim();
}

it('the rendered manifests on a real API server with RBAC: accepted, applied; the agent does its whole job with its token, and nothing more', async () => {
  lab = makeLab(2);
  cp = await startControlPlane({ netns: lab.underlay.name, address: '192.168.1.1' });

  // Accepted by the server (schema, defaulting, admission) without being stored; a namespaced object
  // needs its Namespace to exist for that, so the Namespace goes first, for real.
  cp.kubectl(['apply', '-f', '-'], JSON.stringify(manifests.namespace));
  const dry = cp.kubectl(['apply', '--dry-run=server', '-f', '-'], manifests.yaml);
  for (const o of manifests.objects) assert.match(dry, new RegExp(`${o.kind!.toLowerCase()}[\\w.]*/${o.metadata!.name} .*\\(server dry run\\)`, 'i'));
  assert.not.ok(cp.kubectl(['get', 'daemonsets', '-A', '-o', 'name']).includes('netboot'), 'a dry run stores nothing');
  cp.kubectl(['apply', '-f', '-'], manifests.yaml);
  const again = cp.kubectl(['apply', '-f', '-'], manifests.yaml).trim().split('\n');
  assert.is(again.length, manifests.objects.length);
  for (const line of again) assert.match(line, / unchanged$/, 'a second apply changes nothing');
  assert.is(cp.kubectl(['get', 'daemonset', 'netboot', '-n', 'netboot-system', '-o', 'jsonpath={.spec.template.spec.hostNetwork}']), 'true');
  // The pod the DaemonSet controller would make (no kubelet here): admitted in netboot-system — Pod
  // Security "privileged", the ServiceAccount, system-node-critical — and refused where the namespace
  // enforces "baseline", so the Namespace's label is what lets it run.
  const podIn = (namespace: string) =>
    JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'netboot-node1', namespace }, spec: { ...pod, nodeName: 'node1' } });
  cp.kubectl(['create', '--dry-run=server', '-f', '-'], podIn('netboot-system'));
  cp.kubectl(['create', 'namespace', 'nbt-baseline']);
  cp.kubectl(['label', 'namespace', 'nbt-baseline', 'pod-security.kubernetes.io/enforce=baseline']);
  cp.kubectl(['create', 'serviceaccount', 'netboot', '-n', 'nbt-baseline']);
  const baseline = kubectlAs(cp.kubeconfig, ['create', '--dry-run=server', '-f', '-'], podIn('nbt-baseline'));
  assert.not.ok(baseline.ok, 'a baseline namespace admitted the agent pod');
  assert.match(baseline.out, /violates PodSecurity "baseline:latest": .*host namespaces \(hostNetwork=true\)/, baseline.out);

  // What the kubelets would do: register the Nodes (the agent has no right to create them).
  for (const n of lab.nodes) cp.kubectl(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: n.name } }));
  // A node has ip_forward on (kubeadm's preflight demands it): the agent cannot write /proc/sys.
  for (const n of lab.nodes) sh(n.ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
  // The controller manager picks the subnets: the pods' gateways go on the bridges once they are known.
  for (const n of lab.nodes) sh(n.ns, 'ip', 'addr', 'flush', 'dev', 'cni0');

  // Each node's ServiceAccount token, bound to its Node as the kubelet's projected token is (through its
  // pod), in a kubeconfig of its own; and one bound to nothing.
  const caData = /certificate-authority-data: (\S+)/.exec(readFileSync(cp.kubeconfig, 'utf8'))![1]!;
  const tokenFor = (node?: string) => {
    const bound = node === undefined ? [] : ['--bound-object-kind=Node', `--bound-object-name=${node}`];
    const token = cp!.kubectl(['create', 'token', 'netboot', '-n', 'netboot-system', '--duration=1h', ...bound]).trim();
    const kubeconfig = join(lab!.dir, `${node ?? 'unbound'}.kubeconfig`);
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'nbt', cluster: { server: cp!.server, 'certificate-authority-data': caData } }],
        users: [{ name: 'netboot', user: { token } }],
        contexts: [{ name: 'netboot', context: { cluster: 'nbt', user: 'netboot' } }],
        'current-context': 'netboot',
      }),
    );
    return { token, kubeconfig };
  };
  const tokens = Object.fromEntries(lab.nodes.map((n) => [n.name, tokenFor(n.name)]));
  const { token, kubeconfig } = tokens.node1!;
  const whoami = kubectlAs(kubeconfig, ['auth', 'whoami', '-o', 'json']).out;
  assert.is(JSON.parse(whoami).status.userInfo.username, SA);
  assert.equal(JSON.parse(whoami).status.userInfo.extra['authentication.kubernetes.io/node-name'], ['node1']);

  // Independent check of the role: kubectl auth can-i as the ServiceAccount.
  for (const verb of ['get', 'list', 'watch', 'patch']) assert.ok(canI(verb, 'nodes'), `can ${verb} nodes`);
  const refused: [string, string, ...string[]][] = [
    ['create', 'nodes'],
    ['delete', 'nodes'],
    ['update', 'nodes'],
    ['patch', 'nodes', '--subresource=status'],
    ['list', 'secrets', '-A'],
    ['get', 'configmaps', '-n', 'netboot-system'],
    ['list', 'pods', '-A'],
    ['create', 'pods', '-n', 'netboot-system'],
    ['patch', 'daemonsets', '-n', 'netboot-system'],
    ['create', 'serviceaccounts/token', '-n', 'netboot-system'],
    ['*', '*'],
  ];
  for (const [verb, resource, ...more] of refused) assert.not.ok(canI(verb, resource, ...more), `cannot ${verb} ${resource} ${more.join(' ')}`);

  // The agents with that token only: lease, publish, watch, route — and ready, on the probes' port.
  const [n1, n2] = lab.nodes as [Lab['nodes'][number], Lab['nodes'][number]];
  for (const n of lab.nodes) runAgent(n, tokens[n.name]!.kubeconfig);
  for (const a of agents) await a.waitFor('ready', 60_000);
  for (const a of agents) {
    const { eff, bnd } = capsOf(a.child.pid!);
    assert.is(eff, 1n << 12n, `the agent ran with CAP_NET_ADMIN alone (CapEff ${eff.toString(16)})`);
    assert.is(bnd, 1n << 12n);
  }
  for (const n of lab.nodes) {
    const cidrs = cp.kubectl(['get', 'node', n.name, '-o', 'jsonpath={.spec.podCIDRs[*]}']).trim().split(' ');
    assert.equal(JSON.parse(readFileSync(join(lab.dir, `${n.name}.lease.json`), 'utf8')).subnets, cidrs, 'the lease file holds the Node podCIDRs');
    const annotations = JSON.parse(cp.kubectl(['get', 'node', n.name, '-o', 'jsonpath={.metadata.annotations}']));
    assert.is(annotations['netboot.io/node-ips'], n.ip);
    assert.is(annotations['netboot.io/mode'], 'vxlan');
    assert.match(annotations['netboot.io/vtep-mac'], /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    const port = agentContainer.readinessProbe!.httpGet!.port;
    for (const path of [agentContainer.livenessProbe!.httpGet!.path!, agentContainer.readinessProbe!.httpGet!.path!]) {
      assert.is(httpStatus(n.ns.name, `http://127.0.0.1:${port}${path}`), '200', `${path} on the probes' port`);
    }
  }
  const cidr2 = cp.kubectl(['get', 'node', 'node2', '-o', 'jsonpath={.spec.podCIDRs[0]}']).trim();
  await eventually('node1 routes node2 over netboot.1', () => routes(n1).some((r) => r.dst === cidr2 && r.dev === 'netboot.1'));
  // The pods' gateways on the bridges, as the CNI plugin sets them: pod traffic crosses the VXLAN.
  for (const n of lab.nodes) {
    n.podGateway = JSON.parse(readFileSync(join(lab.dir, `${n.name}.lease.json`), 'utf8')).gateways[0];
    sh(n.ns, 'ip', 'addr', 'add', `${n.podGateway}/24`, 'dev', 'cni0');
  }
  await eventually('pods talk across nodes', () => ping(n1, n2.podGateway));

  // Outside its rights, with its own token: 403 Forbidden from the API server.
  for (const args of [
    ['get', 'secrets', '-A'],
    ['delete', 'node', 'node2'],
    ['patch', 'node', 'node2', '--subresource=status', '--type=merge', '-p', '{"status":{"phase":"x"}}'],
    ['create', 'configmap', 'x', '-n', 'netboot-system'],
    ['scale', 'daemonset', 'netboot', '-n', 'netboot-system', '--replicas=0'],
  ]) {
    const r = kubectlAs(kubeconfig, args);
    assert.not.ok(r.ok, `kubectl ${args.join(' ')} was allowed`);
    assert.match(r.out, /forbidden: User "system:serviceaccount:netboot-system:netboot" cannot/, r.out);
  }
  const ca = join(lab.dir, 'ca.crt');
  writeFileSync(ca, Buffer.from(caData, 'base64'));
  assert.is(httpStatus(lab.underlay.name, `${cp.server}/api/v1/secrets`, token, ca), '403', 'GET /api/v1/secrets with the token');

  // What RBAC's `patch nodes` allows but the node policy does not: another Node, anything but netboot.io/
  // annotations, a token bound to no Node. Its own netboot.io/ annotations it may change.
  const annotate = (config: string, ...args: string[]) => kubectlAs(config, ['annotate', 'node', ...args, '--overwrite']);
  assert.ok(annotate(kubeconfig, 'node1', 'netboot.io/probe=1').ok, 'node1 annotates itself');
  assert.ok(annotate(kubeconfig, 'node1', 'netboot.io/probe-').ok, 'and removes its annotation');
  const { kubeconfig: unbound } = tokenFor();
  for (const [config, args, why] of [
    [kubeconfig, ['annotate', 'node', 'node2', 'netboot.io/mode=host-gw', '--overwrite'], /may change only its own Node; this token is bound to Node node1/],
    [unbound, ['annotate', 'node', 'node1', 'netboot.io/mode=host-gw', '--overwrite'], /may change only its own Node; this token is bound to no Node/],
    [kubeconfig, ['label', 'node', 'node1', 'x=y'], /may change only netboot.io\/ annotations \(not the spec, labels/],
    [kubeconfig, ['patch', 'node', 'node1', '-p', '{"spec":{"unschedulable":true}}'], /may change only netboot.io\/ annotations \(not the spec/],
    [kubeconfig, ['annotate', 'node', 'node1', 'example.com/x=y'], /may change only netboot.io\/ annotations$/m],
  ] as const) {
    const r = kubectlAs(config, [...args]);
    assert.not.ok(r.ok, `kubectl ${args.join(' ')} was allowed`);
    assert.match(r.out, /ValidatingAdmissionPolicy 'netboot-agent-node' .* denied request/, r.out);
    assert.match(r.out, why, r.out);
  }
  assert.is(cp.kubectl(['get', 'node', 'node1', '-o', 'jsonpath={.spec.unschedulable}']), '', 'node1 is untouched');

  // The watch works under the role: a Node deleted (by the admin) loses its routes at node1.
  cp.kubectl(['delete', 'node', 'node2']);
  await eventually('node2 gone from node1', () => !routes(n1).some((r) => r.dst === cidr2), 15_000);

  // `--cluster-ipam`'s Role: the requests ClusterIpam's ConfigMap store makes (create once, get, update
  // by name) pass with the token; any other ConfigMap, or one outside kube-system, is refused.
  const ipam = renderManifests({ clusterCIDRs: ['10.244.0.0/16'], datastore: { type: 'kubernetes', clusterIpam: true } });
  for (const o of [ipam.ipamRole, ipam.ipamRoleBinding]) cp.kubectl(['apply', '-f', '-'], JSON.stringify(o));
  await eventually('the ipam Role is in force', () => canI('get', 'configmaps/netboot-ipam', '-n', 'kube-system'));
  const store = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'netboot-ipam', namespace: 'kube-system' }, data: { kv: '{}' } };
  for (const [args, input] of [
    [['create', '-f', '-'], JSON.stringify(store)],
    [['get', 'configmap', 'netboot-ipam', '-n', 'kube-system', '-o', 'name'], ''],
    [['replace', '-f', '-'], JSON.stringify({ ...store, data: { kv: '{"a":1}' } })],
  ] as const) {
    const r = kubectlAs(kubeconfig, [...args], input);
    assert.ok(r.ok, `kubectl ${args.join(' ')} with the agent's token: ${r.out}`);
  }
  for (const args of [
    ['get', 'configmap', 'kube-root-ca.crt', '-n', 'kube-system'],
    ['delete', 'configmap', 'netboot-ipam', '-n', 'kube-system'],
    ['create', 'configmap', 'x', '-n', 'default'],
  ]) {
    const r = kubectlAs(kubeconfig, args);
    assert.not.ok(r.ok, `kubectl ${args.join(' ')} was allowed`);
    assert.match(r.out, /forbidden/, r.out);
  }
});

it('each granted verb is needed: without it the agent fails, saying so', async () => {
  // The role with one verb fewer; node1's agent restarted on it must fail (exit, or say it waits on a
  // refusal). Then the role is restored and the next verb taken away.
  const n1 = lab!.nodes[0]!;
  const kubeconfig = join(lab!.dir, 'node1.kubeconfig');
  for (const a of agents.splice(0)) await a.stop();
  const rule = manifests.clusterRole!.rules![0]!;
  for (const verb of rule.verbs) {
    const rules = [{ ...rule, verbs: rule.verbs.filter((v) => v !== verb) }];
    cp!.kubectl(['apply', '-f', '-'], JSON.stringify({ ...manifests.clusterRole, rules }));
    await eventually(`the role lost ${verb}`, () => !canI(verb, 'nodes'));
    const a = runAgent(n1, kubeconfig);
    await eventually(
      `the agent without "${verb} nodes" fails`,
      () => a.child.exitCode !== null || /forbidden/i.test(JSON.stringify(a.logs.filter((l) => l.level !== 'info'))),
      30_000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}; the agent said:\n${a.stderr().slice(-3000)}`);
    });
    // A refused watch says only "Forbidden" (the client reports the status text, not the body).
    const refusal = verb === 'watch' ? /the watch failed: Forbidden/ : new RegExp(`cannot ${verb} resource\\W+nodes`);
    assert.match(a.stderr(), refusal, `the refusal names ${verb}:\n${a.stderr().slice(-3000)}`);
    await a.stop();
    agents.splice(agents.indexOf(a), 1);
  }
  cp!.kubectl(['apply', '-f', '-'], JSON.stringify(manifests.clusterRole));
});

it.run();
