import { InputError } from '../../errors.js';

/**
 * The bytes of one Parquet row as a dataset record (docs/datasets.md, "Parquet"): compact JSON of
 * an object whose keys are the top-level columns in schema order, each value encoded from the
 * decoded value alone. Nothing about how the file stored it (row groups, pages, dictionary or
 * plain encoding, compression, INT32 or INT64) reaches the bytes, so the same rows written by
 * two writers give the same records:
 * - null → null; booleans → true / false;
 * - integers (any width, signed or not) → decimal digits, exact (64-bit values too);
 * - floating point → the shortest decimal that reads back to the same number (ECMAScript
 *   Number::toString), "-0" for negative zero, and the strings "NaN", "Infinity", "-Infinity";
 * - strings → JSON strings (escaped as JSON.stringify does: ", \ and control characters);
 * - binary (BYTE_ARRAY or FIXED_LEN_BYTE_ARRAY without a string annotation) → a JSON string of
 *   its standard base64;
 * - timestamps → their integer count of the column's unit since the epoch; dates → days;
 * - lists → arrays; structs and maps → objects, keys in the order the file gives them.
 */
export function canonicalRow(names: readonly string[], row: readonly unknown[]): string {
  let out = '{';
  for (let i = 0; i < names.length; i++) {
    if (i > 0) out += ',';
    out += JSON.stringify(names[i]);
    out += ':';
    out += canonicalValue(row[i], 0);
  }
  return `${out}}`;
}

/** Deeper nesting than this is refused: no real schema needs it, and it bounds the recursion. */
export const MAX_CANONICAL_DEPTH = 64;

function canonicalValue(value: unknown, depth: number): string {
  checkDepth(depth);
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value !== 'object' || value === null) return scalarJson(value);
  if (value instanceof Uint8Array) return binaryJson(value);
  if (Array.isArray(value) || ArrayBuffer.isView(value)) {
    const items = Array.from(value as ArrayLike<unknown>, (item) => canonicalValue(item, depth + 1));
    return `[${items.join(',')}]`;
  }
  if (value instanceof Date) throw dateValue();
  const members = Object.entries(value as Record<string, unknown>).map(
    ([key, item]) => `${JSON.stringify(key)}:${canonicalValue(item, depth + 1)}`,
  );
  return `{${members.join(',')}}`;
}

/* What canonical-row-bytes.ts, the fast writer of the same encoding, shares with this definition. */

/** Refuses a value nested deeper than MAX_CANONICAL_DEPTH (`depth` 0: a column's value). */
export function checkDepth(depth: number): void {
  if (depth > MAX_CANONICAL_DEPTH) {
    throw new InputError(
      'dataset.parquet-unsupported',
      `a Parquet value is nested deeper than ${MAX_CANONICAL_DEPTH} levels`,
    );
  }
}

/** Binary bytes as the JSON string of their standard base64. */
export function binaryJson(bytes: Uint8Array): string {
  return `"${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('base64')}"`;
}

/** Every timestamp and date parser hands back integers (parquet-file.ts): a Date is a bug. */
export function dateValue(): InputError {
  return new InputError('dataset.parquet-unsupported', 'a Parquet value decoded as a Date');
}

/** The JSON of a value that is neither an object nor a string (canonical-row-bytes.ts writes it too). */
export function scalarJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'undefined':
      return 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return value.toString();
    case 'number':
      if (Number.isFinite(value)) return Object.is(value, -0) ? '-0' : String(value);
      return Number.isNaN(value) ? '"NaN"' : value > 0 ? '"Infinity"' : '"-Infinity"';
    default:
      throw new InputError('dataset.parquet-unsupported', `a Parquet value of JavaScript type ${typeof value}`);
  }
}
