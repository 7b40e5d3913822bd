// `@netboot/core/errors`: the error kinds every netboot package shares. Pure: loads no FFI.
export { ERROR_KINDS, type ErrorKind, errorKind, InvalidInputError, NetbootError } from '../base/errors.js';
