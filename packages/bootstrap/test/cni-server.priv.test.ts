// The warm CNI server end to end: `netboot cni serve` started in a node namespace, and the bundled
// plugin run as a runtime runs it there (`nsenter --net`: same network and mount namespaces). Every
// spec verb through the server, the fallbacks (no server, another mount or network namespace), a
// server killed mid-run, 8 ADDs at once, and no descriptor leak over 100 ADD/DEL.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ipJson, privileged, sh } from '@netboot/core/testing';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Node, type Outcome, usePlugin } from './cni-fixture.js';
import { CLI, ROOT } from './lab-cli-fixture.js';

const it = privileged(test);
const onNode = usePlugin(it);

interface Server {
  child: ChildProcess;
  socket: string;
  /** What it printed so far: the listening line and one line per call. */
  log(): string;
  /** How many calls of `command` it answered with an exit code (not a fallback). */
  served(command: string): number;
  stop(): Promise<void>;
}

/** `netboot cni serve` in the node's network namespace (nsenter execs node: the child's pid is the server's). */
async function serve(node: Node): Promise<Server> {
  const socket = join(node.dir, 'run', 'cni.sock');
  // Its stderr goes to a file: the tests' synchronous plugin runs would hold a pipe's data back.
  const logFile = join(node.dir, 'serve.log');
  const fd = openSync(logFile, 'w');
  const child = spawn('nsenter', [`--net=${node.ns.path}`, process.execPath, ...CLI, 'cni', 'serve', '--socket', socket], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', fd],
  });
  closeSync(fd);
  const log = () => readFileSync(logFile, 'utf8');
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 60_000;
  while (!log().includes('listening on')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`cni serve did not start: ${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    socket,
    log,
    served: (command) =>
      log()
        .split('\n')
        .filter((l) => l.includes(` ${command} `) && / exit \d+ in /.test(l)).length,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

async function withServer(node: Node, fn: (server: Server) => unknown): Promise<void> {
  const server = await serve(node);
  try {
    await fn(server);
  } finally {
    await server.stop();
  }
}

/** A result with what differs between two pods (addresses, MACs, veth names, sandbox) blanked. */
function shape(result: any): unknown {
  return JSON.parse(
    JSON.stringify(result)
      .replace(/"mac":"[^"]+"/g, '"mac":"-"')
      .replace(/"(address)":"[^"]+"/g, '"$1":"-"')
      .replace(/"name":"nbv[^"]+"/g, '"name":"nbv-"')
      .replace(/"sandbox":"[^"]+"/g, '"sandbox":"-"'),
  );
}

function ok(r: Outcome, what: string): any {
  assert.is(r.code, 0, `${what}: ${JSON.stringify(r.out)} ${r.stderr}`);
  return r.out;
}

it('every verb through the server: ADD as in-process, repeated ADD keeps the IP, CHECK, STATUS, DEL twice, GC', () =>
  onNode((node) =>
    withServer(node, (server) => {
      const conf = node.conf({ server: server.socket });
      const via = { nsenter: true };
      const a = node.pod();
      const b = node.pod();
      const served = ok(node.run('ADD', conf, { containerId: a.name, netns: a.path, ...via }), 'ADD via the server');
      const local = ok(node.run('ADD', node.conf({ server: false }), { containerId: b.name, netns: b.path, ...via }), 'ADD in-process');
      assert.is(server.served('ADD'), 1, server.log());
      assert.equal(shape(served), shape(local));
      assert.is(ipJson(a, 'addr', 'show', 'eth0')[0].addr_info.find((x: { family: string }) => x.family === 'inet').local, served.ips[0].address.split('/')[0]);
      sh(a, 'ping', '-c1', '-W2', served.ips[0].gateway);
      // A repeated ADD after a partial one (the host end gone, the reservation kept) gets the same IP.
      sh(node.ns, 'ip', 'link', 'del', served.interfaces[1].name);
      const again = ok(node.run('ADD', conf, { containerId: a.name, netns: a.path, ...via }), 'repeated ADD');
      assert.is(again.ips[0].address, served.ips[0].address);
      ok(node.run('CHECK', { ...conf, prevResult: again }, { containerId: a.name, netns: a.path, ...via }), 'CHECK');
      sh(a, 'ip', 'route', 'del', 'default');
      const check = node.run('CHECK', { ...conf, prevResult: again }, { containerId: a.name, netns: a.path, ...via });
      assert.is(check.code, 1, 'CHECK after the route was removed fails');
      assert.match(check.out.msg, /route/i);
      ok(node.run('STATUS', conf, via), 'STATUS');
      ok(node.run('GC', { ...conf, 'cni.dev/valid-attachments': [{ containerID: a.name, ifname: 'eth0' }] }, via), 'GC');
      assert.equal(node.reservations(), [served.ips[0].address.split('/')[0]], 'GC released b, kept a');
      for (let i = 0; i < 2; i++) ok(node.run('DEL', conf, { containerId: a.name, netns: a.path, ...via }), `DEL #${i + 1}`);
      assert.equal([server.served('CHECK'), server.served('STATUS'), server.served('GC'), server.served('DEL')], [2, 1, 1, 2], server.log());
      assert.equal(node.hostLinks(), []);
      assert.equal(node.reservations(), []);
    }),
  ));

