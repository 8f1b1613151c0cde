/**
 * The byte writer of Parquet rows (canonical-row-bytes.ts) against the definition (canonical-row.ts):
 * for any row, the leaf input it writes is 0x00 ‖ the UTF-8 of canonicalRow, text values read as
 * a fatal TextDecoder reads them. Also: Utf8Text accepts exactly what that decoder accepts, and a
 * row past the record limit is refused however it grows.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { AicertError } from '../../../src/errors.js';
import { CanonicalRowWriter, Utf8Text } from '../../../src/measure/dataset/canonical-row-bytes.js';
import { canonicalRow } from '../../../src/measure/dataset/canonical-row.js';
import { ReusedBuffers } from '../../../src/measure/dataset/parquet-buffers.js';
import { assertProperty } from '../../util/property.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The row as canonical-row.ts sees it when the reader decodes text to strings. */
function asDecoded(value: unknown): unknown {
  if (value instanceof Utf8Text) return value.toString();
  if (Array.isArray(value)) return value.map(asDecoded);
  if (value && typeof value === 'object' && !(value instanceof Uint8Array)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, asDecoded(v)]));
  }
  return value;
}

function reference(names: string[], row: unknown[]): Buffer {
  return Buffer.concat([Buffer.from([0]), Buffer.from(canonicalRow(names, row.map(asDecoded)), 'utf8')]);
}

/** Text of every kind the escaping must tell apart: ASCII, ", \, control characters, multibyte, a BOM. */
const text = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.string({ unit: fc.constantFrom('a', '"', '\\', '\n', '\u0000', '\u001f', '\u007f', 'é', '€', '😀', '\u2028') }),
  fc.string().map((s) => `\ufeff${s}`),
);
const utf8Text = text.map((s) => Utf8Text.of(Buffer.from(s, 'utf8')));
const leaf = fc.oneof(
  fc.constant(null),
  fc.constant(undefined),
  fc.boolean(),
  fc.bigInt(),
  fc.double(),
  fc.integer(),
  text,
  utf8Text,
  fc.uint8Array({ maxLength: 40 }),
);
const { value } = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, leaf, tie('list'), tie('struct')),
  list: fc.array(tie('value'), { maxLength: 4 }),
  struct: fc.dictionary(text, tie('value'), { maxKeys: 4 }),
}));

describe('canonical rows as bytes', () => {
  it('write the UTF-8 of canonicalRow, text read as a fatal decoder reads it (property)', () => {
    assertProperty(
      fc.property(
        fc.uniqueArray(text, { minLength: 0, maxLength: 5 }),
        fc.array(value, { maxLength: 5 }),
        (names, values) => {
          const row = names.map((_, i) => values[i]);
          const writer = new CanonicalRowWriter(names, 1 << 20, 'rows.parquet');
          // Twice through one writer: its buffer is reused, and the second row must not see the first.
          const first = Buffer.from(writer.leafInput(row));
          assert.deepEqual(first, reference(names, row));
          assert.deepEqual(Buffer.from(writer.leafInput(row)), first);
        },
      ),
    );
  });

  it('a JSONL line and the same row as text give the same record', () => {
    const writer = new CanonicalRowWriter(['id', 'text'], 1024, 'rows.parquet');
    const row = [42n, Utf8Text.of(Buffer.from('the "model"\ttrain\\é'))];
    const written = writer.leafInput(row).subarray(1).toString('utf8');
    assert.equal(written, JSON.stringify({ id: 42, text: 'the "model"\ttrain\\é' }));
  });

  it('Utf8Text accepts exactly the bytes a fatal TextDecoder accepts, with the same text (property)', () => {
    const nearUtf8 = fc.array(
      fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0xed, 0xa0, 0x80, 0xf4, 0x90, 0xc0, 0xef, 0xbb, 0xbf)),
      { maxLength: 12 },
    );
    assertProperty(
      fc.property(nearUtf8, (array) => {
        const bytes = Uint8Array.from(array);
        let expected: string | undefined;
        try {
          expected = strictUtf8.decode(bytes);
        } catch {
          expected = undefined;
        }
        let actual: string | undefined;
        try {
          actual = Utf8Text.of(bytes).toString();
        } catch (err) {
          assert.ok(err instanceof TypeError);
          actual = undefined;
        }
        assert.equal(actual, expected);
      }),
    );
  });

  it('a row longer than the record limit is refused, one of exactly the limit is not', () => {
    const names = ['text'];
    const record = (s: string) => Buffer.byteLength(canonicalRow(names, [s]));
    const fits = 'x'.repeat(100);
    const limit = record(fits);
    const writer = new CanonicalRowWriter(names, limit, 'rows.parquet');
    assert.equal(writer.leafInput([Utf8Text.of(Buffer.from(fits))]).length, limit + 1);
    for (const row of [[Utf8Text.of(Buffer.from(`${fits}y`))], [`${fits}\n`], [[1, 2, 3, fits]]]) {
      assert.throws(
        () => writer.leafInput(row),
        (err: unknown) => err instanceof AicertError && err.code === 'dataset.record-too-long',
      );
    }
    // The writer is still usable after a refusal.
    assert.equal(writer.leafInput(['ok']).subarray(1).toString(), '{"text":"ok"}');
  });

  it('values nested too deep and Dates are refused', () => {
    const writer = new CanonicalRowWriter(['v'], 1 << 20, 'rows.parquet');
    let deep: unknown = 1;
    for (let i = 0; i < 70; i++) deep = [deep];
    for (const bad of [deep, new Date(0)]) {
      assert.throws(
        () => writer.leafInput([bad]),
        (err: unknown) => err instanceof AicertError && err.code === 'dataset.parquet-unsupported',
      );
    }
  });
});

describe('reused column chunk buffers', () => {
  it('hand back exact ArrayBuffers holding each chunk, row group after row group', () => {
    const buffers = new ReusedBuffers();
    const sizes = [
      [200_000, 70_000, 10],
      [150_000, 300_000, 10],
      [200_000, 1, 90_000],
    ];
    for (const [round, group] of sizes.entries()) {
      buffers.reset();
      for (const [i, size] of group.entries()) {
        const bytes = Buffer.alloc(size, round * 16 + i + 1);
        const copy = buffers.copy(bytes.subarray(0, size));
        assert.equal(copy.byteLength, size);
        assert.deepEqual(Buffer.from(copy), bytes);
      }
    }
  });
});
