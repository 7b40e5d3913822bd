// The one error class of the CNI plugin. Every failure leaves the plugin as the spec's JSON error on
// stdout (`{cniVersion, code, msg, details}`) with a non-zero exit; the code tells the runtime what
// it can do about it. Errors from core and ipam are classified by their `kind`, through ONE table.
import { type ErrorKind, errorKind, NetbootError } from '@netboot/core/errors';

/** The spec's reserved codes (0–99) and netboot's own (100+). */
export const CniCode = {
  /** cniVersion not supported (also: STATUS or GC asked with a config older than 1.1.0). */
  IncompatibleVersion: 1,
  /** A field this plugin does not support; the message names key and value. */
  UnsupportedField: 2,
  /** The container (its network namespace) does not exist. */
  UnknownContainer: 3,
  /** A CNI_* environment variable is missing or malformed; the message names it. */
  InvalidEnvironment: 4,
  /** Reading or writing a file failed. */
  IoFailure: 5,
  /** stdin is not JSON. */
  DecodeFailure: 6,
  /** The network configuration is invalid; the message names the field. */
  InvalidConfig: 7,
  /** A transient failure (lock, store, kernel busy): the runtime may retry. */
  TryAgainLater: 11,
  /** STATUS: the plugin cannot service ADD now. */
  NotAvailable: 50,
  /** CHECK: the container's network differs from what ADD set up (prevResult). */
  CheckFailed: 100,
  /** No free address left in the range (IPAM exhausted). */
  AddressExhausted: 101,
  /** Something already there is in the way (an interface name in the container, an address held by another pod). */
  Conflict: 102,
  /** A delegated plugin (IPAM from CNI_PATH) failed or could not be run. */
  DelegateFailed: 103,
  /** An unexpected failure: a bug, or a kernel refusal the plugin does not expect. */
  Internal: 999,
} as const;
type CniCodeValue = (typeof CniCode)[keyof typeof CniCode];

/**
 * Error kind (from @netboot/core/errors) → CNI code. The only place the plugin decides what a core or
 * ipam failure means to a runtime.
 */
const CODE_OF_KIND: Record<ErrorKind, CniCodeValue> = {
  invalid: CniCode.InvalidConfig,
  'not-found': CniCode.UnknownContainer,
  exists: CniCode.Conflict,
  conflict: CniCode.Conflict,
  exhausted: CniCode.AddressExhausted,
  unavailable: CniCode.TryAgainLater,
  internal: CniCode.Internal,
};

/** The kind a code stands for, so a CniError is also an ordinary NetbootError to callers. */
function kindOfCode(code: number): ErrorKind {
  const kind = (Object.keys(CODE_OF_KIND) as ErrorKind[]).find((k) => CODE_OF_KIND[k] === code);
  if (kind !== undefined) return kind;
  if (code === CniCode.NotAvailable || code === CniCode.IoFailure) return 'unavailable';
  return code < 10 ? 'invalid' : 'internal';
}

/** A failure with its CNI code; `details` is optional text for humans (the spec's `details`). */
export class CniError extends NetbootError {
  readonly kind: ErrorKind;
  readonly code: number;
  readonly details: string | undefined;

  constructor(code: number, message: string, options: { details?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.kind = kindOfCode(code);
    this.details = options.details;
  }

  /** The spec's error object. */
  toJSON(cniVersion: string): { cniVersion: string; code: number; msg: string; details?: string } {
    return { cniVersion, code: this.code, msg: this.message, ...(this.details === undefined ? {} : { details: this.details }) };
  }
}

/** Any thrown value as a CniError: CniErrors pass through, others get the code of their kind. */
export function toCniError(err: unknown, context?: string): CniError {
  if (err instanceof CniError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new CniError(CODE_OF_KIND[errorKind(err)], context ? `${context}: ${message}` : message, { cause: err });
}

/** Error 7 for a config field: `invalid config field "ipam.ranges[0][0].subnet": <why>, got <value>`. */
export function configError(field: string, why: string, value?: unknown): CniError {
  const got = value === undefined ? '' : `, got ${JSON.stringify(value)}`;
  return new CniError(CniCode.InvalidConfig, `invalid config field "${field}": ${why}${got}`);
}
