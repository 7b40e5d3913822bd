// The one error taxonomy of every netboot package. Each error a package throws is a NetbootError with a
// `kind` that says what the caller can do about it, beside its specific class and fields:
//   invalid      bad input; nothing was changed — fix the input
//   not-found    the object (link, route, pool, reservation, namespace…) is not there
//   exists       the object is already there
//   conflict     someone else's state is in the way (in use, held by another owner, a lost race)
//   exhausted    no free address, block or subnet is left
//   unavailable  the store or the kernel could not be reached or answered too late — retry
//   internal     anything else: a bug, or a state the code did not expect
// The CNI plugin maps kinds to the spec's error codes in one table; the CLI maps them to exit codes.
// Leaf module: imports nothing, so pure code can throw and classify errors without loading the FFI.

export type ErrorKind = 'invalid' | 'not-found' | 'exists' | 'conflict' | 'exhausted' | 'unavailable' | 'internal';

export const ERROR_KINDS: readonly ErrorKind[] = ['invalid', 'not-found', 'exists', 'conflict', 'exhausted', 'unavailable', 'internal'];

/** The base of every error netboot throws: `kind` classifies it, `name` is the specific class. */
export abstract class NetbootError extends Error {
  abstract readonly kind: ErrorKind;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * Bad input, refused before anything was changed. The specific families (spec fields, addresses,
 * CIDRs, names, ranges) are subclasses, so callers can catch one family or all of them.
 */
export class InvalidInputError extends NetbootError {
  readonly kind = 'invalid' as const;
}

/**
 * The FFI was loaded on a platform it does not support (netboot speaks to Linux's x86-64 libc). Thrown
 * before koffi is asked to load anything, so the message says why rather than a dlopen failure.
 */
export class UnsupportedPlatformError extends NetbootError {
  readonly kind = 'internal' as const;
  readonly platform: string;
  readonly arch: string;

  constructor(platform: string, arch: string) {
    super(`@netboot/core supports linux/x64 only (this is ${platform}/${arch})`);
    this.platform = platform;
    this.arch = arch;
  }
}

/** The kind of any thrown value: a NetbootError's own, `internal` for everything else. */
export function errorKind(err: unknown): ErrorKind {
  return err instanceof NetbootError ? err.kind : 'internal';
}
