import type { RecordFormat } from './record-format.js';

const LF = 0x0a;
const QUOTE = 0x22;

/**
 * Finds where a record file can be cut into pieces of whole records (parallel-record-roots.ts):
 * just after a record terminator.
 * - JSONL and text: after any LF.
 * - CSV: after an LF outside quotes. An LF inside a quoted field belongs to the row, and in
 *   RFC 4180 a position is inside quotes exactly when an odd number of quote characters precede
 *   it since the file's start (a quote opens a field, "" is an escaped quote, and a quote
 *   anywhere else is an error). So the parity of the quotes read so far is all the state kept.
 *   In a malformed file the parity may be wrong past the first stray quote, but the piece holding
 *   that quote starts at a true row boundary and fails there first, which is the error reported.
 */
export class PieceCutter {
  /** CSV: whether the bytes scanned so far leave us inside quotes. */
  private quoted = false;

  constructor(private readonly format: RecordFormat) {}

  /**
   * The index just after the last record terminator in bytes[regionStart, to), or -1 if there is
   * none. bytes[scanFrom, to) are new; bytes[regionStart, scanFrom) were scanned by earlier calls
   * and hold no terminator.
   */
  lastBoundary(bytes: Buffer, regionStart: number, scanFrom: number, to: number): number {
    if (this.format !== 'csv') {
      const newline = bytes.lastIndexOf(LF, to - 1);
      return newline >= scanFrom ? newline + 1 : -1;
    }
    let quoted = this.quoted;
    let last = -1;
    for (let i = scanFrom; i < to; i++) {
      const c = bytes[i];
      if (c === QUOTE) quoted = !quoted;
      else if (c === LF && !quoted) last = i;
    }
    this.quoted = quoted;
    return last >= regionStart ? last + 1 : -1;
  }
}
