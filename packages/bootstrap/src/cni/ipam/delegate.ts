// Any other `ipam.type`: runs that IPAM plugin from CNI_PATH the CNI way — the same environment with
// CNI_COMMAND set to the verb, the whole network config on stdin — and uses its result.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { CniCode, CniError } from '../errors.js';
import { parseResult } from '../result.js';
import type { CniRequest } from '../skel.js';
import type { IpamPlugin } from './types.js';

/** The first executable `<dir>/<type>` along CNI_PATH; error 103 naming the path when there is none. */
export function findPlugin(type: string, path: readonly string[]): string {
  for (const dir of path) {
    const file = join(dir, type);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not in this directory
    }
  }
  throw new CniError(CniCode.DelegateFailed, `IPAM plugin "${type}" not found in CNI_PATH ${JSON.stringify(path.join(':'))}: install it or fix ipam.type`);
}

/** Runs the plugin for `command`; its JSON output (or undefined when it printed nothing). */
export function execPlugin(req: CniRequest, type: string, command: string, stdin: Record<string, unknown>): unknown {
  const file = findPlugin(type, req.env.path);
  const run = spawnSync(file, [], { input: JSON.stringify(stdin), env: { ...req.rawEnv, CNI_COMMAND: command }, encoding: 'utf8', maxBuffer: 16 << 20 });
  if (run.error) throw new CniError(CniCode.DelegateFailed, `cannot run IPAM plugin ${file}: ${run.error.message}`);
  let out: unknown;
  try {
    out = run.stdout.trim() === '' ? undefined : JSON.parse(run.stdout);
  } catch {
    throw new CniError(CniCode.DelegateFailed, `IPAM plugin ${file} ${command} printed something that is not JSON: ${run.stdout.slice(0, 200)}`);
  }
  if (run.status !== 0) {
    const error = out as { code?: unknown; msg?: unknown; details?: unknown } | undefined;
    const code = typeof error?.code === 'number' ? error.code : CniCode.DelegateFailed;
    const msg = typeof error?.msg === 'string' ? error.msg : run.stderr.trim() || `exit ${run.status ?? run.signal}`;
    throw new CniError(code, `IPAM plugin ${type} ${command} failed: ${msg}`, typeof error?.details === 'string' ? { details: error.details } : {});
  }
  return out;
}

export function delegatedIpam(type: string): IpamPlugin {
  const run = (req: CniRequest, command: string, extra: Record<string, unknown> = {}) => execPlugin(req, type, command, { ...req.conf.raw, ...extra });
  /**
   * STATUS and GC are 1.1 verbs, forwarded only to a delegate whose VERSION lists 1.1.0: one that
   * predates them (Debian's host-local 1.1.1) has nothing to report or collect, and answers them with
   * unrelated errors ("missing containerID"), which must not fail this network.
   */
  const run11 = (req: CniRequest, command: 'STATUS' | 'GC') => {
    const info = run(req, 'VERSION') as { supportedVersions?: unknown } | undefined;
    if (Array.isArray(info?.supportedVersions) && info.supportedVersions.includes('1.1.0')) run(req, command);
    else req.log.info(`IPAM plugin ${type} predates CNI 1.1; ${command} not forwarded`);
  };
  return {
    mtu: () => undefined,
    async add(req) {
      // The delegate answers in the config's version; parseResult reads any of them.
      return parseResult(run(req, 'ADD'), `IPAM plugin ${type} result`);
    },
    async del(req) {
      run(req, 'DEL');
    },
    async held(req) {
      return (req.conf.prevResult?.ips ?? []).map((ip) => ip.address.split('/')[0]!);
    },
    async check(req, prev) {
      try {
        // The delegate compares against its own result: the ips of prevResult without interfaces.
        run(req, 'CHECK', { prevResult: req.conf.raw.prevResult ?? prev });
        return [];
      } catch (err) {
        return [(err as Error).message];
      }
    },
    async status(req) {
      try {
        run11(req, 'STATUS');
      } catch (err) {
        const e = err as CniError;
        throw new CniError(e.code === 51 ? 51 : CniCode.NotAvailable, e.message, { cause: err });
      }
    },
    async gc(req) {
      run11(req, 'GC');
    },
  };
}
