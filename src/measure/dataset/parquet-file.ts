import { hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import {
  parquetMetadata,
  parquetRead,
  parquetSchema,
  type AsyncBuffer,
  type Compressors,
  type FileMetaData,
  type RowGroup,
} from 'hyparquet';
import {
  decompressBrotli,
  decompressGzip,
  decompressLz4,
  decompressLz4Raw,
  decompressSnappy,
  decompressZstd,
} from 'hyparquet-compressors';
import { InputError } from '../../errors.js';
import { canonicalRow } from './canonical-row.js';

/**
 * Parquet files as datasets (docs/datasets.md, "Parquet"): a record is a row, its bytes the
 * canonical encoding of canonical-row.ts. The file is untrusted: the footer and every row group
 * are checked against the file's size and against fixed limits before anything is allocated for
 * them, every page is decompressed into a buffer of at most MAX_PAGE_BYTES, and any error of the
 * reader (hyparquet) becomes one `dataset.parquet-malformed` line naming the file.
 */

const MAGIC = 0x31524150; // "PAR1", little-endian
/** The footer (file metadata) is read whole; real ones are kilobytes to a few MB. */
export const MAX_FOOTER_BYTES = 64 * 1024 * 1024;
/** A row group is read whole and decoded in one task; bigger ones are refused. */
export const MAX_ROW_GROUP_BYTES = 512 * 1024 * 1024;
/** One decompressed page. */
export const MAX_PAGE_BYTES = 128 * 1024 * 1024;

const CODECS = ['UNCOMPRESSED', 'SNAPPY', 'GZIP', 'BROTLI', 'ZSTD', 'LZ4', 'LZ4_RAW'];

/** One row group by where its bytes are: [start, end) of the file. */
export interface RowGroupSpan {
  index: number;
  start: number;
  end: number;
  rows: number;
}

export interface ParquetLayout {
  metadata: FileMetaData;
  /** Top-level column names, in schema order: the keys of every record. */
  columns: string[];
  rowGroups: RowGroupSpan[];
  rows: number;
}

/** Reads and checks the footer of the Parquet file open as `handle`, `size` bytes long. */
export async function readParquetLayout(handle: FileHandle, path: string, size: number): Promise<ParquetLayout> {
  const fail = (problem: string) => malformed(path, problem);
  if (size < 12) throw fail(`${size} bytes is too short for a Parquet file`);
  const head = await readExactly(handle, 0, 4);
  const tail = await readExactly(handle, size - 8, 8);
  if (head.readUInt32LE(0) !== MAGIC || tail.readUInt32LE(4) !== MAGIC)
    throw fail('no PAR1 magic at its start and end');
  const footerLength = tail.readUInt32LE(0);
  if (footerLength > size - 12) throw fail(`its footer claims ${footerLength} bytes, more than the file holds`);
  if (footerLength > MAX_FOOTER_BYTES)
    throw fail(`its footer is ${footerLength} bytes; the limit is ${MAX_FOOTER_BYTES}`);
  const footer = await readExactly(handle, size - 8 - footerLength, footerLength + 8);
  let metadata: FileMetaData;
  try {
    metadata = parquetMetadata(exactArrayBuffer(footer), { geoparquet: false });
  } catch (err) {
    throw fail(`its footer does not decode: ${(err as Error).message}`);
  }
  return checkLayout(metadata, path, size - 8 - footerLength);
}

function checkLayout(metadata: FileMetaData, path: string, dataEnd: number): ParquetLayout {
  const fail = (problem: string) => malformed(path, problem);
  let schemaTree: ReturnType<typeof parquetSchema>;
  try {
    schemaTree = parquetSchema(metadata);
  } catch (err) {
    throw fail(`its schema does not decode: ${(err as Error).message}`);
  }
  const columns = schemaTree.children.map((child) => child.element.name);
  if (new Set(columns).size !== columns.length) throw fail('two top-level columns have the same name');
  for (const element of metadata.schema) {
    const kind = element.logical_type?.type ?? element.converted_type;
    if (kind === 'DECIMAL' || kind === 'INTERVAL' || kind === 'BSON') {
      // The reader turns DECIMAL into a float: two different values could give one record.
      throw new InputError(
        'dataset.parquet-unsupported',
        `Parquet ${path}: column ${element.name} is ${kind}, which has no canonical record encoding yet`,
      );
    }
  }
  const rowGroups: RowGroupSpan[] = [];
  let rows = 0;
  for (const [index, group] of metadata.row_groups.entries()) {
    const span = rowGroupSpan(group, index, dataEnd, fail);
    rows += span.rows;
    rowGroups.push(span);
  }
  if (BigInt(rows) !== BigInt(metadata.num_rows)) {
    throw fail(`its row groups hold ${rows} rows but the footer says ${metadata.num_rows}`);
  }
  return { metadata, columns, rowGroups, rows };
}

function rowGroupSpan(group: RowGroup, index: number, dataEnd: number, fail: (p: string) => Error): RowGroupSpan {
  const rows = Number(group.num_rows);
  if (!Number.isSafeInteger(rows) || rows < 0) throw fail(`row group ${index} has ${group.num_rows} rows`);
  if (group.columns.length === 0 && rows > 0) throw fail(`row group ${index} has rows but no columns`);
  let start = Number.POSITIVE_INFINITY;
  let end = 0;
  let uncompressed = 0;
  for (const chunk of group.columns) {
    const meta = chunk.meta_data;
    if (!meta || chunk.file_path) throw fail(`row group ${index} refers to a column chunk in another file`);
    if (!CODECS.includes(meta.codec)) throw fail(`row group ${index} uses the unknown codec ${meta.codec}`);
    const first = Number(meta.dictionary_page_offset ?? meta.data_page_offset);
    const dataFirst = Number(meta.data_page_offset);
    const length = Number(meta.total_compressed_size);
    const chunkEnd = first + length;
    if (![first, dataFirst, length].every((n) => Number.isSafeInteger(n) && n >= 0)) {
      throw fail(`row group ${index} has a column chunk at a negative or huge offset`);
    }
    if (first < 4 || dataFirst < first || chunkEnd > dataEnd || dataFirst >= chunkEnd) {
      throw fail(`row group ${index} has a column chunk outside the file's data`);
    }
    uncompressed += Number(meta.total_uncompressed_size);
    start = Math.min(start, first);
    end = Math.max(end, chunkEnd);
  }
  if (group.columns.length === 0) return { index, start: 4, end: 4, rows };
  if (end - start > MAX_ROW_GROUP_BYTES || !(uncompressed <= MAX_ROW_GROUP_BYTES)) {
    throw new InputError(
      'dataset.parquet-too-large',
      `Parquet row group ${index} is ${Math.max(end - start, uncompressed)} bytes; the limit is ${MAX_ROW_GROUP_BYTES}`,
    );
  }
  return { index, start, end, rows };
}

/** Page decompressors that refuse a page whose header claims more than MAX_PAGE_BYTES. */
const boundedCompressors: Compressors = Object.fromEntries(
  Object.entries({
    SNAPPY: decompressSnappy as (input: Uint8Array, length: number) => Uint8Array,
    GZIP: decompressGzip,
    BROTLI: decompressBrotli,
    // fzstd writes into the buffer given (sized from the header) rather than the frame's claim.
    ZSTD: (input: Uint8Array, length: number) => decompressZstd(input, new Uint8Array(length)),
    LZ4: decompressLz4,
    LZ4_RAW: decompressLz4Raw,
  }).map(([codec, decompress]) => [
    codec,
    (input: Uint8Array, length: number) => {
      if (!Number.isSafeInteger(length) || length < 0 || length > MAX_PAGE_BYTES) {
        throw new Error(`a page claims ${length} decompressed bytes; the limit is ${MAX_PAGE_BYTES}`);
      }
      return decompress(input, length);
    },
  ]),
);

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
/** Values as the canonical encoding wants them: exact integers for time, text checked as UTF-8, raw bytes. */
const parsers = {
  timestampFromMilliseconds: (value: bigint) => value,
  timestampFromMicroseconds: (value: bigint) => value,
  timestampFromNanoseconds: (value: bigint) => value,
  dateFromDays: (days: number) => days,
  stringFromBytes: (bytes: Uint8Array) => bytes && strictUtf8.decode(bytes),
  jsonFromBytes: (bytes: Uint8Array) => bytes && strictUtf8.decode(bytes),
  geometryFromBytes: (bytes: Uint8Array) => bytes,
  geographyFromBytes: (bytes: Uint8Array) => bytes,
};

/**
 * The leaf-ready records of one row group, whose bytes [span.start, span.end) of the file are
 * `bytes`: each row's canonical encoding, in row order, to `onRecord`. Runs in a record worker
 * or, for proofs, on the main thread; decodes only the bytes it is given.
 */
export async function rowGroupRecords(
  bytes: Uint8Array,
  metadata: FileMetaData,
  columns: readonly string[],
  span: RowGroupSpan,
  path: string,
  maxRecordBytes: number,
  onRecord: (record: string) => void,
): Promise<void> {
  if (span.rows === 0) return;
  const file: AsyncBuffer = {
    byteLength: span.end,
    slice(start: number, end?: number) {
      const to = end ?? span.end;
      if (start < span.start || to > span.end || to < start) {
        throw new Error(`a read of bytes ${start}..${to} outside row group ${span.index}`);
      }
      return exactArrayBuffer(bytes.subarray(start - span.start, to - span.start));
    },
  };
  let rows: unknown[][] = [];
  try {
    await parquetRead({
      file,
      metadata,
      rowFormat: 'array',
      utf8: false,
      parsers,
      compressors: boundedCompressors,
      onComplete: (result: unknown[][]) => {
        rows = result;
      },
    });
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw malformed(path, `row group ${span.index} does not decode: ${(err as Error).message}`);
  }
  if (rows.length !== span.rows) {
    throw malformed(path, `row group ${span.index} decoded to ${rows.length} rows, not ${span.rows}`);
  }
  for (const row of rows) {
    const record = canonicalRow(columns, row);
    // UTF-16 length bounds the UTF-8 length from below; the exact check is on the leaf's bytes.
    if (record.length > maxRecordBytes || Buffer.byteLength(record) > maxRecordBytes) {
      throw new InputError('dataset.record-too-long', `a row of ${path} encodes to more than ${maxRecordBytes} bytes`);
    }
    onRecord(record);
  }
}

/** The file's metadata narrowed to one row group: all a decoding task needs, and cheap to send to a worker. */
export function rowGroupMetadata(layout: ParquetLayout, span: RowGroupSpan): FileMetaData {
  const group = layout.metadata.row_groups[span.index]!;
  return { ...layout.metadata, row_groups: [group], num_rows: BigInt(span.rows) };
}

/** SHA-256(0x00 ‖ record) of a canonical row (its UTF-8 bytes). */
export function rowLeaf(record: string): Buffer {
  // A latin1 ('binary') digest copied into a pooled Buffer costs half a fresh Buffer digest (merkle.ts hashInto).
  return Buffer.from(hash('sha256', `\u0000${record}`, 'binary'), 'latin1');
}

function malformed(path: string, problem: string): InputError {
  return new InputError('dataset.parquet-malformed', `Parquet ${path} is not a valid Parquet file: ${problem}`);
}

async function readExactly(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(buffer, filled, length - filled, position + filled);
    if (bytesRead === 0) throw new InputError('dataset.changed', 'the Parquet file ended early; measure it again');
    filled += bytesRead;
  }
  return buffer;
}

/** Reads [start, end) of the file open as `handle`. */
export function readSpan(handle: FileHandle, span: RowGroupSpan): Promise<Buffer> {
  return readExactly(handle, span.start, span.end - span.start);
}

function exactArrayBuffer(view: Uint8Array): ArrayBuffer {
  return view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength) as ArrayBuffer;
}
