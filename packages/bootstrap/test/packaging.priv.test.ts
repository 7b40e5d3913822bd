// The packages as a user gets them: `pnpm pack` of each (@netboot/core, @netboot/ipam, @netboot/routes,
// netboot) into a temp dir, `npm install --omit=dev` of the four tarballs into an empty directory (no
// workspace, no dev dependencies, no build step), then the commands the README promises, run from there:
// `npx netboot --help`, `npx netboot cni build` (a plugin that answers VERSION), `netboot cni serve`
// answering that plugin (installed by npm, and from the workspace's own build, where pnpm links the
// packages), `npx netboot init --dry-run … --out DIR` (inside a throwaway namespace with an uplink and
// ip_forward on, as on a node), and imports through the packages' exports maps. The tarballs are made
// from each package's dist, so run `pnpm build` first (CI does); npm reaches only its registry,
// preferring its cache.
import { execFileSync, type ExecFileSyncOptions, spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseAllDocuments } from 'yaml';
import { privileged, sh, tempNetns } from '@netboot/core/testing';
import { renderManifests } from '../src/manifests/index.js';

const ROOT = new URL('../../..', import.meta.url).pathname;
const PACKAGES = { core: '@netboot/core', ipam: '@netboot/ipam', routes: '@netboot/routes', bootstrap: 'netboot' } as const;
// cni build runs its code-cache ADD/DEL in a namespace of its own, and init probes the kernel: root.
const it = privileged(test);

let work = '';
let app = '';
const tarballs: Record<string, string> = {};
/** The environment of a user's shell: none of pnpm's npm_config_* settings leak into npm or npx. */
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(npm|pnpm)_/i.test(k)));
const run = (cmd: string, args: string[], o: ExecFileSyncOptions = {}) =>
  execFileSync(cmd, args, { cwd: app, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20, ...o }) as string;

/** The newest mtime under `dir` (ms), of files whose name passes `keep`. */
function newest(dir: string, keep: (name: string) => boolean): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile() && keep(e.name)) t = Math.max(t, statSync(join(e.parentPath, e.name)).mtimeMs);
  return t;
}

/** Packs and installs once, for all the cases (a hook's error would not be shown: each case calls it). */
let packed: Error | undefined | null = null;
function packAndInstall(): void {
  if (packed === null) {
    try {
      pack();
      packed = undefined;
    } catch (e) {
      packed = e as Error;
    }
  }
  if (packed !== undefined) throw packed;
}

