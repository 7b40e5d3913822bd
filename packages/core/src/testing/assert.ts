// Assertions on errors, for every package's tests. uvu's `throws` takes a predicate, not a class, and uvu
// has no `rejects`; these fill the gap. Pure: no FFI, no test framework — a failure is node:assert's
// AssertionError, which every runner (uvu included) reports as a failed test.
import { AssertionError } from 'node:assert';

/** Any error class, abstract ones included (`NetbootError`, `InvalidInputError`). */
export type ErrorClass<E extends Error = Error> = abstract new (...args: never[]) => E;

/** A predicate for uvu's `assert.throws(fn, isA(Cls))`: true when the error is an instance of `cls`. */
export function isA(cls: ErrorClass): (err: unknown) => boolean {
  return (err) => err instanceof cls;
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

function check<E extends Error>(err: unknown, cls: ErrorClass<E>, pattern: RegExp | undefined, what: string): E {
  if (!(err instanceof cls)) {
    throw new AssertionError({ message: `${what}: expected a ${cls.name}, got ${describe(err)}`, actual: err, expected: cls, operator: 'instanceof' });
  }
  if (pattern !== undefined && !pattern.test(err.message)) {
    throw new AssertionError({
      message: `${what}: ${cls.name} message ${JSON.stringify(err.message)} does not match ${pattern}`,
      actual: err.message,
      expected: pattern,
      operator: 'match',
    });
  }
  return err;
}

/**
 * Calls `fn` and asserts that it throws an instance of `cls` (whose message matches `pattern`, if given).
 * Returns the error so the test can check its fields.
 */
export function throwsA<E extends Error>(fn: () => unknown, cls: ErrorClass<E>, pattern?: RegExp, what = 'call'): E {
  try {
    fn();
  } catch (err) {
    return check(err, cls, pattern, what);
  }
  throw new AssertionError({ message: `${what}: expected a ${cls.name}, nothing was thrown`, expected: cls, operator: 'throws' });
}

/**
 * Awaits `promise` and asserts that it rejects with an instance of `cls` (whose message matches `pattern`,
 * if given). Returns the error so the test can check its fields.
 */
export async function rejectsA<E extends Error>(promise: Promise<unknown>, cls: ErrorClass<E>, pattern?: RegExp, what = 'promise'): Promise<E> {
  try {
    await promise;
  } catch (err) {
    return check(err, cls, pattern, what);
  }
  throw new AssertionError({ message: `${what}: expected a ${cls.name} rejection, it resolved`, expected: cls, operator: 'rejects' });
}
