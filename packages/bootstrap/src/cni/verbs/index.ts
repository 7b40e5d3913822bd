// The verbs the dispatcher calls. All but VERSION are loaded on first call: VERSION (which runtimes
// send to every plugin of every network on every pod start) then never loads the FFI, netlink or IPAM,
// and costs little more than Node's own start. In the CommonJS bundle, esbuild turns these imports
// into deferred module initialisers, so nothing is read from disk either way.
import { lazy } from '../lazy.js';
import type { CniRequest, Verbs } from '../skel.js';
import { version } from './version.js';

const modules = {
  add: lazy(() => import('./add.js')),
  del: lazy(() => import('./del.js')),
  check: lazy(() => import('./check.js')),
  status: lazy(() => import('./status.js')),
  gc: lazy(() => import('./gc.js')),
};

export const verbs: Verbs = {
  add: async (req: CniRequest) => (await modules.add()).add(req),
  del: async (req: CniRequest) => (await modules.del()).del(req),
  check: async (req: CniRequest) => (await modules.check()).check(req),
  status: async (req: CniRequest) => (await modules.status()).status(req),
  gc: async (req: CniRequest) => (await modules.gc()).gc(req),
  version,
};