function pack(): void {
  for (const dir of Object.keys(PACKAGES)) {
    const pkg = join(ROOT, 'packages', dir);
    const dist = join(pkg, 'dist');
    if (!existsSync(dist)) throw new Error(`packages/${dir}/dist is missing: run \`pnpm build\` first (the tarballs are packed from dist)`);
    // Say so (CI builds right before the tests; a shared tree may have moved on since the last build).
    if (newest(join(pkg, 'src'), (n) => n.endsWith('.ts')) > newest(dist, (n) => n.endsWith('.js')))
      console.log(`  note: packages/${dir}/src changed after its dist was built; these tarballs hold the older build (pnpm build)`);
  }
  work = mkdtempSync(join(tmpdir(), 'nbt-pack-'));
  app = join(work, 'app');
  mkdirSync(join(work, 'tgz'));
  mkdirSync(app);
  for (const [dir, name] of Object.entries(PACKAGES)) {
    const out = run('pnpm', ['pack', '--pack-destination', join(work, 'tgz')], { cwd: join(ROOT, 'packages', dir) });
    tarballs[name] = out.trim().split('\n').at(-1)!;
    assert.ok(existsSync(tarballs[name]!), `pnpm pack printed ${out}`);
  }
  writeFileSync(join(app, 'package.json'), `${JSON.stringify({ name: 'netboot-packaging-check', private: true })}\n`);
  run('npm', ['install', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', ...Object.values(tarballs)], { timeout: 300_000 });
}

it.after(() => {
  if (work !== '') rmSync(work, { recursive: true, force: true });
});

it('the tarballs: dependencies with versions (no workspace:*), dist, and the sources cni build bundles', () => {
  packAndInstall();
  const version = JSON.parse(readFileSync(join(ROOT, 'packages/bootstrap/package.json'), 'utf8')).version as string;
  for (const [name, tgz] of Object.entries(tarballs)) {
    const manifest = run('tar', ['-xzOf', tgz, 'package/package.json']);
    assert.not.ok(manifest.includes('workspace:'), `${name}: ${manifest}`);
    const files = run('tar', ['-tzf', tgz]).split('\n');
    assert.ok(files.includes('package/README.md'), `${name} ships its README`);
    assert.ok(
      files.some((f) => f.startsWith('package/dist/') && f.endsWith('.d.ts')),
      `${name} ships dist with types`,
    );
    // `netboot cni build` bundles the plugin from TypeScript sources (esbuild, the `source` condition).
    if (name !== '@netboot/routes') assert.ok(files.includes('package/src/index.ts') || files.includes('package/src/cni/main.ts'), `${name} ships src`);
    assert.not.ok(
      files.some((f) => f.startsWith('package/test/')),
      `${name} ships no tests`,
    );
  }
  const deps = JSON.parse(run('tar', ['-xzOf', tarballs.netboot!, 'package/package.json'])).dependencies as Record<string, string>;
  for (const lib of ['@netboot/core', '@netboot/ipam', '@netboot/routes']) assert.is(deps[lib], version, lib);
});

it('npm install --omit=dev: real packages in node_modules, no development tools', () => {
  packAndInstall();
  for (const name of Object.values(PACKAGES)) {
    const dir = join(app, 'node_modules', name);
    assert.ok(existsSync(join(dir, 'package.json')), `${name} installed`);
    assert.not.ok(lstatSync(dir).isSymbolicLink(), `${name} is a copy, not a link to the workspace`);
  }
  for (const dev of ['typescript', 'tsx', 'tsup', '@biomejs/biome', 'uvu', 'knip', 'publint'])
    assert.not.ok(existsSync(join(app, 'node_modules', dev)), `${dev} was installed`);
});

it('npx netboot --help lists the commands', () => {
  packAndInstall();
  const out = run('npx', ['netboot', '--help']);
  for (const command of ['agent', 'cni', 'init']) assert.match(out, new RegExp(`^  netboot ${command} `, 'm'));
});

it('the packages import through their exports maps (plain Node, no loader)', () => {
  packAndInstall();
  const script = `
    import { plan, apply, renderManifests } from 'netboot';
    import { Cidr } from '@netboot/ipam';
    import { normalizeIp } from '@netboot/core/ip';
    import { NetbootError } from '@netboot/core/errors';
    import * as routes from '@netboot/routes';
    import * as cni from 'netboot/cni';
    console.log(JSON.stringify([typeof plan, typeof apply, Cidr.parse('10.244.0.0/16').toString(), normalizeIp('FD00::1'),
      typeof NetbootError, typeof routes.vxlan, Object.keys(cni).length > 0,
      renderManifests({ clusterCIDRs: ['10.244.0.0/16'] }).objects.map((o) => o.kind).at(-1)]));`;
  const out = JSON.parse(run(process.execPath, ['--input-type=module', '-e', script]));
  assert.equal(out, ['function', 'function', '10.244.0.0/16', 'fd00::1', 'function', 'function', true, 'DaemonSet']);
});

it('npx netboot cni build --out DIR: the single executable and the script answer VERSION', () => {
  packAndInstall();
  const out = join(work, 'cni');
  const printed = run('npx', ['netboot', 'cni', 'build', '--out', out], { timeout: 300_000 });
  for (const plugin of [join(out, 'netboot'), join(out, 'netboot.cjs')]) {
    assert.ok(printed.includes(plugin), `build printed ${printed}`);
    const version = JSON.parse(run(plugin, [], { input: '{}', env: { PATH: env.PATH, CNI_COMMAND: 'VERSION' }, stdio: ['pipe', 'pipe', 'pipe'] }));
    assert.ok(version.supportedVersions.includes('1.1.0'), JSON.stringify(version));
    assert.ok(version.supportedVersions.includes('0.3.1'), JSON.stringify(version));
  }
});

it('netboot cni serve from the built CLI answers the plugin: installed by npm (copies) and in the workspace (pnpm links)', async () => {
  packAndInstall();
  const plugin = join(work, 'serve-plugin');
  run('npx', ['netboot', 'cni', 'build', '--script-only', '--out', plugin], { timeout: 300_000 });
  // pnpm's layout reaches koffi and its native package through links: Node's module resolution stopped
  // following them after the server's plain stat of its socket (nodejs/node#51142), and every call failed.
  // The server starts beside a live socket where it binds first (`<socket>.<pid>.tmp`, as a killed
  // server with its pid leaves one): making way for it must not stat it that way either.
  const leftover = join(work, 'leftover-socket.mjs');
  writeFileSync(
    leftover,
    "import { createServer } from 'node:net';\nawait new Promise((bound) => createServer().listen(process.env.NBT_SOCKET + '.' + process.pid + '.tmp', bound));\n",
  );
  const clis: [string, string[]][] = [
    ['npm', [join(app, 'node_modules/netboot/dist/cli.js')]],
    ['pnpm', [join(ROOT, 'packages/bootstrap/dist/cli.js')]],
  ];
  // Server and plugin in one network and mount namespace, as the server requires: nsenter --net only.
  using ns = tempNetns();
  for (const [layout, cli] of clis) {
    const socket = join(work, `serve-${layout}`, 'cni.sock');
    mkdirSync(dirname(socket), { recursive: true, mode: 0o700 });
    const server = spawn(
      'nsenter',
      [`--net=${ns.path}`, process.execPath, '--import', pathToFileURL(leftover).href, ...cli, 'cni', 'serve', '--socket', socket],
      {
        env: { ...env, NBT_SOCKET: socket },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let log = '';
    server.stderr.on('data', (d) => (log += d));
    const exited = new Promise((resolve) => server.once('exit', resolve));
    const running = () => server.exitCode === null && server.signalCode === null;
    /** Until the server's log (read as it comes) matches, it exits, or a minute passes. */
    const logged = async (re: RegExp) => {
      for (const deadline = Date.now() + 60_000; !re.test(log) && running() && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 50));
      return log;
    };
    try {
      assert.match(await logged(/verbs loaded|loading the verbs failed/), 'verbs loaded', `${layout}: ${log}`);
      const conf = {
        cniVersion: '1.1.0',
        name: 'podnet',
        type: 'netboot',
        server: socket,
        ipam: { type: 'netboot', ranges: [[{ subnet: '10.0.0.0/24' }]], dataDir: join(work, `serve-${layout}`, 'ipam') },
      };
      const status = spawnSync('nsenter', [`--net=${ns.path}`, join(plugin, 'netboot.cjs')], {
        input: JSON.stringify(conf),
        env: { PATH: env.PATH, CNI_COMMAND: 'STATUS' },
        encoding: 'utf8',
        timeout: 60_000,
      });
      assert.is(status.status, 0, `${layout}: ${status.stdout} ${status.stderr}`);
      assert.match(await logged(/STATUS \/ \(pid \d+\): (exit|fallback)/), /STATUS \/ \(pid \d+\): exit 0/, `${layout}: the server ran the call: ${log}`);
    } finally {
      server.kill('SIGTERM');
      const stuck = setTimeout(() => server.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(stuck);
    }
  }
});

it('npx netboot init --dry-run --pod-cidr 10.244.0.0/16 --out DIR: the kubeadm config and the agent manifests, nothing else changed', () => {
  packAndInstall();
  // A node's network as init's preflight wants it: an uplink with a default route, forwarding on.
  using ns = tempNetns();
  sh(ns, 'ip', 'link', 'set', 'lo', 'up');
  sh(ns, 'ip', 'link', 'add', 'eth0', 'up', 'type', 'veth', 'peer', 'name', 'eth1');
  sh(ns, 'ip', 'addr', 'add', '192.168.50.10/24', 'dev', 'eth0');
  sh(ns, 'ip', 'route', 'add', 'default', 'via', '192.168.50.1');
  sh(ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
  const out = join(work, 'init');
  const root = join(work, 'root'); // a stand-in /: the test machine's /opt and /etc are never touched
  mkdirSync(root);
  const args = ['netboot', 'init', '--dry-run', '--pod-cidr', '10.244.0.0/16', '--out', out, '--root', root];
  try {
    run('ip', ['netns', 'exec', ns.name, 'npx', ...args], { timeout: 300_000 });
  } catch (e) {
    const err = e as { status: number; stdout: string; stderr: string };
    assert.unreachable(`npx ${args.join(' ')} exited ${err.status}:\n${err.stdout}\n${err.stderr}`);
  }
  assert.match(readFileSync(join(out, 'kubeadm.yaml'), 'utf8'), /podSubnet: 10\.244\.0\.0\/16/);
  const kinds = parseAllDocuments(readFileSync(join(out, 'netboot.yaml'), 'utf8')).map((d) => (d.toJS() as { kind: string }).kind);
  assert.equal(
    kinds,
    renderManifests({ clusterCIDRs: ['10.244.0.0/16'] }).objects.map((o) => o.kind),
    'the manifests the installed init writes are the ones the sources render',
  );
  assert.equal(readdirSync(root), [], 'a dry run installs nothing');
});

it.run();
