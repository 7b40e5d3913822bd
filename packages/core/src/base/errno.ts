// errno numbers as names, text and error kinds, and SyscallError (a libc call that returned -1).
// Leaf module: it imports only Node's own `node:util` (no FFI, nothing of netboot's but the error
// base beside it), so the protocol layer and pure code can name and classify errnos without koffi.
import { getSystemErrorMap, getSystemErrorName } from 'node:util';
import { type ErrorKind, NetbootError } from './errors.js';

/** `EEXIST` for 17, … ; `E<n>` for numbers Node does not name. The sign is ignored. */
export function errnoName(errno: number): string {
  // 95 is both ENOTSUP and EOPNOTSUPP on Linux; the kernel means the latter (Node names the former).
  if (Math.abs(errno) === 95) return 'EOPNOTSUPP';
  try {
    return getSystemErrorName(-Math.abs(errno));
  } catch {
    return `E${Math.abs(errno)}`;
  }
}

/** Node's errno table, made once: getSystemErrorMap() builds a new Map of ~130 entries per call. */
let systemErrors: ReturnType<typeof getSystemErrorMap> | undefined;

/** Human text for an errno ("file already exists"), from Node's own table. */
export function errnoText(errno: number): string {
  systemErrors ??= getSystemErrorMap();
  return systemErrors.get(-Math.abs(errno))?.[1] ?? `errno ${Math.abs(errno)}`;
}

/**
 * What an errno means to a caller, as an error kind. The kernel checks a request before changing
 * anything, so its "this makes no sense" answers (EINVAL, ERANGE, EOPNOTSUPP…) are `invalid`:
 * nothing changed, fix the input. Temporary shortages are `unavailable`: retry.
 */
const KIND_BY_CODE: Readonly<Record<string, ErrorKind>> = {
  EEXIST: 'exists',
  ENOENT: 'not-found',
  ENODEV: 'not-found',
  ESRCH: 'not-found',
  EADDRNOTAVAIL: 'not-found',
  ENXIO: 'not-found',
  EBUSY: 'conflict',
  EINVAL: 'invalid',
  ERANGE: 'invalid',
  EOPNOTSUPP: 'invalid',
  EAFNOSUPPORT: 'invalid',
  EPROTONOSUPPORT: 'invalid',
  EAGAIN: 'unavailable',
  ENOBUFS: 'unavailable',
  ETIMEDOUT: 'unavailable',
};

/** The error kind of an errno name (`errnoName`'s output); `internal` for any errno not listed above. */
export function errnoKind(code: string): ErrorKind {
  return KIND_BY_CODE[code] ?? 'internal';
}

/** A libc call failed; `errno` is the raw number, `code` its name (`EPERM`, `ENOENT`, …), `kind` from the errno. */
export class SyscallError extends NetbootError {
  readonly kind: ErrorKind;
  readonly errno: number;
  readonly code: string;
  readonly call: string;

  constructor(call: string, errno: number, detail?: string) {
    const code = errnoName(errno);
    super(`${call}${detail ? ` (${detail})` : ''}: ${code} (errno ${errno})`);
    this.kind = errnoKind(code);
    this.errno = errno;
    this.code = code;
    this.call = call;
  }
}
