// `netboot cni install`: puts the plugin binary into the CNI bin dir and `10-netboot.conflist` into the
// conf dir, each atomically (temp file in the same directory, then rename), keeping other networks'
// files. An existing netboot conflist that differs is refused unless `force`: it may hold an operator's
// edits. `root` prefixes both directories, so tests (and image builds) install into a stand-in tree.
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CniCode, CniError } from './errors.js';

export const CONFLIST_NAME = '10-netboot.conflist';

export interface ConflistOptions {
  /** Network name (default "netboot"). */
  name?: string;
  bridge?: string;
  /** Pod subnets written as `ipam.ranges` (one per family); default: none, the node lease file is used. */
  subnets?: string[];
  ipMasq?: boolean;
  mtu?: number;
}

/**
 * The conflist: netboot chained with Debian's reference `portmap` (host ports). cniVersion 1.0.0 for
 * runtimes whose libcni stops there, with `cniVersions` offering 1.1.0 (STATUS, GC) to those that know it.
 */
export function conflist(o: ConflistOptions = {}): Record<string, unknown> {
  const ipam: Record<string, unknown> = { type: 'netboot' };
  if (o.subnets && o.subnets.length > 0) ipam.ranges = o.subnets.map((subnet) => [{ subnet }]);
  return {
    cniVersion: '1.0.0',
    cniVersions: ['1.0.0', '1.1.0'],
    name: o.name ?? 'netboot',
    plugins: [
      {
        type: 'netboot',
        bridge: o.bridge ?? 'cni0',
        isGateway: true,
        isDefaultGateway: true,
        ipMasq: o.ipMasq ?? true,
        hairpinMode: true,
        ...(o.mtu === undefined ? {} : { mtu: o.mtu }),
        ipam,
      },
      { type: 'portmap', capabilities: { portMappings: true }, snat: true },
    ],
  };
}

/** The conflist file's text exactly as install writes it. */
export function conflistText(o: ConflistOptions = {}): string {
  return `${JSON.stringify(conflist(o), null, 2)}\n`;
}

export interface InstallOptions extends ConflistOptions {
  /** The plugin file to install (the single executable, or the script fallback). */
  binary: string;
  binDir?: string;
  confDir?: string;
  root?: string;
  force?: boolean;
}

export interface InstallOutcome {
  binary: string;
  conflist: string;
  /** 'written', or 'unchanged' when an identical conflist was already there. */
  conflistState: 'written' | 'unchanged';
}

function writeAtomically(path: string, write: (temp: string) => void, mode: number): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  const temp = join(dirname(path), `.${process.pid}.netboot-install.tmp`);
  write(temp);
  chmodSync(temp, mode);
  renameSync(temp, path);
}

export function install(o: InstallOptions): InstallOutcome {
  const root = o.root ?? '/';
  const binary = join(root, o.binDir ?? '/opt/cni/bin', 'netboot');
  const target = join(root, o.confDir ?? '/etc/cni/net.d', CONFLIST_NAME);
  if (!existsSync(o.binary)) throw new CniError(CniCode.InvalidConfig, `no plugin at ${o.binary}: run \`netboot cni build\` first`);
  const text = conflistText(o);
  let conflistState: InstallOutcome['conflistState'] = 'written';
  if (existsSync(target)) {
    const current = readFileSync(target, 'utf8');
    if (current === text) conflistState = 'unchanged';
    else if (!o.force)
      throw new CniError(CniCode.Conflict, `${target} exists and differs from the one netboot would write: keep it, or pass --force to replace it`);
  }
  writeAtomically(binary, (temp) => copyFileSync(o.binary, temp), 0o755);
  if (conflistState === 'written') writeAtomically(target, (temp) => writeFileSync(temp, text), 0o644);
  return { binary, conflist: target, conflistState };
}
