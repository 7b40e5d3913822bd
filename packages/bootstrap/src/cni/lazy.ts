// Modules the plugin loads on first use. Kept once loaded: a warm server (server.ts) runs thousands of
// calls, and every `import()` of a module already loaded is still a trip through the module loader —
// with a loader hook (tsx, running from source) a round trip to the hooks thread, 2–5 ms per call.

/** `load` on the first call only; later calls get the same promise. */
export function lazy<T>(load: () => Promise<T>): () => Promise<T> {
  let loaded: Promise<T> | undefined;
  return () => (loaded ??= load());
}
