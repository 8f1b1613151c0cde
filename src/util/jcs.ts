/**
 * RFC 8785 JSON Canonicalization Scheme: object members sorted by UTF-16 code units, no
 * whitespace, numbers and strings serialized as ECMAScript's JSON.stringify does (which is
 * what RFC 8785 specifies). Event digests are computed over these bytes, so a verifier can
 * recompute every digest from the content it displays.
 */

/**
 * Deepest nesting encoded. aicert's own documents nest a few levels; the bound keeps untrusted
 * content (an event log) from exhausting the stack, which would be a crash, not an error.
 */
export const MAX_JCS_DEPTH = 100;

export function canonicalize(value: unknown, depth = 0): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError('JCS cannot encode a non-finite number');
    return JSON.stringify(value);
  }
  if (depth >= MAX_JCS_DEPTH)
    throw new TypeError(`JCS cannot encode values nested deeper than ${MAX_JCS_DEPTH} levels`);
  if (Array.isArray(value)) return `[${value.map((v) => canonicalize(v, depth + 1)).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    // Default sort compares UTF-16 code units, as RFC 8785 §3.2.3 requires.
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalize(v, depth + 1)}`).join(',')}}`;
  }
  throw new TypeError(`JCS cannot encode a value of type ${typeof value}`);
}

/** Whether `value` has an RFC 8785 encoding (finite numbers, bounded nesting, JSON types only). */
export function isCanonicalizable(value: unknown): boolean {
  try {
    canonicalize(value);
    return true;
  } catch (err) {
    if (err instanceof TypeError) return false;
    throw err;
  }
}
