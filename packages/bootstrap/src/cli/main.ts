#!/usr/bin/env node
// The `netboot` command (for now its `cni` subcommands). A small hand-written parser: the CLI is
// never on the plugin's path, but it has no reason to carry a framework either.
//
//   netboot cni build   [--out DIR] [--script-only]
//   netboot cni install [--from DIR] [--bin-dir DIR] [--conf-dir DIR] [--root DIR] [--force]
//                       [--name NAME] [--bridge NAME] [--subnet CIDR]… [--no-masq] [--mtu N]
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InvalidInputError } from '@netboot/core/errors';
import { buildCni } from '../cni/build/sea.js';
import { install } from '../cni/install.js';

const USAGE = `usage:
  netboot agent       [--config FILE] [flags…]   (netboot agent --help lists them)
  netboot cni build   [--out DIR] [--script-only]
  netboot cni install [--from DIR] [--bin-dir DIR] [--conf-dir DIR] [--root DIR] [--force]
                      [--name NAME] [--bridge NAME] [--subnet CIDR]... [--no-masq] [--mtu N]`;

/** Bad arguments: exit 2 with the usage. */
class UsageError extends InvalidInputError {}

/** `--key value` and `--flag` options; repeated keys accumulate. */
function parseOptions(argv: string[], flags: readonly string[]): Map<string, string[]> {
  const opts = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument ${JSON.stringify(arg)}`);
    const key = arg.slice(2);
    if (flags.includes(key)) {
      opts.set(key, ['true']);
      continue;
    }
    const value = argv[++i];
    if (value === undefined) throw new UsageError(`${arg} needs a value`);
    opts.set(key, [...(opts.get(key) ?? []), value]);
  }
  return opts;
}

function only(opts: Map<string, string[]>, allowed: readonly string[]): void {
  for (const key of opts.keys()) if (!allowed.includes(key)) throw new UsageError(`unknown option --${key}`);
}

async function main(argv: string[]): Promise<number> {
  const [group, command, ...rest] = argv;
  // Loaded only for `agent`: the agent's modules (routes, datastore clients) are not the CLI's to pay.
  if (group === 'agent') return (await import('../agent/main.js')).agentMain(argv.slice(1));
  if (group !== 'cni' || (command !== 'build' && command !== 'install'))
    throw new UsageError(argv.length === 0 ? 'no command' : `unknown command ${argv.slice(0, 2).join(' ')}`);
  if (command === 'build') {
    const opts = parseOptions(rest, ['script-only']);
    only(opts, ['out', 'script-only']);
    const out = await buildCni({ out: opts.get('out')?.[0] ?? 'dist/cni', scriptOnly: opts.has('script-only') });
    if (out.executable) process.stdout.write(`${out.executable}\n`);
    process.stdout.write(`${out.script}\n`);
    return 0;
  }
  const opts = parseOptions(rest, ['force', 'no-masq']);
  only(opts, ['from', 'bin-dir', 'conf-dir', 'root', 'force', 'name', 'bridge', 'subnet', 'no-masq', 'mtu']);
  const from = resolve(opts.get('from')?.[0] ?? 'dist/cni');
  // The single executable when it was built, else the script fallback.
  const binary = [join(from, 'netboot'), join(from, 'netboot.cjs')].find((f) => existsSync(f)) ?? join(from, 'netboot');
  const mtuText = opts.get('mtu')?.[0];
  const mtu = mtuText === undefined ? undefined : Number(mtuText);
  if (mtu !== undefined && (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535)) throw new UsageError(`--mtu ${mtuText} is not an MTU (68..65535)`);
  const done = install({
    binary,
    binDir: opts.get('bin-dir')?.[0],
    confDir: opts.get('conf-dir')?.[0],
    root: opts.get('root')?.[0],
    force: opts.has('force'),
    name: opts.get('name')?.[0],
    bridge: opts.get('bridge')?.[0],
    subnets: opts.get('subnet'),
    ipMasq: !opts.has('no-masq'),
    mtu,
  });
  process.stdout.write(`installed ${done.binary}\n${done.conflistState === 'written' ? 'wrote' : 'kept (identical)'} ${done.conflist}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`netboot: ${(err as Error).message}\n${err instanceof UsageError ? `${USAGE}\n` : ''}`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);
