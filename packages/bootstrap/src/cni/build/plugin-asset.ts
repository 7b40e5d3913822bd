// How the single executable carries the plugin: the CommonJS bundle as the SEA asset `plugin.cjs`,
// run through node:vm inside this wrapper, with a V8 code cache made from the same wrapper at build
// time (`plugin.cache`). Build and run time must agree on both, so both live here.

/** The file name V8 sees (stack traces, and the code cache's source check). */
export const PLUGIN_FILENAME = 'netboot-plugin.cjs';

/** The bundle as a function of the CommonJS bindings it uses (a SEA's require loads only builtins). */
export function wrapPlugin(source: string): string {
  return `(function (require, module, exports) {${source}\n})`;
}
