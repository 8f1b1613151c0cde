import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { assertProperty } from '../../util/property.js';
import { AicertError, InputError } from '../../../src/errors.js';
import { CsvRowSplitter } from '../../../src/measure/dataset/csv-splitter.js';
import { LineSplitter } from '../../../src/measure/dataset/line-splitter.js';
import { recordFormatFor } from '../../../src/measure/dataset/record-format.js';
import { forEachRecord, type RecordReadOptions } from '../../../src/measure/dataset/records.js';
import { scratchDir } from '../helpers.js';

const dir = scratchDir('records');
let fileCounter = 0;

async function recordsOf(content: string | Buffer, options: RecordReadOptions) {
  const path = join(dir, `f${fileCounter++}`);
  writeFileSync(path, content);
  const records: string[] = [];
  const info = await forEachRecord(path, options, (record) => records.push(record.toString('utf8')));
  return { records, header: info.header?.toString('utf8') };
}

async function rejectsWith(promise: Promise<unknown>, code: string, messagePart?: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof AicertError, `expected an AicertError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (messagePart) assert.match(err.message, new RegExp(messagePart));
    return true;
  });
}

/** Feeds `bytes` to a splitter in chunks cut at the given points. */
function pushInChunks(splitter: { push(b: Buffer): void; end(): void }, bytes: Buffer, cuts: number[]): void {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  let start = 0;
  for (const point of [...points, bytes.length]) {
    splitter.push(bytes.subarray(start, point));
    start = point;
  }
  splitter.end();
}

describe('record formats', () => {
  it('infers the format from the extension, or takes an explicit one', () => {
    assert.equal(recordFormatFor('a/train.JSONL'), 'jsonl');
    assert.equal(recordFormatFor('x.ndjson'), 'jsonl');
    assert.equal(recordFormatFor('x.csv'), 'csv');
    assert.equal(recordFormatFor('x.txt'), 'text');
    assert.equal(recordFormatFor('x.bin', 'text'), 'text');
    assert.throws(
      () => recordFormatFor('x.bin'),
      (e: unknown) => e instanceof InputError && e.code === 'dataset.unknown-format',
    );
    assert.throws(
      () => recordFormatFor('x.csv', 'xml'),
      (e: unknown) => e instanceof InputError && e.code === 'dataset.unknown-format',
    );
  });
});

describe('JSONL records', () => {
  it('are the raw non-blank lines without LF/CRLF; a last line without newline counts; a BOM is not content', async () => {
    const { records } = await recordsOf('\ufeff{"a": 1}\r\n\n  \n[1,2]\n"x" \n{"b":2}', { format: 'jsonl' });
    assert.deepEqual(records, ['{"a": 1}', '[1,2]', '"x" ', '{"b":2}']);
  });

  it('rejects a line that is not one JSON value, naming the line', async () => {
    await rejectsWith(recordsOf('{"a":1}\n{"a":\n', { format: 'jsonl' }), 'dataset.jsonl-invalid', 'line 2');
    await rejectsWith(recordsOf('{"a":1} {"b":2}\n', { format: 'jsonl' }), 'dataset.jsonl-invalid', 'line 1');
  });

  it('rejects invalid UTF-8', async () => {
    await rejectsWith(recordsOf(Buffer.from([0x22, 0xff, 0x22, 0x0a]), { format: 'jsonl' }), 'dataset.jsonl-invalid');
  });
});

describe('text records', () => {
  it('are the non-empty lines byte for byte, whitespace kept', async () => {
    const { records } = await recordsOf('one\n\n two \r\nthree\r', { format: 'text' });
    assert.deepEqual(records, ['one', ' two ', 'three\r']);
  });

  it('keep records that span the 1 MiB read chunks whole', async () => {
    const long = 'x'.repeat(1024 * 1024 + 10);
    const { records } = await recordsOf(`a\n${long}\nb\n`, { format: 'text' });
    assert.deepEqual(records, ['a', long, 'b']);
  });

  it('refuse a record over the length limit', async () => {
    await rejectsWith(
      recordsOf('short\n' + 'y'.repeat(100) + '\n', { format: 'text', maxRecordBytes: 50 }),
      'dataset.record-too-long',
      'line 2',
    );
  });
});

describe('CSV records', () => {
  it('are the raw rows after the header, quotes and quoted newlines included', async () => {
    const csv = 'id,text\r\n1,plain\r\n2,"with, comma"\r\n3,"two\r\nlines and ""quotes"""\n\n4,\n';
    const { records, header } = await recordsOf(csv, { format: 'csv' });
    assert.equal(header, 'id,text');
    assert.deepEqual(records, ['1,plain', '2,"with, comma"', '3,"two\r\nlines and ""quotes"""', '4,']);
  });

  it('give an empty file neither header nor records', async () => {
    assert.deepEqual(await recordsOf('', { format: 'csv' }), { records: [], header: undefined });
  });

  for (const [name, csv, code, line] of [
    ['a quote inside an unquoted field', 'a,b\n1,x"y\n', 'dataset.csv-malformed', 'line 2'],
    ['text after a closing quote', 'a,b\n1,"x"y\n', 'dataset.csv-malformed', 'line 2'],
    ['an unterminated quoted field', 'a,b\n1,"x\n2,3\n', 'dataset.csv-malformed', 'line 2'],
    ['a bare CR', 'a,b\n1,2\r3,4\n', 'dataset.csv-malformed', 'line 2'],
    ['a row with too few fields', 'a,b,c\n1,2,3\n4,5\n', 'dataset.csv-field-count', 'line 3'],
    ['a row with too many fields', 'a,b\n1,"2,3",4\n', 'dataset.csv-field-count', 'line 2'],
  ] as const) {
    it(`rejects ${name}`, async () => {
      await rejectsWith(recordsOf(csv, { format: 'csv' }), code, line);
    });
  }

  it('split RFC 4180 encodings of random tables back into their rows, however the bytes are chunked (property)', () => {
    const field = fc.string({ unit: fc.constantFrom('a', 'b', ',', '"', '\n', '\r', ' ', 'é'), maxLength: 6 });
    const quote = (f: string) => (/[",\r\n]/.test(f) || f === '' ? `"${f.replace(/"/g, '""')}"` : f);
    assertProperty(
      fc.property(
        fc
          .integer({ min: 1, max: 4 })
          .chain((width) =>
            fc.array(fc.array(field, { minLength: width, maxLength: width }), { minLength: 1, maxLength: 8 }),
          ),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 6 }),
        (table, crlf, cuts) => {
          const rows = table.map((fields) => fields.map(quote).join(','));
          const bytes = Buffer.from(rows.join(crlf ? '\r\n' : '\n'));
          const seen: Array<[string, number]> = [];
          pushInChunks(
            new CsvRowSplitter((row, fields) => seen.push([row.toString('utf8'), fields]), 1 << 20),
            bytes,
            cuts,
          );
          assert.deepEqual(
            seen,
            rows.map((row, i) => [row, table[i]!.length]),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('turns random bytes into rows or an InputError, never a crash (property)', () => {
    assertProperty(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.array(fc.nat(), { maxLength: 4 }), (bytes, cuts) => {
        try {
          pushInChunks(new CsvRowSplitter(() => undefined, 64), Buffer.from(bytes), cuts);
        } catch (err) {
          assert.ok(err instanceof InputError, String(err));
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('line splitting', () => {
  it('gives the same lines however the bytes are chunked (property)', () => {
    assertProperty(
      fc.property(
        fc.string({ unit: fc.constantFrom('a', '\n', '\r', 'z'), maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (text, cuts) => {
          const lines: string[] = [];
          pushInChunks(
            new LineSplitter((line) => lines.push(line.toString('latin1')), 1 << 20),
            Buffer.from(text, 'latin1'),
            cuts,
          );
          // Every LF ends a line (a CR before it belongs to the terminator); a last unterminated part is a line too.
          const parts = text.split('\n');
          const last = parts.pop()!;
          const expected = [...parts.map((l) => l.replace(/\r$/, '')), ...(last === '' ? [] : [last])];
          assert.deepEqual(lines, expected);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('dataset files', () => {
  it('must be regular files that exist', async () => {
    await rejectsWith(
      forEachRecord(dir, { format: 'text' }, () => undefined),
      'dataset.not-a-file',
    );
    await rejectsWith(
      forEachRecord(join(dir, 'nope.txt'), { format: 'text' }, () => undefined),
      'dataset.unreadable',
    );
  });
});
