// `@netboot/core/errors`: the error kinds every netboot package shares. Pure: loads no FFI.
export { ERROR_KINDS, type ErrorKind, errorKind, InvalidInputError, NetbootError, UnsupportedPlatformError } from '../base/errors.js';
