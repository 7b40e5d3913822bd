// Errors of the resource layer (link, route and neighbour specs). SyscallError and errnoName live in
// base/errno.ts, where the protocol layer can reach them; they are re-exported here for callers.
export { errnoName, SyscallError } from './base/errno.js';
import { InvalidInputError } from './base/errors.js';

/**
 * A field of a link, route or neighbour spec that the kernel would refuse or misread. Thrown before
 * anything is sent, so nothing changed (kind `invalid`); names the field and the value. Address text
 * that does not parse is the IP module's InvalidAddressError instead, whichever API it enters.
 */
export class SpecError extends InvalidInputError {
  readonly field: string;
  readonly value: unknown;

  constructor(what: string, field: string, value: unknown, why: string) {
    super(`invalid ${what}${field} ${JSON.stringify(value)}: ${why}`);
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
