// `@netboot/core/flock`: a real flock(2), for stores that lock files across processes. Loads the FFI.
export { flock } from '../ffi/libc.js';
export { LOCK_EX, LOCK_NB, LOCK_SH, LOCK_UN } from '../ffi/generated.js';
