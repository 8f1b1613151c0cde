import { InputError } from '../../errors.js';
import { PendingBytes } from './pending-bytes.js';

const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const COMMA = 0x2c;

enum State {
  FieldStart,
  Unquoted,
  Quoted,
  /** A quote inside a quoted field: either the first half of "" or the closing quote. */
  QuoteInQuoted,
  /** A CR outside quotes: only valid as the first half of CRLF. */
  AfterCr,
}

/**
 * Splits CSV bytes into rows by RFC 4180: fields separated by commas, rows by CRLF (LF alone is
 * accepted too), fields that contain commas, quotes, CR or LF are quoted and quotes inside them
 * doubled. A row is passed as its raw bytes without the terminator, plus its field count; it is
 * a view valid only during the callback. Anything RFC 4180 does not allow is an error naming the
 * line: a quote inside an unquoted field, text after a closing quote, a bare CR, an unterminated
 * quoted field.
 */
export class CsvRowSplitter {
  private readonly pending: PendingBytes;
  private state = State.FieldStart;
  private fields = 1;
  private line: number;
  private rowLine: number;

  /** `firstLine`: the number of the first line pushed (a piece of a file split at row ends). */
  constructor(
    private readonly onRow: (row: Buffer, fieldCount: number, lineNumber: number) => void,
    maxRowBytes: number,
    firstLine = 1,
  ) {
    this.line = firstLine;
    this.rowLine = firstLine;
    this.pending = new PendingBytes(
      maxRowBytes + 1, // room for the CR of a CRLF terminator
      () =>
        new InputError(
          'dataset.record-too-long',
          `the CSV row starting at line ${this.rowLine} is longer than ${maxRowBytes} bytes`,
        ),
    );
  }

  push(chunk: Buffer): void {
    let rowStart = 0;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i];
      switch (this.state) {
        case State.Quoted:
          if (byte === QUOTE) this.state = State.QuoteInQuoted;
          else if (byte === LF) this.line++;
          continue;
        case State.AfterCr:
          if (byte !== LF) throw this.malformed('a CR that is not followed by LF');
          break;
        case State.QuoteInQuoted:
          if (byte === QUOTE) {
            this.state = State.Quoted;
            continue;
          }
          if (byte !== COMMA && byte !== LF && byte !== CR) {
            throw this.malformed('text after the closing quote of a field');
          }
          this.state = State.Unquoted;
          break;
        case State.FieldStart:
          if (byte === QUOTE) {
            this.state = State.Quoted;
            continue;
          }
          this.state = State.Unquoted;
          break;
        case State.Unquoted:
          if (byte === QUOTE) throw this.malformed('a quote inside an unquoted field');
          break;
      }
      // Outside quotes: separators and terminators.
      if (byte === COMMA) {
        this.fields++;
        this.state = State.FieldStart;
      } else if (byte === CR) {
        this.state = State.AfterCr;
      } else if (byte === LF) {
        this.endRow(this.pending.take(chunk.subarray(rowStart, i)));
        rowStart = i + 1;
      }
    }
    this.pending.add(chunk.subarray(rowStart));
  }

  end(): void {
    if (this.state === State.Quoted) throw this.malformed('a quoted field that is never closed', this.rowLine);
    if (this.state === State.AfterCr) throw this.malformed('a CR that is not followed by LF');
    if (!this.pending.isEmpty) this.endRow(this.pending.take(Buffer.alloc(0)));
  }

  private endRow(bytesThroughTerminator: Buffer): void {
    const row =
      bytesThroughTerminator.length > 0 && bytesThroughTerminator[bytesThroughTerminator.length - 1] === CR
        ? bytesThroughTerminator.subarray(0, -1)
        : bytesThroughTerminator;
    this.onRow(row, this.fields, this.rowLine);
    this.line++;
    this.rowLine = this.line;
    this.fields = 1;
    this.state = State.FieldStart;
  }

  private malformed(what: string, line = this.line): InputError {
    return new InputError('dataset.csv-malformed', `CSV line ${line}: ${what} (RFC 4180)`);
  }
}
