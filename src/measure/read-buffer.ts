/**
 * Reusable read memory for hashing files (hash-worker.ts). On AMD Zen the kernel's copy out of the
 * page cache runs 5× slower when the destination sits a few bytes past the source modulo 4096,
 * which is where glibc puts a malloc'ed 128 KiB buffer; so the memory is a WebAssembly memory
 * (page-aligned by V8), and each read goes to a view at the same offset in its page as the file
 * data it copies (docs/measure.md).
 */
const PAGE_SIZE = 4096;

/** `size` bytes that can be placed at any page offset. */
export class ReadBuffer {
  private readonly memory: ArrayBuffer;

  constructor(readonly size: number) {
    const bytes = size + PAGE_SIZE;
    try {
      const pages = Math.ceil(bytes / 65536);
      this.memory = new WebAssembly.Memory({ initial: pages, maximum: pages }).buffer;
    } catch {
      // Without WebAssembly the reads are merely slower on some CPUs, never wrong.
      this.memory = new ArrayBuffer(bytes);
    }
  }

  /** A view placed like the file data read from `position` sits in the page cache. */
  alignedFor(position: number): Buffer {
    return Buffer.from(this.memory, position % PAGE_SIZE, this.size);
  }
}
