// The one check of an interface name, shared by core's link APIs and ipam's CNI_IFNAME: a name is
// refused here exactly when one of the two parties that would refuse it later does:
//   libcni's ValidateInterfaceName (what the runtime and host-local check): at most 15 bytes, not '.'
//     or '..', no '/', ':' or whitespace as Go's unicode.IsSpace defines it;
//   the kernel's dev_valid_name: IFNAMSIZ 16 bytes incl. NUL, and isspace() on each *byte*, whose
//     ctype table counts 0xA0 (Latin-1 NBSP) as a space — so 'à' (C3 A0) is a bare EINVAL.
// Leaf module: imports nothing, so pure code (ipam, a config checker) validates without the FFI.
// It says why rather than throwing, so each API throws its own class naming its own field.

/** The longest interface name in bytes (IFNAMSIZ 16 less the terminating NUL); libcni counts bytes too. */
export const IFNAME_MAX_BYTES = 15;

/**
 * Go's unicode.IsSpace as the body of a RegExp character class: JavaScript's \s without U+FEFF, plus
 * U+0085 (NEL). libcni refuses it in interface names; host-local's strings.TrimSpace trims it.
 */
export const GO_SPACE = '\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

const FORBIDDEN = new RegExp(`[/:\\0${GO_SPACE}]`, 'u');
const KERNEL_SPACE_BYTE = 0xa0;
const utf8 = new TextEncoder();

/**
 * Why `name` cannot be an interface name (`ip link add <name> …`, CNI_IFNAME), or undefined when it
 * can. The reason reads after the field: "ifname "a/b": must not contain …".
 */
export function ifNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || name === '') return 'must be a non-empty string';
  const bytes = utf8.encode(name);
  if (bytes.length > IFNAME_MAX_BYTES) return `must be at most ${IFNAME_MAX_BYTES} bytes (is ${bytes.length} in UTF-8)`;
  if (name === '.' || name === '..') return 'must not be "." or ".."';
  if (FORBIDDEN.test(name)) return 'must not contain "/", ":", NUL or whitespace';
  if (bytes.includes(KERNEL_SPACE_BYTE)) {
    return 'must not contain a character whose UTF-8 holds the byte 0xA0 (e.g. "à"): the kernel counts that byte as a space';
  }
  return undefined;
}
