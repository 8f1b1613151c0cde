/**
 * Worker thread of the Parquet decoders (parquet-decoders.ts): decodes one row group at a time
 * (parquet-file.ts rowGroupRows) and answers with its rows' leaves or canonical encodings.
 * The decoders stop this thread when a row group takes longer than its deadline or more memory
 * than its limit, so a malformed page that sends the reader into a loop cannot hang a measurement.
 */
import { parentPort } from 'node:worker_threads';
import type { FileMetaData } from 'hyparquet';
import { AicertError } from '../../errors.js';
import { HASH_BYTES, hashInto } from './merkle.js';
import { ReusedBuffers } from './parquet-buffers.js';
import { rowGroupRows, type RowGroupSpan } from './parquet-file.js';

export interface DecodeTask {
  id: number;
  /** Its first `length` bytes: bytes [span.start, span.end) of the file, the row group's column chunks. */
  bytes: ArrayBuffer;
  length: number;
  /** The file's metadata with this row group alone (parquet-file.ts rowGroupMetadata). */
  metadata: FileMetaData;
  columns: string[];
  span: RowGroupSpan;
  path: string;
  maxRecordBytes: number;
  /** `leaves`: SHA-256(0x00 ‖ row) of every row, 32 bytes each; `records`: the canonical rows. */
  want: 'leaves' | 'records';
}

/** A decoded row group's reply gives its `bytes` back, for the next row group to be read into. */
export type DecodeReply =
  | { ready: true }
  | { id: number; leaves: Uint8Array; bytes: ArrayBuffer }
  | { id: number; records: string[]; bytes: ArrayBuffer }
  /** An input error (a malformed row group), to be thrown as it is. */
  | { id: number; failure: { code: string; message: string } }
  /** Anything else: a bug, reported as such. */
  | { id: number; crash: string };

/** The decoders send this thread one row group at a time (parquet-decoders.ts). */
const buffers = new ReusedBuffers();

async function decode(task: DecodeTask): Promise<{ reply: DecodeReply; transfer: ArrayBuffer[] }> {
  // Only [0, length): the rest of a reused buffer holds an earlier row group's bytes.
  const bytes = new Uint8Array(task.bytes, 0, task.length);
  const decodeRows = (onRow: (leafInput: Buffer) => void) =>
    rowGroupRows(bytes, task.metadata, task.columns, task.span, task.path, task.maxRecordBytes, buffers, onRow);
  if (task.want === 'records') {
    const records: string[] = [];
    await decodeRows((leafInput) => records.push(leafInput.toString('utf8', 1)));
    return { reply: { id: task.id, records, bytes: task.bytes }, transfer: [task.bytes] };
  }
  // Rows reach onRow once the decoded rows were counted against the footer's count: the leaves'
  // buffer is sized from it then, not from an untrusted claim before decoding.
  let leaves = Buffer.alloc(0);
  let at = 0;
  await decodeRows((leafInput) => {
    if (at === 0) leaves = Buffer.alloc(task.span.rows * HASH_BYTES);
    hashInto(leaves, at, leafInput);
    at += HASH_BYTES;
  });
  return { reply: { id: task.id, leaves, bytes: task.bytes }, transfer: [leaves.buffer as ArrayBuffer, task.bytes] };
}

if (parentPort) {
  const port = parentPort;
  port.on('message', (task: DecodeTask) => {
    decode(task).then(
      ({ reply, transfer }) => port.postMessage(reply, transfer),
      (err: unknown) =>
        port.postMessage(
          (err instanceof AicertError
            ? { id: task.id, failure: { code: err.code, message: err.message } }
            : { id: task.id, crash: String((err as Error)?.stack ?? err) }) satisfies DecodeReply,
        ),
    );
  });
  // Sent once the reader's modules are loaded: a deadline counts decoding, not this start-up.
  port.postMessage({ ready: true } satisfies DecodeReply);
}
