import { randomBytes } from 'node:crypto';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { InputError } from '../../errors.js';
import { fileVersionOf, sameFileVersion } from '../file-version.js';
import { compareNames, listMeasuredFiles, resolveMeasureOptions } from '../manifest.js';
import {
  INDEX_FORMAT,
  INDEX_VERSION,
  indexLayout,
  MAX_BLOCK_ROOTS,
  MAX_INDEXED_FILES,
  indexTail,
  type IndexedFile,
  type IndexHeader,
} from './dataset-index.js';
import { TREE_HASH } from './dataset-proof.js';
import { datasetRootsOf, type DatasetSourceOptions } from './dataset-source.js';
import { commitmentOfRoots } from './dataset-tree.js';
import { writeOrderPositions } from './index-positions.js';
import { LeafTrees } from './leaf-trees.js';
import { HASH_BYTES } from './merkle.js';
import { RecordPool } from './record-pool.js';
import { readExactly } from './read-exactly.js';

/**
 * The files of the dataset at `path` with their versions (size, times, inode), in the order a
 * sharded dataset reads them: what an index is bound to (index-prove.ts compares them again).
 */
export async function datasetFileVersions(path: string): Promise<IndexedFile[]> {
  const files = await listMeasuredFiles(path, resolveMeasureOptions({}));
  return files.sort((a, b) => compareNames(a.name, b.name)).map((f) => ({ name: f.name, ...fileVersionOf(f) }));
}

export function sameFiles(a: readonly IndexedFile[], b: readonly IndexedFile[]): boolean {
  return a.length === b.length && a.every((file, i) => file.name === b[i]!.name && sameFileVersion(file, b[i]!));
}

/**
 * Writes the index of the dataset at `path` (a record file or a directory of shards) to `out`,
 * atomically (a temporary file beside it, fsync, rename), and returns its header. The leaves come
 * from one parallel read of the dataset (dataset-source.ts); they are written to the file as they
 * arrive and also fed to trees of this index's own, whose sorted set leaves and block roots the
 * index keeps, and whose hashes must equal the dataset's; then the first order position of every
 * set leaf (index-positions.ts). The dataset's files must be the same
 * versions before and after (`dataset.changed`). Memory stays bounded as in `aicert data root`.
 */
export async function writeDatasetIndex(
  path: string,
  out: string,
  options: DatasetSourceOptions = {},
): Promise<IndexHeader> {
  const before = await datasetFileVersions(path);
  if (before.length > MAX_INDEXED_FILES) {
    throw new InputError(
      'dataset.index-too-large',
      `${path} holds ${before.length} files; an index names at most ${MAX_INDEXED_FILES}`,
    );
  }
  const pool = options.pool ?? new RecordPool();
  const trees = new LeafTrees(pool, options.tuning);
  const temp = join(dirname(out), `.${basename(out)}.${randomBytes(6).toString('hex')}.tmp`);
  // Read as well as written: the order positions are found in the leaves already written.
  const handle = await open(temp, 'wx+', 0o644);
  const writer = new SequentialWriter(handle);
  let closed = false;
  try {
    const roots = await datasetRootsOf(path, {
      ...options,
      pool,
      onLeaves: async (leaves) => {
        await writer.write(leaves);
        await trees.push(leaves);
      },
    });
    const own = await trees.finish((leaves) => writer.write(leaves));
    if (!own.orderHash.equals(roots.orderHash) || !own.setHash.equals(roots.setHash)) {
      throw new Error('the index trees differ from the dataset trees (a defect in aicert)');
    }
    const blocks = await trees.fullBlockRoots();
    await writer.write(Buffer.concat(blocks.order));
    await writer.write(Buffer.concat(blocks.set));
    const { records, distinctRecords } = own;
    if (blocks.order.length > MAX_BLOCK_ROOTS) {
      // The reader refuses it (a proof reads every block root): say so now, not at the first proof.
      throw new InputError(
        'dataset.index-too-large',
        `${path} holds ${records} records; an index holds at most ${MAX_BLOCK_ROOTS} blocks of ${blocks.blockLeaves}`,
      );
    }
    const { sections } = indexLayout({ blockLeaves: blocks.blockLeaves, dataset: { records, distinctRecords } });
    await writeOrderPositions(
      (section, from, count) =>
        readExactly(
          handle,
          Buffer.alloc(count * HASH_BYTES),
          sections[section].offset + from * HASH_BYTES,
          () => new Error('the index being written ended early'),
        ),
      records,
      distinctRecords,
      (bytes) => writer.write(bytes),
    );
    const after = await datasetFileVersions(path);
    if (!sameFiles(before, after)) {
      throw new InputError('dataset.changed', `${path} changed while it was indexed; index it again`);
    }
    const { leafHash: _rule, ...commitment } = commitmentOfRoots(roots);
    const header: IndexHeader = {
      format: INDEX_FORMAT,
      version: INDEX_VERSION,
      treeHash: TREE_HASH,
      blockLeaves: blocks.blockLeaves,
      dataset: { ...commitment, shards: roots.shards },
      files: after,
    };
    await writer.write(indexTail(header));
    await handle.sync();
    await handle.close();
    closed = true;
    await rename(temp, out);
    return header;
  } catch (err) {
    if (!closed) await handle.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw err;
  } finally {
    await trees.dispose();
    if (!options.pool) await pool.close();
  }
}

/** Appends to a file at its own position, every byte (a write may be short). */
class SequentialWriter {
  private position = 0;

  constructor(private readonly handle: FileHandle) {}

  async write(bytes: Uint8Array): Promise<void> {
    let done = 0;
    while (done < bytes.length) {
      const { bytesWritten } = await this.handle.write(bytes, done, bytes.length - done, this.position);
      done += bytesWritten;
      this.position += bytesWritten;
    }
  }
}
