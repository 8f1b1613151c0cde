import { open } from 'node:fs/promises';
import { InputError } from '../../errors.js';
import { CsvRowSplitter } from './csv-splitter.js';
import { LineSplitter } from './line-splitter.js';
import type { RecordFormat } from './record-format.js';

/** Longest record accepted by default; one record is the most a dataset read holds in memory. */
export const DEFAULT_MAX_RECORD_BYTES = 64 * 1024 * 1024;
const READ_CHUNK_BYTES = 1024 * 1024;
const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const utf8 = new TextDecoder('utf-8', { fatal: true });

export interface RecordReadOptions {
  format: RecordFormat;
  maxRecordBytes?: number;
}

export interface RecordFileInfo {
  /** The CSV header row's raw bytes (CSV only; undefined for an empty file). */
  header?: Buffer;
}

/**
 * Streams the records of a JSONL, CSV or text-line file, in file order, to `onRecord`. The
 * record buffer is a view that is valid only during the call. What counts as a record:
 * - every format: a leading UTF-8 byte order mark is not content; line terminators are LF or
 *   CRLF and are not part of the record;
 * - text: each non-empty line, byte for byte;
 * - jsonl: each line that is not blank (spaces, tabs), byte for byte; it must be one valid JSON
 *   value in valid UTF-8;
 * - csv: the first non-empty row is the header (returned, not a record); every later non-empty
 *   row is a record, as its raw bytes including quotes, and must have as many fields as the
 *   header.
 * A file that changes while it is read is an error, not a wrong tree.
 */
export async function forEachRecord(
  path: string,
  options: RecordReadOptions,
  onRecord: (record: Buffer) => void,
): Promise<RecordFileInfo> {
  const maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  const handle = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
    throw new InputError('dataset.unreadable', `cannot open dataset ${path}: ${err.code ?? err.message}`, {
      cause: err,
    });
  });
  try {
    const before = await handle.stat();
    if (!before.isFile()) {
      throw new InputError('dataset.not-a-file', `dataset ${path} is not a regular file`);
    }
    const info: RecordFileInfo = {};
    const splitter = makeSplitter(options.format, maxRecordBytes, onRecord, info);
    const chunk = Buffer.allocUnsafe(READ_CHUNK_BYTES);
    let position = 0;
    for (;;) {
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, position);
      if (bytesRead === 0) break;
      let bytes = chunk.subarray(0, bytesRead);
      if (position === 0 && bytes.subarray(0, 3).equals(UTF8_BOM)) bytes = bytes.subarray(3);
      position += bytesRead;
      splitter.push(bytes);
    }
    splitter.end();
    const after = await handle.stat();
    if (after.size !== before.size || after.mtimeMs !== before.mtimeMs || position !== before.size) {
      throw new InputError('dataset.changed', `dataset ${path} changed while it was read; measure it again`);
    }
    return info;
  } finally {
    await handle.close();
  }
}

interface Splitter {
  push(chunk: Buffer): void;
  end(): void;
}

function makeSplitter(
  format: RecordFormat,
  maxRecordBytes: number,
  onRecord: (record: Buffer) => void,
  info: RecordFileInfo,
): Splitter {
  switch (format) {
    case 'text':
      return new LineSplitter((line) => {
        if (line.length > 0) onRecord(line);
      }, maxRecordBytes);
    case 'jsonl':
      return new LineSplitter((line, lineNumber) => {
        if (isBlank(line)) return;
        checkJsonValue(line, lineNumber);
        onRecord(line);
      }, maxRecordBytes);
    case 'csv': {
      let headerFields = 0;
      return new CsvRowSplitter((row, fieldCount, lineNumber) => {
        if (row.length === 0) return;
        if (info.header === undefined) {
          info.header = Buffer.from(row);
          headerFields = fieldCount;
          return;
        }
        if (fieldCount !== headerFields) {
          throw new InputError(
            'dataset.csv-field-count',
            `CSV line ${lineNumber}: ${fieldCount} fields where the header has ${headerFields}`,
          );
        }
        onRecord(row);
      }, maxRecordBytes);
    }
  }
}

function isBlank(line: Buffer): boolean {
  for (const byte of line) if (byte !== 0x20 && byte !== 0x09) return false;
  return true;
}

function checkJsonValue(line: Buffer, lineNumber: number): void {
  try {
    JSON.parse(utf8.decode(line));
  } catch (err) {
    throw new InputError(
      'dataset.jsonl-invalid',
      `JSONL line ${lineNumber} is not one valid JSON value in UTF-8: ${(err as Error).message}`,
      { cause: err },
    );
  }
}
