import type { FileHandle } from 'node:fs/promises';
import {
  parquetMetadata,
  parquetRead,
  parquetSchema,
  type AsyncBuffer,
  type ColumnData,
  type Compressors,
  type FileMetaData,
  type RowGroup,
} from 'hyparquet';
import {
  compressors as sharedDecompressors,
  decompressBrotli,
  decompressGzip,
  decompressLz4,
  decompressLz4Raw,
  decompressSnappy,
  decompressZstd,
} from 'hyparquet-compressors';
import { InputError } from '../../errors.js';
import { CanonicalRowWriter, Utf8Text } from './canonical-row-bytes.js';
import type { ReusedBuffers } from './parquet-buffers.js';
import { readExactly } from './read-exactly.js';

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
  const head = await readAt(handle, 0, 4);
  const tail = await readAt(handle, size - 8, 8);
  if (head.readUInt32LE(0) !== MAGIC || tail.readUInt32LE(4) !== MAGIC)
    throw fail('no PAR1 magic at its start and end');
  const footerLength = tail.readUInt32LE(0);
  if (footerLength > size - 12) throw fail(`its footer claims ${footerLength} bytes, more than the file holds`);
  if (footerLength > MAX_FOOTER_BYTES)
    throw fail(`its footer is ${footerLength} bytes; the limit is ${MAX_FOOTER_BYTES}`);
  const footer = await readAt(handle, size - 8 - footerLength, footerLength + 8);
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

/**
 * Pages up to this size (compressed and decompressed bytes together) are decompressed by one
 * Snappy instance kept for the thread; bigger ones by an instance of their own, dropped after.
 */
const SHARED_SNAPPY_BYTES = 16 * 1024 * 1024;
const sharedSnappy = sharedDecompressors.SNAPPY!;

/**
 * Snappy in WebAssembly (hysnappy). A fresh instance per page costs a module instantiation and a
 * fresh memory grown to the page's size: 4× the decompression itself on 1 MB pages. One instance
 * is kept for small pages, whose memory thus stays under SHARED_SNAPPY_BYTES (WebAssembly memory
 * never shrinks). What one page leaves in it must not reach the next: the decompressor writes
 * from the output's start, and fails unless it wrote exactly the length the page's own preamble
 * states, so that length is held to the one the page header claims (the reader's JavaScript
 * Snappy asks the same). Otherwise the bytes after a short page would be an earlier page's.
 * (The reader's JavaScript Snappy into reused memory was measured too: fewer page faults, but
 * 2.5× the decompression time, more in all.)
 */
function decompressSnappyPage(input: Uint8Array, length: number): Uint8Array {
  const stated = snappyLength(input);
  if (stated !== length) throw new Error(`a Snappy page holds ${stated} bytes, its header says ${length}`);
  if (input.length + length <= SHARED_SNAPPY_BYTES) return sharedSnappy(input, length) as Uint8Array;
  return decompressSnappy(input, length);
}

/** The uncompressed length a Snappy block starts with (a little-endian base-128 varint of ≤ 32 bits). */
function snappyLength(input: Uint8Array): number {
  let length = 0;
  for (let i = 0; i < 5 && i < input.length; i++) {
    const b = input[i]!;
    length += (b & 0x7f) * 2 ** (7 * i);
    if (b < 0x80) return length;
  }
  return -1;
}

