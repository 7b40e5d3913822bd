// A warm server's first call should cost what its thousandth does. The verbs, netboot's IPAM and what
// they import are loaded on first use (verbs/index.ts, ipam/index.ts): right for a plugin process, which
// runs one verb, but in a server that first use is the first pod's ADD — which then also paid for
// reading, compiling and (from source) transpiling every module under it: ~60 ms of CPU in the node
// agent, ~250 ms in `netboot cni serve` (which also loads the netlink FFI then). Loading them when the
// server starts moves that cost off every pod's path. Modules are cached by URL, so the lazy imports
// later resolve to these.

/**
 * Loads every module a served call may run (the verbs and netboot's IPAM; not the delegated IPAM's or
 * the masquerade's, which need child_process and only some configs use); resolves with the ms it took.
 */
export async function loadVerbs(): Promise<number> {
  const t0 = performance.now();
  await Promise.all([
    import('./node-watch.js'),
    import('./verbs/add.js'),
    import('./verbs/del.js'),
    import('./verbs/check.js'),
    import('./verbs/status.js'),
    import('./verbs/gc.js'),
    import('./ipam/netboot.js'),
  ]);
  return performance.now() - t0;
}
