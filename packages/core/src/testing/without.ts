// Proving an import path pure: run a module body in a child Node process in which some packages (koffi)
// cannot be resolved, as on a laptop or a platform they have no build for. Pure itself.
import { spawnSync } from 'node:child_process';

export interface RunWithoutOptions {
  /** Where the body's bare imports resolve from (a package directory). */
  cwd: string;
  /** Default 60 s. */
  timeoutMs?: number;
}

export interface RunWithoutResult {
  /** Exit status (null if killed, e.g. by the timeout). */
  status: number | null;
  /** stdout and stderr together. */
  output: string;
}

// Refuses the blocked names for ESM imports (a resolve hook) and for require() (Module._resolveFilename),
// whichever the importing module uses; the hook runs on the loader thread, so it carries its own list.
function blockerSource(blocked: string[]): string {
  const list = JSON.stringify(blocked);
  const hooks = `
const blocked = ${list};
export async function resolve(specifier, context, next) {
  if (blocked.some((b) => specifier === b || specifier.startsWith(b + '/'))) {
    throw Object.assign(new Error(specifier + ' is blocked (runWithout)'), { code: 'ERR_MODULE_NOT_FOUND' });
  }
  return next(specifier, context);
}`;
  return `
import Module, { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hooks)}));
const blocked = ${list};
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (blocked.some((b) => request === b || request.startsWith(b + '/'))) throw new Error(request + ' is blocked (runWithout)');
  return resolveFilename.call(this, request, ...rest);
};`;
}

/**
 * Runs `body` (the text of an ES module) in a child Node process started the way the test runner
 * starts tests (`--conditions=source --import tsx`) in which the packages named in `blocked` cannot be
 * imported or required. `runWithout(['koffi'], "import '@netboot/ipam'", { cwd })` exits 0 only if that
 * import path never loads the FFI.
 */
export function runWithout(blocked: string[], body: string, opts: RunWithoutOptions): RunWithoutResult {
  const blocker = `data:text/javascript,${encodeURIComponent(blockerSource(blocked))}`;
  const res = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', '--import', blocker, '--input-type=module', '-e', body], {
    cwd: opts.cwd,
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 60_000,
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  return { status: res.status, output: `${res.stdout ?? ''}${res.stderr ?? ''}` };
}