/** Page decompressors that refuse a page whose header claims more than MAX_PAGE_BYTES. */
const boundedCompressors: Compressors = Object.fromEntries(
  Object.entries({
    SNAPPY: decompressSnappyPage,
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

/**
 * Values as the canonical encoding wants them: exact integers for time, text checked as UTF-8 and
 * kept as its bytes (canonical-row-bytes.ts), raw bytes.
 */
const parsers = {
  timestampFromMilliseconds: (value: bigint) => value,
  timestampFromMicroseconds: (value: bigint) => value,
  timestampFromNanoseconds: (value: bigint) => value,
  dateFromDays: (days: number) => days,
  stringFromBytes: (bytes: Uint8Array) => bytes && Utf8Text.of(bytes),
  jsonFromBytes: (bytes: Uint8Array) => bytes && Utf8Text.of(bytes),
  geometryFromBytes: (bytes: Uint8Array) => bytes,
  geographyFromBytes: (bytes: Uint8Array) => bytes,
};

/**
 * The rows of one row group, whose bytes [span.start, span.end) of the file are `bytes`: each
 * row's leaf input, 0x00 ‖ its canonical encoding (canonical-row-bytes.ts), in row order, to
 * `onRow`, in a buffer reused for the next row. Runs in a Parquet decoder's worker, one row group
 * at a time per `buffers` (whose memory it reuses); decodes only the bytes it is given.
 */
export async function rowGroupRows(
  bytes: Uint8Array,
  metadata: FileMetaData,
  columns: readonly string[],
  span: RowGroupSpan,
  path: string,
  maxRecordBytes: number,
  buffers: ReusedBuffers,
  onRow: (leafInput: Buffer) => void,
): Promise<void> {
  if (span.rows === 0) return;
  buffers.reset();
  const file: AsyncBuffer = {
    byteLength: span.end,
    slice(start: number, end?: number) {
      const to = end ?? span.end;
      if (start < span.start || to > span.end || to < start) {
        throw new Error(`a read of bytes ${start}..${to} outside row group ${span.index}`);
      }
      return buffers.copy(bytes.subarray(start - span.start, to - span.start));
    },
  };
  const chunks = new Map<string, ColumnData[]>(columns.map((name) => [name, []]));
  try {
    // Column by column, page by page (onChunk): the rows are read across the columns below, with
    // no array per row and no copy of a column's pages into one array.
    await parquetRead({
      file,
      metadata,
      utf8: false,
      parsers,
      compressors: boundedCompressors,
      onChunk: (chunk: ColumnData) => chunks.get(chunk.columnName)?.push(chunk),
    });
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw malformed(path, `row group ${span.index} does not decode: ${(err as Error).message}`);
  }
  const cursors = columns.map((name) => new ColumnCursor(chunks.get(name)!, span, name, path));
  const writer = new CanonicalRowWriter(columns, maxRecordBytes, path);
  const row: unknown[] = new Array(columns.length);
  for (let r = 0; r < span.rows; r++) {
    for (let c = 0; c < cursors.length; c++) row[c] = cursors[c]!.next();
    onRow(writer.leafInput(row));
  }
}

/**
 * The values of one top-level column of a row group in row order, from the pages the reader
 * decoded. The column must hold exactly the row group's rows, in pages that follow each other.
 */
class ColumnCursor {
  private page = 0;
  private at = 0;

  constructor(
    private readonly pages: readonly ColumnData[],
    span: RowGroupSpan,
    name: string,
    path: string,
  ) {
    let rows = 0;
    for (const page of pages) {
      if (page.rowStart !== rows || page.rowEnd - page.rowStart !== page.columnData.length) {
        throw malformed(path, `row group ${span.index}, column ${name}: its pages do not follow each other`);
      }
      rows = page.rowEnd;
    }
    if (rows !== span.rows) {
      throw malformed(path, `row group ${span.index}, column ${name}: ${rows} values decoded, not ${span.rows}`);
    }
  }

  next(): unknown {
    let data = this.pages[this.page]!.columnData;
    while (this.at >= data.length) {
      this.page++;
      this.at = 0;
      data = this.pages[this.page]!.columnData;
    }
    return data[this.at++];
  }
}

/** The file's metadata narrowed to one row group: all a decoding task needs, and cheap to send to a worker. */
export function rowGroupMetadata(layout: ParquetLayout, span: RowGroupSpan): FileMetaData {
  const group = layout.metadata.row_groups[span.index]!;
  return { ...layout.metadata, row_groups: [group], num_rows: BigInt(span.rows) };
}

function malformed(path: string, problem: string): InputError {
  return new InputError('dataset.parquet-malformed', `Parquet ${path} is not a valid Parquet file: ${problem}`);
}

/** Bytes [position, position + length) of the file, into `into` when given. */
function readAt(
  handle: FileHandle,
  position: number,
  length: number,
  into: Buffer = Buffer.alloc(length),
): Promise<Buffer> {
  return readExactly(
    handle,
    into,
    position,
    () => new InputError('dataset.changed', 'the Parquet file ended early; measure it again'),
  );
}

/** Reads [start, end) of the file open as `handle`, into the start of `into` when given. */
export function readSpan(handle: FileHandle, span: RowGroupSpan, into?: Uint8Array): Promise<Buffer> {
  const length = span.end - span.start;
  return readAt(handle, span.start, length, into && Buffer.from(into.buffer, into.byteOffset, length));
}

function exactArrayBuffer(view: Uint8Array): ArrayBuffer {
  return view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength) as ArrayBuffer;
}
