import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { z } from 'zod';
import { InputError } from '../../errors.js';
import { HASH_BYTES } from './merkle.js';
import { RECORD_FORMATS } from './record-format.js';
import { TREE_HASH } from './dataset-proof.js';
import { readExactly } from './read-exactly.js';

/**
 * The dataset index file (docs/datasets.md, "Proofs at scale"): written once by `aicert data
 * index`, read by `aicert data prove --index` to prove one record with a few small reads instead
 * of rebuilding both trees. Layout (all hashes 32 bytes, B = `blockLeaves`):
 *
 *   order leaves        records × 32          every leaf in record order
 *   set leaves          distinctRecords × 32  the distinct leaves, ascending
 *   order block roots   ⌊records / B⌋ × 32    MTH of each full block of B order leaves
 *   set block roots     ⌊distinct / B⌋ × 32   the same for the set leaves
 *   order positions     distinctRecords × 8   for each set leaf, its first index among the
 *                                             order leaves (unsigned 64-bit big-endian)
 *   header              H bytes               JSON (IndexHeader below)
 *   trailer             44 bytes              H (u32 big-endian) ‖ SHA-256(header) ‖ "AICIDX01"
 *
 * The header comes last so that the leaves can be streamed to the file as they are built. Its
 * length, checksum and magic are at a fixed place from the end; the sizes of the sections follow
 * from the header's counts, and the file must be exactly their sum. Nothing here is trusted for a
 * proof: every proof made from an index is checked against the index's root before it is given
 * out (index-prove.ts), and the root is the one to compare with a certificate.
 */
export const INDEX_FORMAT = 'aicert-dataset-index';
export const INDEX_VERSION = 1;
const MAGIC = Buffer.from('AICIDX01', 'latin1');
export const TRAILER_BYTES = 4 + HASH_BYTES + MAGIC.length;
/** The header holds one entry per shard; 16 MiB is room for about 100,000 of them. */
const MAX_HEADER_BYTES = 16 * 1024 * 1024;
/** The files an index can name (a sharded dataset's shards, a folder dataset's files): its header stays under 16 MiB. */
export const MAX_INDEXED_FILES = 100_000;
/** Counts stay far below 2^53 / 32, so that byte offsets are exact. */
const MAX_LEAVES = 2 ** 44;
/**
 * A proof reads (and hashes) one whole block of leaves and every block root of its tree
 * (index-prove.ts), so both are bounded before anything is allocated: at most 32 MiB each. The
 * writer's blocks are 2^14 leaves, so 2^20 block roots is 1.7 × 10^10 records.
 */
const MAX_BLOCK_LEAVES = 2 ** 20;
export const MAX_BLOCK_ROOTS = 2 ** 20;

const hashHex = z.string().regex(/^[0-9a-f]{64}$/);
const count = z.int().min(0).max(MAX_LEAVES);
const fileEntry = z.strictObject({
  /** The manifest name ('.' for a dataset that is one file; shards by their relative path). */
  name: z.string().min(1).max(4096),
  size: z.int().min(0),
  mtimeMs: z.number().min(0),
  ctimeMs: z.number().min(0),
  ino: z.number().min(0),
  dev: z.number().min(0),
});
const headerSchema = z
  .strictObject({
    format: z.literal(INDEX_FORMAT),
    version: z.literal(INDEX_VERSION),
    treeHash: z.literal(TREE_HASH),
    blockLeaves: z
      .int()
      .min(2)
      .max(MAX_BLOCK_LEAVES)
      .refine((b) => (b & (b - 1)) === 0, 'a power of two'),
    dataset: z.strictObject({
      format: z.enum(RECORD_FORMATS),
      shards: z.int().min(1).max(MAX_INDEXED_FILES),
      records: count,
      distinctRecords: count,
      orderRoot: hashHex,
      setRoot: hashHex,
      headerSha256: hashHex.optional(),
    }),
    files: z.array(fileEntry).min(1).max(MAX_INDEXED_FILES),
  })
  .refine(
    (h) =>
      h.dataset.distinctRecords <= h.dataset.records &&
      (h.dataset.distinctRecords === 0) === (h.dataset.records === 0) &&
      // A folder dataset's files are its records; any other dataset's files are its shards.
      h.files.length === (h.dataset.format === 'files' ? h.dataset.records : h.dataset.shards),
    'inconsistent record counts or file list',
  )
  .refine(
    (h) => Math.floor(h.dataset.records / h.blockLeaves) <= MAX_BLOCK_ROOTS,
    `more than ${MAX_BLOCK_ROOTS} blocks of leaves`,
  );

export type IndexHeader = z.infer<typeof headerSchema>;
export type IndexedFile = z.infer<typeof fileEntry>;
export type IndexSection = 'orderLeaves' | 'setLeaves' | 'orderBlockRoots' | 'setBlockRoots';
/** Bytes per order position. */
export const POSITION_BYTES = 8;

