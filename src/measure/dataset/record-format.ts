import { InputError } from '../../errors.js';

/**
 * Record-oriented file formats a dataset Merkle tree is built over. What one record is, byte for
 * byte, is documented in docs/datasets.md: for the line formats (jsonl, csv, text) the record's
 * raw bytes without the line terminator; for parquet a row's canonical encoding
 * (canonical-row.ts); for webdataset (a tar) a sample's (webdataset-roots.ts); for files (a
 * folder whose every file is a record) a file's path and contents (folder-roots.ts).
 */
export const RECORD_FORMATS = ['jsonl', 'csv', 'text', 'parquet', 'webdataset', 'files'] as const;
export type RecordFormat = (typeof RECORD_FORMATS)[number];

const FORMAT_BY_EXTENSION: ReadonlyArray<[string, RecordFormat]> = [
  ['.jsonl', 'jsonl'],
  ['.ndjson', 'jsonl'],
  ['.csv', 'csv'],
  ['.txt', 'text'],
  ['.parquet', 'parquet'],
  ['.tar', 'webdataset'],
];

/** Formats whose records come from splitting the bytes at line terminators (records.ts). */
export const LINE_FORMATS = ['jsonl', 'csv', 'text'] as const;
export type LineFormat = (typeof LINE_FORMATS)[number];

export function isLineFormat(format: RecordFormat): format is LineFormat {
  return (LINE_FORMATS as readonly string[]).includes(format);
}

/** The format a file name's extension implies, if any. */
export function recordFormatOfName(path: string): RecordFormat | undefined {
  const lower = path.toLowerCase();
  return FORMAT_BY_EXTENSION.find(([extension]) => lower.endsWith(extension))?.[1];
}

/** The explicit format if given, else the one the file name's extension implies. */
export function recordFormatFor(path: string, explicit?: string): RecordFormat {
  if (explicit !== undefined) {
    if ((RECORD_FORMATS as readonly string[]).includes(explicit)) return explicit as RecordFormat;
    throw new InputError(
      'dataset.unknown-format',
      `unknown dataset format "${explicit}"; use one of ${RECORD_FORMATS.join(', ')}`,
    );
  }
  const format = recordFormatOfName(path);
  if (format) return format;
  throw new InputError(
    'dataset.unknown-format',
    `cannot tell the record format of ${path} from its name; pass --format ${RECORD_FORMATS.join('|')}`,
  );
}
