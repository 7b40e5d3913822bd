// Interface names are checked the way the two parties that will refuse them do: libcni's
// ValidateInterfaceName (what the runtime and host-local check: length in bytes, '/', ':', Unicode
// whitespace, '.', '..') and the kernel's dev_valid_name (IFNAMSIZ 16 incl. NUL; isspace on each byte).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { errorKind, InvalidInputError } from '@netboot/core/errors';
import { throwsA } from '@netboot/core/testing/pure';
import { InvalidArgumentError, validateIfname } from '../src/validate.js';

const refused = (name: string, reason: RegExp) =>
  assert.throws(
    () => validateIfname(name),
    (e: unknown) => e instanceof InvalidArgumentError && e.field === 'ifname' && reason.test(e.message),
    JSON.stringify(name),
  );

test('length is counted in bytes: 15 fit, 16 do not, whatever the characters', () => {
  assert.is(validateIfname('a'.repeat(15)), 'a'.repeat(15));
  assert.is(validateIfname('é'.repeat(7)), 'é'.repeat(7)); // 14 bytes
  refused('a'.repeat(16), /15 bytes/);
  refused('é'.repeat(8), /15 bytes/); // 8 characters, 16 bytes: libcni "interface name is too long"
  assert.is(validateIfname(`${'a'.repeat(13)}é`), `${'a'.repeat(13)}é`); // 15 bytes
  refused(`${'a'.repeat(14)}é`, /15 bytes/); // 15 characters, 16 bytes
});

test('"/", ":", whitespace by Go\'s definition (U+0085 included), "." and ".." are refused', () => {
  for (const name of ['eth/0', 'eth:0', 'eth 0', 'eth\t0', 'a\u0085b', 'a\u00a0b', 'a\u2028b', '.', '..', '']) refused(name, /ifname/);
  assert.is(validateIfname('a\ufeff'), 'a\ufeff', 'U+FEFF is not whitespace to Go or the kernel');
  assert.is(validateIfname('...'), '...');
});

test('a byte the kernel counts as a space (0xA0, inside "à") is refused: the kernel would say EINVAL', () => {
  refused('à', /kernel/);
  assert.is(validateIfname('é'), 'é');
});

test('a refused value is bad input: InvalidArgumentError is an InvalidInputError of kind invalid', () => {
  const e = throwsA(() => validateIfname('a/b'), InvalidArgumentError);
  assert.ok(e instanceof InvalidInputError);
  assert.is(errorKind(e), 'invalid');
  assert.is(e.name, 'InvalidArgumentError');
});

test.run();
