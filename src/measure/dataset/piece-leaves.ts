import { isUtf8 } from 'node:buffer';
import { AicertError, InputError } from '../../errors.js';
import { isJsonText } from './json-syntax.js';
import { HASH_BYTES, hashInto, leafHash } from './merkle.js';
import type { RecordFormat } from './record-format.js';
import { isBlank, recordSplitter } from './records.js';

const LF = 0x0a;
const CR = 0x0d;

/**
 * One piece of a record file: whole records, cut just after a record terminator (or at the start
 * of the file, past its byte order mark) by parallel-record-roots.ts, hashed by a record worker.
 */
export interface PieceRequest {
  /**
   * The piece's bytes. The byte just before them must lie in the same ArrayBuffer and be free to
   * overwrite: the leaf hash SHA-256(0x00 ‖ record) is taken over that byte set to 0x00 followed
   * by the record, in place (the byte before a record is always the previous terminator's LF or
   * that free byte), instead of copying every record behind a prefix.
   */
  bytes: Uint8Array;
  format: RecordFormat;
  /** The last piece of the file: it may end without a terminator. */
  final: boolean;
  maxRecordBytes: number;
  /** CSV: the header's field count, once an earlier piece held the header. */
  headerFields?: number;
}

export interface PieceLeaves {
  /** The leaf hashes of the piece's records in order, 32 bytes each (its own ArrayBuffer). */
  leaves: Uint8Array;
  /** LF bytes in the piece: how far the line numbers of the next piece are moved. */
  lines: number;
  /** CSV: the header row and its field count, when this piece held it. */
  header?: Uint8Array;
  headerFields?: number;
  /**
   * The first error in the piece. Its message may name a line relative to the piece; the caller
   * runs the serial splitter over the piece from its true first line for the exact message.
   */
  failure?: { code: string; message: string };
}

/** Growing output of 32-byte leaves in a plain ArrayBuffer (transferable, never Buffer's pool). */
class LeafOutput {
  private storage: Buffer;
  count = 0;

  constructor(expected: number) {
    this.storage = Buffer.from(new ArrayBuffer(Math.max(64, expected) * HASH_BYTES));
  }

  /** Room for one more leaf; returns its offset. */
  private next(): number {
    if ((this.count + 1) * HASH_BYTES > this.storage.length) {
      const grown = Buffer.from(new ArrayBuffer(this.storage.length * 2));
      grown.set(this.storage);
      this.storage = grown;
    }
    return this.count++ * HASH_BYTES;
  }

  push(leaf: Uint8Array): void {
    const at = this.next(); // first: it may replace the storage
    this.storage.set(leaf, at);
  }

  /**
   * SHA-256(0x00 ‖ whole[start, end)) as the next leaf: whole[start − 1] (already read) is set to
   * the 0x00 for the hash and then put back, since a failed piece goes back to the main thread to
   * be split again.
   */
  pushLeafInPlace(whole: Buffer, start: number, end: number): void {
    const saved = whole[start - 1]!;
    whole[start - 1] = 0x00;
    const at = this.next(); // first: it may replace the storage
    hashInto(this.storage, at, new Uint8Array(whole.buffer, whole.byteOffset + start - 1, end - start + 1));
    whole[start - 1] = saved;
  }

  /** The leaves, as a view of the storage (its whole ArrayBuffer is transferred, spare room included). */
  result(): Uint8Array {
    return new Uint8Array(this.storage.buffer, 0, this.count * HASH_BYTES);
  }
}

/**
 * The leaves of one piece, by the rules of records.ts (the serial reference): the same records,
 * the same acceptance. JSONL and text lines are cut here directly; a JSONL line is checked with
 * the structural validator (json-syntax.ts) and the piece's UTF-8 at once (`isUtf8`), instead
 * of decoding and JSON.parse of every line. CSV goes through the serial row splitter.
 */
export function pieceLeaves(request: PieceRequest): PieceLeaves {
  const { bytes } = request;
  if (bytes.byteOffset < 1) throw new RangeError('a piece needs one free byte before it');
  const whole = Buffer.from(bytes.buffer, bytes.byteOffset - 1, bytes.length + 1);
  const output = new LeafOutput(Math.ceil(bytes.length / 256));
  let lines = 0;
  try {
    if (request.format === 'csv') return csvPieceLeaves(request, whole, output);
    lines = splitLines(request, whole, output);
    return { leaves: output.result(), lines };
  } catch (err) {
    if (!(err instanceof AicertError)) throw err;
    return { leaves: new Uint8Array(0), lines, failure: { code: err.code, message: err.message } };
  }
}

/** Lines of `whole` from index 1 (index 0 is the free byte); returns the LF count. */
function splitLines(request: PieceRequest, whole: Buffer, output: LeafOutput): number {
  const { format, final, maxRecordBytes } = request;
  const end = whole.length;
  // A piece of complete lines is valid UTF-8 exactly when each of its lines is (LF is ASCII).
  const piecesUtf8 = format !== 'jsonl' || isUtf8(whole.subarray(1));
  let lines = 0;
  for (let start = 1; start < end; ) {
    const newline = whole.indexOf(LF, start);
    const lineEnd = newline < 0 ? end : newline;
    if (newline < 0 && !final) throw failure('dataset.piece-unterminated', 'a piece ends inside a line');
    if (newline >= 0) lines++;
    // The serial splitter holds at most max + 1 bytes before the LF (room for a CR).
    if (lineEnd - start > maxRecordBytes + 1) {
      throw failure('dataset.record-too-long', `a line is longer than ${maxRecordBytes} bytes`);
    }
    const recordEnd = newline >= 0 && lineEnd > start && whole[lineEnd - 1] === CR ? lineEnd - 1 : lineEnd;
    if (format === 'text') {
      if (recordEnd > start) output.pushLeafInPlace(whole, start, recordEnd);
    } else if (!isBlank(whole, start, recordEnd)) {
      const utf8 = piecesUtf8 || isUtf8(whole.subarray(start, recordEnd));
      if (!utf8 || !isJsonText(whole, start, recordEnd)) {
        throw failure('dataset.jsonl-invalid', 'a JSONL line is not one valid JSON value in UTF-8');
      }
      output.pushLeafInPlace(whole, start, recordEnd);
    }
    start = lineEnd + 1;
  }
  return lines;
}

function csvPieceLeaves(request: PieceRequest, whole: Buffer, output: LeafOutput): PieceLeaves {
  const info: { header?: Buffer; headerFields?: number } =
    request.headerFields === undefined ? {} : { header: Buffer.alloc(0), headerFields: request.headerFields };
  const seekingHeader = request.headerFields === undefined;
  const splitter = recordSplitter(
    'csv',
    request.maxRecordBytes,
    (row) => {
      // A row held over in the splitter is a copy elsewhere: hash it the ordinary way.
      const inPlace = row.buffer === whole.buffer && row.byteOffset > whole.byteOffset;
      const start = row.byteOffset - whole.byteOffset;
      if (inPlace) output.pushLeafInPlace(whole, start, start + row.length);
      else output.push(leafHash(row));
    },
    info,
  );
  splitter.push(whole.subarray(1));
  if (request.final) splitter.end();
  let lines = 0;
  for (let i = whole.indexOf(LF, 1); i >= 0; i = whole.indexOf(LF, i + 1)) lines++;
  return {
    leaves: output.result(),
    lines,
    ...(seekingHeader &&
      info.header !== undefined && { header: new Uint8Array(info.header), headerFields: info.headerFields }),
  };
}

function failure(code: string, message: string): InputError {
  return new InputError(code, message);
}
