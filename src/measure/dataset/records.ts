import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { InputError } from '../../errors.js';
import { fileVersionOf, type FileVersion } from '../file-version.js';
import { checkReadWhole, versionBeforeRead } from './record-file-version.js';
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
  /**
   * Sees every byte of the file, byte order mark included, in order: a second consumer of the
   * one read, e.g. the file's digest, so that digest and records describe the same bytes.
   */
  onBytes?: (chunk: Buffer) => void;
  /** The version the file had when it was listed; another one is `dataset.changed`. */
  expectedVersion?: FileVersion;
}

export interface RecordFileInfo {
  /** The CSV header row's raw bytes (CSV only; undefined for an empty file). */
  header?: Buffer;
  /** The version of the file that was read: the same before the first read and after the last. */
  version: FileVersion;
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
  const handle = await openRecordFile(path);
  try {
    return await forEachRecordOf(handle, path, options, onRecord);
  } finally {
    await handle.close();
  }
}

/** Opens a record file for reading; O_NONBLOCK so that a named pipe put in its place cannot hang the open. */
export async function openRecordFile(path: string): Promise<FileHandle> {
  return open(path, constants.O_RDONLY | constants.O_NONBLOCK).catch((err: NodeJS.ErrnoException) => {
    throw new InputError('dataset.unreadable', `cannot open dataset ${path}: ${err.code ?? err.message}`, {
      cause: err,
    });
  });
}

/**
 * The records of the file open as `handle` (named `path` in errors), read once from its first
 * byte to its end through that one descriptor: every byte read goes to `options.onBytes` and to
 * the record splitter alike.
 */
export async function forEachRecordOf(
  handle: FileHandle,
  path: string,
  options: RecordReadOptions,
  onRecord: (record: Buffer) => void,
): Promise<RecordFileInfo> {
  const before = await versionBeforeRead(handle, path, options.expectedVersion);
  const stream = new RecordStream(options.format, options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES, onRecord);
  const chunk = Buffer.allocUnsafe(READ_CHUNK_BYTES);
  let position = 0;
  for (;;) {
    const { bytesRead } = await handle.read(chunk, 0, chunk.length, position);
    if (bytesRead === 0) break;
    const bytes = chunk.subarray(0, bytesRead);
    options.onBytes?.(bytes);
    stream.push(bytes);
    position += bytesRead;
  }
  const header = stream.end();
  await checkReadWhole(handle, path, before, position);
  return { ...(header && { header }), version: fileVersionOf(before) };
}

/**
 * Splits a record file's bytes, pushed in file order from its first byte, into records: drops a
 * leading byte order mark (even one split across pushes) and applies the format's rules. A
 * streaming consumer, so that the same bytes can feed a digest beside it.
 */
export class RecordStream {
  private readonly splitter: RecordSplitter;
  private readonly info: { header?: Buffer; headerFields?: number } = {};
  /** The file's first bytes while they could still be a byte order mark; undefined once settled. */
  private leading: Buffer | undefined = Buffer.alloc(0);

  constructor(format: RecordFormat, maxRecordBytes: number, onRecord: (record: Buffer) => void) {
    this.splitter = recordSplitter(format, maxRecordBytes, onRecord, this.info);
  }

  push(chunk: Buffer): void {
    if (this.leading === undefined) {
      this.splitter.push(chunk);
      return;
    }
    const start = this.leading.length === 0 ? chunk : Buffer.concat([this.leading, chunk]);
    if (start.length < UTF8_BOM.length && UTF8_BOM.subarray(0, start.length).equals(start)) {
      this.leading = Buffer.from(start);
      return;
    }
    this.leading = undefined;
    this.splitter.push(start.subarray(0, UTF8_BOM.length).equals(UTF8_BOM) ? start.subarray(UTF8_BOM.length) : start);
  }

  /** Ends the stream; returns the CSV header row, if any. */
  end(): Buffer | undefined {
    // A file shorter than a byte order mark that starts like one: its bytes are content.
    if (this.leading !== undefined && this.leading.length > 0) this.splitter.push(this.leading);
    this.leading = undefined;
    this.splitter.end();
    return this.info.header;
  }
}

export interface RecordSplitter {
  push(chunk: Buffer): void;
  end(): void;
}

/**
 * Where a splitter starts: line 1 of a file by default, or a piece of one that begins just after
 * a record terminator (piece-leaves.ts): its first line's number and, for CSV, the header's
 * field count once the header has been seen (`info.header` and `info.headerFields` then set).
 */
export interface SplitterStart {
  firstLine?: number;
}

/**
 * The format's record rules over bytes pushed in order, after any byte order mark. `info`
 * receives the CSV header (and its field count); when it already holds them, every non-empty
 * row is a record.
 */
export function recordSplitter(
  format: RecordFormat,
  maxRecordBytes: number,
  onRecord: (record: Buffer) => void,
  info: { header?: Buffer; headerFields?: number },
  start: SplitterStart = {},
): RecordSplitter {
  const firstLine = start.firstLine ?? 1;
  switch (format) {
    case 'text':
      return new LineSplitter(
        (line) => {
          if (line.length > 0) onRecord(line);
        },
        maxRecordBytes,
        firstLine,
      );
    case 'jsonl':
      return new LineSplitter(
        (line, lineNumber) => {
          if (isBlank(line)) return;
          checkJsonValue(line, lineNumber);
          onRecord(line);
        },
        maxRecordBytes,
        firstLine,
      );
    case 'csv': {
      let headerFields = info.headerFields ?? 0;
      return new CsvRowSplitter(
        (row, fieldCount, lineNumber) => {
          if (row.length === 0) return;
          if (info.header === undefined) {
            info.header = Buffer.from(row);
            info.headerFields = fieldCount;
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
        },
        maxRecordBytes,
        firstLine,
      );
    }
    default:
      // Parquet, WebDataset and folders are not split at line ends (dataset-records.ts reads them).
      throw new InputError('dataset.not-line-format', `${format} records are not lines of a file`);
  }
}

/** A JSONL line that holds no record: empty, or only spaces and tabs. */
export function isBlank(line: Uint8Array, start = 0, end = line.length): boolean {
  for (let i = start; i < end; i++) if (line[i] !== 0x20 && line[i] !== 0x09) return false;
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
