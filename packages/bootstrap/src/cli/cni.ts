// `netboot cni build|install|serve`: make the plugin's single-file binary, lay it out with its conflist
// the way a runtime expects (/opt/cni/bin, /etc/cni/net.d), and run the warm server it forwards to.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { buildCni } from '../cni/build/sea.js';
import { DEFAULT_SERVER_SOCKET } from '../cni/forward.js';
import { install } from '../cni/install.js';
import { Options, output, specOf, subcommand } from './args.js';

export const CNI_USAGE = `usage:
  netboot cni build   [--out DIR] [--script-only] [--json]
  netboot cni install [--from DIR] [--bin-dir DIR] [--conf-dir DIR] [--root DIR] [--force]
                      [--name NAME] [--bridge NAME] [--subnet CIDR]... [--no-masq] [--mtu N] [--json]
  netboot cni serve   [--socket PATH]

serve: the warm CNI server the plugin forwards ADD/DEL/CHECK/STATUS/GC to (default socket
/run/netboot/cni.sock, which the conflist's "server" field changes; "server": false never forwards).
Runs in the foreground, one call at a time, until SIGTERM or SIGINT; it must run in the network and
mount namespaces the runtime runs plugins in (the host's), else the plugin runs in-process.

--json: build {executable, script}; install {binary, conflist, conflistState: written | unchanged}

examples:
  netboot cni build --out dist/cni                  # dist/cni/netboot (single executable) + netboot.cjs
  netboot cni install --from dist/cni --root /tmp/r # /tmp/r/opt/cni/bin/netboot, /tmp/r/etc/cni/net.d/…
  netboot cni install --from dist/cni --json | jq -r .conflistState
  netboot cni serve &                               # then every ADD is answered by the warm server
  netboot cni serve --socket /run/netboot/cni-test.sock   # with "server": "/run/netboot/cni-test.sock"`;

export async function cniMain(argv: readonly string[]): Promise<number> {
  const sub = subcommand(argv, CNI_USAGE);
  if ('exit' in sub) return sub.exit;
  const { command, rest } = sub;
  const opts = Options.parse(
    rest,
    specOf('cni', command, {
      build: { flags: ['script-only', 'json'], allowed: ['out'] },
      install: { flags: ['force', 'no-masq', 'json'], allowed: ['from', 'bin-dir', 'conf-dir', 'root', 'name', 'bridge', 'subnet', 'mtu'] },
      serve: { allowed: ['socket'] },
    }),
  );
  if (command === 'serve') return serve(opts.get('socket') ?? DEFAULT_SERVER_SOCKET);
  const out = output(opts.has('json'));
  if (command === 'build') {
    out.progress(`building the CNI plugin into ${opts.get('out') ?? 'dist/cni'} …`);
    const built = await buildCni({ out: opts.get('out') ?? 'dist/cni', scriptOnly: opts.has('script-only') });
    out.result({ executable: built.executable ?? null, script: built.script }, [built.executable, built.script].filter(Boolean).join('\n'));
    return 0;
  }
  const from = resolve(opts.get('from') ?? 'dist/cni');
  // The single executable when it was built, else the script fallback.
  const binary = [join(from, 'netboot'), join(from, 'netboot.cjs')].find((f) => existsSync(f)) ?? join(from, 'netboot');
  const subnets = opts.all('subnet');
  const done = install({
    binary,
    binDir: opts.get('bin-dir'),
    confDir: opts.get('conf-dir'),
    root: opts.get('root'),
    force: opts.has('force'),
    name: opts.get('name'),
    bridge: opts.get('bridge'),
    subnets: subnets.length > 0 ? subnets : undefined,
    ipMasq: !opts.has('no-masq'),
    mtu: opts.int('mtu', 68, 65535),
  });
  out.result(done, `installed ${done.binary}\n${done.conflistState === 'written' ? 'wrote' : 'kept (identical)'} ${done.conflist}`);
  return 0;
}

/** `cni serve`: the warm server in the foreground; SIGTERM/SIGINT answer the calls already taken, remove the socket, exit 0. */
async function serve(socket: string): Promise<number> {
  // Every function compiled from here on (the server, the verbs, IPAM, netlink) goes straight to V8's
  // baseline code instead of being interpreted until it is called often enough: a served ADD's server
  // time fell ~0.3 ms (p50 2.26 → 1.98 ms), for ~4 MB of RSS. Set here, in a process that only serves;
  // not in serveCni(), which runs in its embedder's process (the agent's --cni-socket, a test). Not over
  // a node started with --no-sparkplug or --jitless: whoever did that wanted no baseline code.
  const nodeFlags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  if (!nodeFlags.some((f) => f === '--no-sparkplug' || f === '--jitless')) setFlagsFromString('--always-sparkplug');
  const { serveCni } = await import('../cni/server.js');
  const server = await serveCni({ socket, log: (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`) });
  process.stderr.write(`netboot cni serve: listening on ${socket} (pid ${process.pid}); SIGTERM stops it\n`);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  process.stderr.write(`netboot cni serve: ${signal}: finishing the calls taken, removing ${socket}\n`);
  await server.close();
  return 0;
}