/** Byte offset and hash count of each section, from the header's counts. */
export function indexLayout(header: {
  blockLeaves: number;
  dataset: Pick<IndexHeader['dataset'], 'records' | 'distinctRecords'>;
}): {
  sections: Record<IndexSection, { offset: number; count: number }>;
  positionsOffset: number;
  headerOffset: number;
} {
  const { records, distinctRecords } = header.dataset;
  const counts: Array<[IndexSection, number]> = [
    ['orderLeaves', records],
    ['setLeaves', distinctRecords],
    ['orderBlockRoots', Math.floor(records / header.blockLeaves)],
    ['setBlockRoots', Math.floor(distinctRecords / header.blockLeaves)],
  ];
  let offset = 0;
  const sections = {} as Record<IndexSection, { offset: number; count: number }>;
  for (const [name, n] of counts) {
    sections[name] = { offset, count: n };
    offset += n * HASH_BYTES;
  }
  const positionsOffset = offset;
  return { sections, positionsOffset, headerOffset: positionsOffset + distinctRecords * POSITION_BYTES };
}

/** The header and trailer that end an index whose sections are already written. */
export function indexTail(header: IndexHeader): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const trailer = Buffer.alloc(TRAILER_BYTES);
  trailer.writeUInt32BE(json.length, 0);
  createHash('sha256').update(json).digest().copy(trailer, 4);
  MAGIC.copy(trailer, 4 + HASH_BYTES);
  return Buffer.concat([json, trailer]);
}

/** An index file open for reading, its header checked against the file's size. */
export class DatasetIndex {
  private readonly layout: ReturnType<typeof indexLayout>;

  private constructor(
    private readonly handle: FileHandle,
    readonly path: string,
    readonly header: IndexHeader,
  ) {
    this.layout = indexLayout(header);
  }

  /**
   * Opens `path` and parses its trailer and header, bounded: at most 16 MiB of header is read,
   * and any mismatch (magic, checksum, schema, sizes) is `dataset.index-malformed`.
   */
  static async open(path: string): Promise<DatasetIndex> {
    const handle = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
      throw new InputError('dataset.index-unreadable', `cannot open index ${path}: ${err.code ?? err.message}`);
    });
    try {
      return new DatasetIndex(handle, path, await readHeader(handle, path));
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  count(section: IndexSection): number {
    return this.layout.sections[section].count;
  }

  /** Hashes [from, from + n) of a section, as one buffer of n × 32 bytes. */
  async read(section: IndexSection, from: number, n: number): Promise<Buffer> {
    const { offset, count } = this.layout.sections[section];
    if (from < 0 || n < 0 || from + n > count)
      throw new RangeError(`${section} [${from}, ${from + n}) out of ${count}`);
    return readExactly(this.handle, Buffer.alloc(n * HASH_BYTES), offset + from * HASH_BYTES, () =>
      malformed(this.path, 'the file ended early (it changed while read)'),
    );
  }

  /** The first order index of set leaf `setIndex`. */
  async orderPosition(setIndex: number): Promise<number> {
    if (setIndex < 0 || setIndex >= this.count('setLeaves')) throw new RangeError(`set leaf ${setIndex} out of range`);
    const bytes = Buffer.alloc(POSITION_BYTES);
    await readExactly(this.handle, bytes, this.layout.positionsOffset + setIndex * POSITION_BYTES, () =>
      malformed(this.path, 'the file ended early'),
    );
    const position = Number(bytes.readBigUInt64BE(0));
    if (position >= this.count('orderLeaves')) throw malformed(this.path, `order position ${position} out of range`);
    return position;
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

async function readHeader(handle: FileHandle, path: string): Promise<IndexHeader> {
  const { size } = await handle.stat();
  if (size < TRAILER_BYTES) throw malformed(path, 'too short');
  const trailer = Buffer.alloc(TRAILER_BYTES);
  await readExactly(handle, trailer, size - TRAILER_BYTES, endedEarly(path));
  if (!trailer.subarray(4 + HASH_BYTES).equals(MAGIC)) throw malformed(path, 'no index trailer');
  const length = trailer.readUInt32BE(0);
  if (length > MAX_HEADER_BYTES || length > size - TRAILER_BYTES) {
    throw malformed(path, `a header of ${length} bytes does not fit`);
  }
  const json = Buffer.alloc(length);
  await readExactly(handle, json, size - TRAILER_BYTES - length, endedEarly(path));
  if (
    !createHash('sha256')
      .update(json)
      .digest()
      .equals(trailer.subarray(4, 4 + HASH_BYTES))
  ) {
    throw malformed(path, 'the header does not match its checksum (edited or damaged)');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json));
  } catch {
    throw malformed(path, 'the header is not JSON');
  }
  const result = headerSchema.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw malformed(path, `bad header${issue?.path.length ? ` at ${issue.path.join('.')}` : ''}: ${issue?.message}`);
  }
  const expected = indexLayout(result.data).headerOffset + length + TRAILER_BYTES;
  if (expected !== size) throw malformed(path, `${size} bytes where its header implies ${expected}`);
  return result.data;
}

function endedEarly(path: string): () => InputError {
  return () => malformed(path, 'the file ended early');
}

function malformed(path: string, why: string): InputError {
  return new InputError('dataset.index-malformed', `${path} is not a usable dataset index: ${why}`);
}
