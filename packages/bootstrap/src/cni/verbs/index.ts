// The verbs the dispatcher calls. All but VERSION are loaded on first call: VERSION (which runtimes
// send to every plugin of every network on every pod start) then never loads the FFI, netlink or IPAM,
// and costs little more than Node's own start. In the CommonJS bundle, esbuild turns these imports
// into deferred module initialisers, so nothing is read from disk either way.
import type { CniRequest, Verbs } from '../skel.js';
import { version } from './version.js';

export const verbs: Verbs = {
  add: async (req: CniRequest) => (await import('./add.js')).add(req),
  del: async (req: CniRequest) => (await import('./del.js')).del(req),
  check: async (req: CniRequest) => (await import('./check.js')).check(req),
  status: async (req: CniRequest) => (await import('./status.js')).status(req),
  gc: async (req: CniRequest) => (await import('./gc.js')).gc(req),
  version,
};
