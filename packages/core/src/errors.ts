// Errors of the resource layer (link, address, route and neighbour specs). SyscallError lives in
// base/errno.ts, where the protocol layer can reach it; it is re-exported here for callers.
export { SyscallError } from './base/errno.js';
import { InvalidInputError } from './base/errors.js';

/**
 * A field of a link, address, route or neighbour spec that the kernel would refuse or misread. Thrown
 * before anything is sent, so nothing changed (kind `invalid`); names the field and the value.
 * One mistake, one class, whichever API it enters:
 *   address text that does not parse (IP, CIDR, MAC)   InvalidAddressError (the IP module's)
 *   a device that cannot exist (ifindex 0, 'a/b')      InvalidLinkSpecError
 *   any other field (a route table, a neighbour state)  the API's own: RouteSpecError, NeighSpecError…
 */
export class SpecError extends InvalidInputError {
  /** What the spec describes, as the message names it: 'route ' → "invalid route dev 0: …". */
  static readonly subject: string = '';
  readonly field: string;
  readonly value: unknown;

  constructor(field: string, value: unknown, why: string) {
    super(`invalid ${new.target.subject}${field} ${JSON.stringify(value)}: ${why}`);
    this.field = field;
    this.value = value;
  }
}

/** The largest ifindex the kernel hands out (a positive int). */
export const IFINDEX_MAX = 0x7fffffff;

/** `v` if it is an integer in min..max; otherwise `cls` naming the field and the value. */
export function checkInteger(cls: typeof SpecError, field: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new cls(field, v, `expected an integer ${min}..${max}`);
  return v;
}

/** Whether an optional flag is set; anything but undefined/true/false is `cls` naming the field. */
export function checkFlag(cls: typeof SpecError, field: string, v: unknown): boolean {
  if (v !== undefined && typeof v !== 'boolean') throw new cls(field, v, 'expected a boolean');
  return v === true;
}
