import { InputError } from '../../errors.js';
import { PendingBytes } from './pending-bytes.js';

const LF = 0x0a;
const CR = 0x0d;

/**
 * Splits a byte stream into lines. A line ends at LF; a CR right before the LF belongs to the
 * terminator (CRLF files give the same lines as LF files). A last line without a terminator is
 * still a line. Lines are passed as views that are valid only during the callback.
 */
export class LineSplitter {
  private readonly pending: PendingBytes;
  private lineNumber: number;

  /** `firstLine`: the number of the first line pushed (a piece of a file split at line ends). */
  constructor(
    private readonly onLine: (line: Buffer, lineNumber: number) => void,
    maxLineBytes: number,
    firstLine = 1,
  ) {
    this.lineNumber = firstLine - 1;
    this.pending = new PendingBytes(
      maxLineBytes + 1, // room for the CR of a CRLF terminator
      () =>
        new InputError('dataset.record-too-long', `line ${this.lineNumber + 1} is longer than ${maxLineBytes} bytes`),
    );
  }

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(LF, start);
      if (newline < 0) {
        this.pending.add(chunk.subarray(start));
        return;
      }
      this.emit(this.pending.take(chunk.subarray(start, newline)), true);
      start = newline + 1;
    }
  }

  end(): void {
    if (!this.pending.isEmpty) this.emit(this.pending.take(Buffer.alloc(0)), false);
  }

  private emit(line: Buffer, endedByLf: boolean): void {
    this.lineNumber++;
    const crlf = endedByLf && line.length > 0 && line[line.length - 1] === CR;
    this.onLine(crlf ? line.subarray(0, -1) : line, this.lineNumber);
  }
}
