// `@netboot/core/testing/pure`: the shared test helpers that load no FFI — error assertions, the skip
// for privileged tests, a temporary directory, open descriptors, and a child process without koffi — so a pure test
// (IP math, IPAM over MemoryKv) runs wherever Node runs.
// `@netboot/core/testing` re-exports all of it beside the namespace and etcd fixtures.
export { type ErrorClass, isA, rejectsA, throwsA } from '../../testing/assert.js';
export { missingPrivileges, privileged, skipIf, type TestRegistrar } from '../../testing/privileged.js';
export { openFds } from '../../testing/fds.js';
export { withTempDir } from '../../testing/tmp.js';
export { type RunWithoutOptions, type RunWithoutResult, runWithout } from '../../testing/without.js';
