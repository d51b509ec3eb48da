// Where to send a user after sign-in (security.md, "return_to"): only a path on the tenant host the
// user is already on. Two layers, because each catches what the other misses:
//   1. before parsing, refuse anything that is not plainly a rooted path: schemes, `//`, `/\`,
//      backslashes, whitespace and control characters, raw or percent-encoded once;
//   2. resolve it with the WHATWG URL parser (what browsers use on a Location header) against a
//      dummy origin, and keep it only if the origin is unchanged and the normalized result passes
//      the checks of step 1 again.
// The result is the normalized pathname and query, without the fragment; it is safe to put in a
// Location header as is.

const DUMMY_ORIGIN = 'http://tenant.invalid';
export const RETURN_TO_MAX_LENGTH = 2048;

/** ASCII control characters, space and DEL. */
const CONTROL_OR_SPACE = /[\u0000-\u0020\u007f]/;

export function safeReturnTo(input: unknown): string | null {
  if (typeof input !== 'string' || input.length === 0 || input.length > RETURN_TO_MAX_LENGTH) return null;
  if (!looksSafe(input)) return null;

  let url: URL;
  try {
    url = new URL(input, DUMMY_ORIGIN);
  } catch {
    return null;
  }
  if (url.origin !== DUMMY_ORIGIN || url.username !== '' || url.password !== '') return null;

  // Normalization can create what the input hid: dot segments turn `/.//evil.com` into `//evil.com`
  // and `/%2e/%2f/evil.com` into `/%2f/evil.com`. The result must pass the same checks (which also
  // makes the function stable: a result validates to itself).
  const result = url.pathname + url.search;
  return looksSafe(result) ? result : null;
}

function looksSafe(value: string): boolean {
  return isPlainRootedPath(value) && isPlainRootedPath(percentDecodeOnce(value));
}

/** One leading '/', not followed by '/' or '\', and no backslash, whitespace or control anywhere. */
function isPlainRootedPath(value: string): boolean {
  return (
    value.startsWith('/') &&
    value[1] !== '/' &&
    !value.includes('\\') &&
    !CONTROL_OR_SPACE.test(value)
  );
}

/**
 * Decodes %XX escapes once, byte by byte, into a latin1-style string: enough to see an encoded
 * '/', '\', tab or CR/LF, and it cannot throw on invalid UTF-8 the way decodeURIComponent does.
 * A '%' not followed by two hex digits is left as it is (the URL parser does the same).
 */
function percentDecodeOnce(value: string): string {
  return value.replace(/%([0-9A-Fa-f]{2})/g, (_match, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}
