/**
 * Memory that a Parquet decoding thread reuses from one row group to the next. Fresh memory is
 * what decoding costs most on a VM: a page first touched costs a fault (about 20 µs measured on
 * the 2-core VM, so 100 ms for a 20 MB buffer, against 1 ms to copy into memory touched before),
 * and a row group of 20 MB stored, 50 MB decompressed, would otherwise touch 70 MB afresh. Only
 * one row group is decoded at a time per thread, and nothing it hands out outlives it (leaves and
 * records are copied out), so `reset()` before a row group makes all of it free again.
 */

/** Column chunks shorter than this are copied into memory of their own: reuse would gain little. */
const MIN_REUSED_CHUNK_BYTES = 64 * 1024;
/** Column chunks per row group that get a reused buffer; the others, memory of their own. */
const MAX_REUSED_CHUNKS = 16;
/** Memory kept past a row group at most, so one huge row group does not pin its size. */
const MAX_KEPT_BYTES = 256 * 1024 * 1024;

/** An ES2024 resizable ArrayBuffer (in Node 20; the project's TypeScript library is ES2022). */
interface ResizableArrayBuffer extends ArrayBuffer {
  readonly maxByteLength: number;
  resize(length: number): void;
}
const ResizableArrayBuffer = ArrayBuffer as unknown as new (
  length: number,
  options: { maxByteLength: number },
) => ResizableArrayBuffer;

export class ReusedBuffers {
  /** Resizable ArrayBuffers, one per column chunk in the order asked for. */
  private chunks: ResizableArrayBuffer[] = [];
  private chunksUsed = 0;

  /** A new row group: what the previous one was handed will be overwritten. */
  reset(): void {
    this.chunksUsed = 0;
    let kept = 0;
    this.chunks = this.chunks.filter((chunk) => {
      kept += chunk.byteLength;
      return kept <= MAX_KEPT_BYTES;
    });
  }

  /**
   * An ArrayBuffer of exactly `bytes.length` bytes holding a copy of them (the reader wants a
   * whole ArrayBuffer per column chunk). Resizing a resizable ArrayBuffer within what it has held
   * keeps its memory, so a column chunk costs a copy, not fresh pages.
   */
  copy(bytes: Uint8Array): ArrayBuffer {
    if (bytes.length < MIN_REUSED_CHUNK_BYTES || this.chunksUsed >= MAX_REUSED_CHUNKS) {
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    }
    let buffer = this.chunks[this.chunksUsed];
    if (buffer && buffer.maxByteLength >= bytes.length) buffer.resize(bytes.length);
    else {
      buffer = new ResizableArrayBuffer(bytes.length, { maxByteLength: 2 * bytes.length });
      this.chunks[this.chunksUsed] = buffer;
    }
    this.chunksUsed++;
    new Uint8Array(buffer).set(bytes);
    return buffer;
  }
}
