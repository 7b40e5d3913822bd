// Error classes for failures below netlink: a libc call that returned -1.
// Netlink's own errors (NLMSG_ERROR replies, malformed bytes, interrupted dumps) live in netlink/errors.ts.
import { getSystemErrorName } from 'node:util';

/** A libc call failed; `errno` is the raw number and `code` its name (`EPERM`, `ENOENT`, …). */
export class SyscallError extends Error {
  readonly errno: number;
  readonly code: string;
  readonly call: string;

  constructor(call: string, errno: number, detail?: string) {
    const code = errnoName(errno);
    super(`${call}${detail ? ` (${detail})` : ''}: ${code} (errno ${errno})`);
    this.name = 'SyscallError';
    this.errno = errno;
    this.code = code;
    this.call = call;
  }
}

/** `EEXIST` for 17, … ; `E<n>` for numbers Node does not name. */
export function errnoName(errno: number): string {
  // 95 is both ENOTSUP and EOPNOTSUPP on Linux; the kernel means the latter (Node names the former).
  if (Math.abs(errno) === 95) return 'EOPNOTSUPP';
  try {
    return getSystemErrorName(-Math.abs(errno));
  } catch {
    return `E${errno}`;
  }
}

/**
 * A field of a link, route or neighbour spec that the kernel would refuse or misread. Thrown before
 * anything is sent, so nothing changed; names the field and the value.
 */
export class SpecError extends Error {
  readonly field: string;
  readonly value: unknown;

  constructor(what: string, field: string, value: unknown, why: string) {
    super(`invalid ${what}${field} ${JSON.stringify(value)}: ${why}`);
    this.name = new.target.name;
    this.field = field;
    this.value = value;
  }
}

/** The SpecError subclasses (link, route, neighbour): all built from (field, value, why). */
export type SpecErrorClass = new (field: string, value: unknown, why: string) => SpecError;

/** The largest ifindex the kernel hands out (a positive int). */
export const IFINDEX_MAX = 0x7fffffff;

/** `v` if it is an integer in min..max; otherwise `cls` naming the field and the value. */
export function checkInteger(cls: SpecErrorClass, field: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new cls(field, v, `expected an integer ${min}..${max}`);
  return v;
}

/** Whether an optional flag is set; anything but undefined/true/false is `cls` naming the field. */
export function checkFlag(cls: SpecErrorClass, field: string, v: unknown): boolean {
  if (v !== undefined && typeof v !== 'boolean') throw new cls(field, v, 'expected a boolean');
  return v === true;
}
