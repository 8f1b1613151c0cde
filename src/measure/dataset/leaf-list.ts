import { HASH_BYTES } from './merkle.js';

/**
 * An append-only list of 32-byte leaf hashes in one growing Buffer, so a dataset of N records
 * costs 32·N bytes (plus slack while growing) rather than N JavaScript objects.
 */
export class LeafList {
  private storage = Buffer.allocUnsafe(HASH_BYTES * 1024);
  private count = 0;

  get length(): number {
    return this.count;
  }

  push(hash: Uint8Array): void {
    if ((this.count + 1) * HASH_BYTES > this.storage.length) {
      const grown = Buffer.allocUnsafe(this.storage.length * 2);
      this.storage.copy(grown, 0, 0, this.count * HASH_BYTES);
      this.storage = grown;
    }
    this.storage.set(hash, this.count * HASH_BYTES);
    this.count++;
  }

  /** The leaves as one exact-length buffer (copied, so the list's slack is released). */
  toBuffer(): Buffer {
    return Buffer.from(this.storage.subarray(0, this.count * HASH_BYTES));
  }
}