it('a served ADD keeps what it learnt of the node and follows it: uplink MTU changed, bridge down, gateway removed, forwarding off, bridge deleted', () =>
  onNode((node) =>
    withServer(node, (server) => {
      const conf = node.conf({ server: server.socket });
      const add = (what: string) => {
        const pod = node.pod();
        return { pod, out: ok(node.run('ADD', conf, { containerId: pod.name, netns: pod.path, nsenter: true }), what) };
      };
      const cni0 = () => ipJson(node.ns, 'link', 'show', 'cni0')[0];
      const gateways = () =>
        ipJson(node.ns, 'addr', 'show', 'cni0')[0]
          .addr_info.filter((a: { family: string }) => a.family === 'inet')
          .map((a: { local: string }) => a.local);
      const forwarding = () => sh(node.ns, 'sysctl', '-n', 'net.ipv4.ip_forward').trim();
      // The uplink: a veth (this kernel has no dummy driver) with the default route.
      sh(node.ns, 'ip', 'link', 'add', 'up0', 'mtu', '1400', 'type', 'veth', 'peer', 'name', 'up0p');
      for (const dev of ['up0p', 'up0']) sh(node.ns, 'ip', 'link', 'set', dev, 'up');
      sh(node.ns, 'ip', 'route', 'add', 'default', 'dev', 'up0');
      assert.is(add('first ADD').out.interfaces[2].mtu, 1400);
      assert.is(add('second ADD (from what the first learnt)').out.interfaces[2].mtu, 1400);
      sh(node.ns, 'ip', 'link', 'set', 'up0', 'mtu', '1300');
      assert.is(add('ADD after the uplink MTU changed').out.interfaces[2].mtu, 1300);
      sh(node.ns, 'ip', 'link', 'set', 'cni0', 'down');
      add('ADD after the bridge was set down');
      assert.ok(cni0().flags.includes('UP'), JSON.stringify(cni0()));
      sh(node.ns, 'ip', 'addr', 'flush', 'dev', 'cni0');
      add('ADD after the gateway address was removed');
      assert.equal(gateways(), ['10.244.1.1']);
      sh(node.ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=0');
      add('ADD after forwarding was turned off');
      assert.is(forwarding(), '1');
      sh(node.ns, 'ip', 'link', 'del', 'cni0');
      const last = add('ADD after the bridge was deleted');
      assert.equal(gateways(), ['10.244.1.1']);
      assert.is(ipJson(node.ns, 'link', 'show', last.out.interfaces[1].name)[0].master, 'cni0');
      assert.is(last.out.interfaces[0].mac, cni0().address);
      sh(last.pod, 'ping', '-c1', '-W2', '10.244.1.1');
      assert.is(server.served('ADD'), 7, server.log());
      for (const p of node.pods) ok(node.run('DEL', conf, { containerId: p.name, netns: p.path, nsenter: true }), `DEL ${p.name}`);
      assert.equal(node.reservations(), []);
    }),
  ));

it('fallbacks: no server, the plugin in another mount namespace, the plugin in another network namespace', () =>
  onNode((node) =>
    withServer(node, (server) => {
      const pod = node.pod();
      // Nothing listens at the configured path: in-process, silently.
      const none = node.run('ADD', node.conf({ server: join(node.dir, 'none.sock') }), { containerId: pod.name, netns: pod.path, nsenter: true });
      ok(none, 'ADD without a server');
      assert.not.match(none.stderr, 'CNI server');
      ok(node.run('DEL', node.conf(), { containerId: pod.name, netns: pod.path, nsenter: true }), 'DEL');
      const conf = node.conf({ server: server.socket });
      // `ip netns exec` gives the plugin a mount namespace of its own.
      const mnt = node.run('ADD', conf, { containerId: pod.name, netns: pod.path });
      ok(mnt, 'ADD from another mount namespace');
      assert.match(mnt.stderr, /cannot run this call \(the plugin runs in mount namespace \d+/);
      ok(node.run('DEL', conf, { containerId: pod.name, netns: pod.path }), 'DEL from another mount namespace');
      // The plugin in another network namespace (the pod's own, as a stand-in for another node).
      const other = node.pod();
      const r = spawnIn(other.path, node.plugin, conf);
      assert.is(r.code, 0, r.stderr);
      assert.match(r.stderr, /cannot run this call \(the plugin runs in network namespace \d+/);
      assert.is(server.served('ADD') + server.served('STATUS') + server.served('DEL'), 0, server.log());
    }),
  ));

/** STATUS from `netns` in this mount namespace (the Node fixture always enters the node's). */
function spawnIn(netns: string, plugin: string, conf: unknown): Outcome {
  const r = spawnSync('nsenter', [`--net=${netns}`, plugin], {
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', CNI_COMMAND: 'STATUS' },
    input: JSON.stringify(conf),
    encoding: 'utf8',
  });
  return { code: r.status ?? -1, out: r.stdout, stderr: r.stderr };
}

it('8 ADDs at once through one server: distinct IPs, every link there; then 8 DELs leave nothing', () =>
  onNode((node) =>
    withServer(node, async (server) => {
      const conf = node.conf({ server: server.socket });
      const pods = Array.from({ length: 8 }, () => node.pod());
      const adds = await Promise.all(pods.map((p) => node.start('ADD', conf, { containerId: p.name, netns: p.path, nsenter: true }).done));
      const ips = adds.map((r, i) => ok(r, `ADD ${i}`).ips[0].address);
      assert.is(new Set(ips).size, 8, ips.join(' '));
      assert.is(server.served('ADD'), 8, server.log());
      assert.is(node.hostLinks().length, 8);
      for (const p of pods) assert.is(ipJson(p, 'link', 'show', 'eth0').length, 1);
      const dels = await Promise.all(pods.map((p) => node.start('DEL', conf, { containerId: p.name, netns: p.path, nsenter: true }).done));
      for (const [i, r] of dels.entries()) ok(r, `DEL ${i}`);
      assert.equal(node.hostLinks(), []);
      assert.equal(node.reservations(), []);
    }),
  ));

it('a server killed mid-run: each call was answered, lost (error 11) or run in-process; the next runs in-process; DEL cleans all', () =>
  onNode(async (node) => {
    const server = await serve(node);
    const conf = node.conf({ server: server.socket });
    const pods = Array.from({ length: 8 }, () => node.pod());
    const calls = pods.map((p) => node.start('ADD', conf, { containerId: p.name, netns: p.path, nsenter: true }).done);
    await calls[0]!.then(() => server.child.kill('SIGKILL'));
    await server.stop();
    const outcomes = await Promise.all(calls);
    for (const [i, r] of outcomes.entries()) {
      assert.ok(r.code === 0 || r.out?.code === 11, `ADD ${i}: ${JSON.stringify(r.out)} ${r.stderr}`);
      if (r.code !== 0) assert.match(r.out.msg, server.socket);
    }
    // The socket file outlived the server (SIGKILL): refused, so in-process.
    const next = node.pod();
    ok(node.run('ADD', conf, { containerId: next.name, netns: next.path, nsenter: true }), 'ADD after the kill');
    for (const p of [...pods, next]) ok(node.run('DEL', conf, { containerId: p.name, netns: p.path, nsenter: true }), `DEL ${p.name}`);
    assert.equal(node.hostLinks(), []);
    assert.equal(node.reservations(), []);
  }));

it('100 ADD/DEL through one server: its open descriptors return to their count after the first', () =>
  onNode((node) =>
    withServer(node, (server) => {
      const conf = node.conf({ server: server.socket });
      const pod = node.pod();
      const fds = () => readdirSync(`/proc/${server.child.pid}/fd`).length;
      const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${server.child.pid}/status`, 'utf8'))![1]) / 1024;
      const cycle = (i: number) => {
        ok(node.run('ADD', conf, { containerId: pod.name, netns: pod.path, nsenter: true }), `ADD ${i}`);
        ok(node.run('DEL', conf, { containerId: pod.name, netns: pod.path, nsenter: true }), `DEL ${i}`);
      };
      cycle(0); // loads and opens what stays (koffi, the host's netlink socket)
      const [fds0, rss0] = [fds(), rss()];
      for (let i = 1; i <= 100; i++) cycle(i);
      assert.is(server.served('ADD'), 101, server.log().slice(-2000));
      assert.is(fds(), fds0, `descriptors: ${fds0} after the first ADD/DEL, ${fds()} after 100 more`);
      const grown = rss() - rss0;
      process.stdout.write(`  server RSS ${rss0.toFixed(1)} → ${rss().toFixed(1)} MiB over 100 ADD/DEL\n`);
      assert.ok(grown < 30, `RSS grew ${grown.toFixed(1)} MiB over 100 ADD/DEL`);
      assert.equal(node.hostLinks(), []);
    }),
  ));

it.run();
