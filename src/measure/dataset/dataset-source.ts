import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { InputError } from '../../errors.js';
import type { FileRecord } from '../walker.js';
import { commitmentOfRoots, type DatasetCommitment } from './dataset-tree.js';
import { folderFiles, folderRootsOf, notAFolder } from './folder-roots.js';
import { LeafList } from './leaf-list.js';
import { LeafTrees } from './leaf-trees.js';
import {
  type RecordLeavesRead,
  recordRootsOf,
  type RecordRoots,
  type RecordRootsTuning,
} from './parallel-record-roots.js';
import { parquetRootsOf } from './parquet-roots.js';
import { recordFormatFor, recordFormatOfName, type RecordFormat } from './record-format.js';
import { RecordPool } from './record-pool.js';
import { openRecordFile } from './records.js';
import { ShardLeafFeed } from './shard-leaf-feed.js';
import { webdatasetRootsOf } from './webdataset-roots.js';

/** A dataset by its records: one record file, or a directory of shards read as one dataset. */
export interface DatasetSourceOptions {
  /** The record format; from the file names when absent. */
  format?: string;
  pool?: RecordPool;
  tuning?: RecordRootsTuning;
}

export interface DatasetRoots extends Omit<RecordRoots, 'version'> {
  /** Record files read: 1 for a file, the shard count for a directory. */
  shards: number;
}

/** At most this many shards are read at once: each keeps its own pieces in flight. */
const MAX_SHARDS_AT_ONCE = 4;

/**
 * Both trees of the dataset at `path` (docs/datasets.md, "Sharded datasets"). A directory whose
 * files are all not record files (or with `format: 'files'`) is a folder of files, a record per
 * file (folder-roots.ts). Any other directory is one dataset made of its files, the shards: all
 * of one record format, taken in the manifest's name order (code points, '/' below every other character; `train-00000-of-00042.parquet` before
 * `train-00001-…`). The order tree is over the records of shard 0, then shard 1, …; the set tree
 * over the distinct records of all shards. Shards are read several at once; their leaves reach
 * the trees in shard order (shard-leaf-feed.ts). `onLeaves` sees every leaf in dataset order.
 */
export async function datasetRootsOf(
  path: string,
  options: DatasetSourceOptions & { onLeaves?: (leaves: Buffer) => Promise<void> } = {},
): Promise<DatasetRoots> {
  const pool = options.pool ?? new RecordPool();
  try {
    const stats = await stat(path).catch((err: NodeJS.ErrnoException) => {
      throw new InputError('dataset.unreadable', `cannot read dataset ${path}: ${err.code ?? err.message}`);
    });
    if (!stats.isDirectory()) {
      const format = recordFormatFor(path, options.format);
      if (format === 'files') throw notAFolder(path);
      const roots = await fileRootsOf(path, format, pool, options);
      return { ...roots, shards: 1 };
    }
    return await shardedRootsOf(path, options, pool);
  } finally {
    if (!options.pool) await pool.close();
  }
}

/** The dataset's commitment (roots bound to kind and size) and its shard count. */
export async function datasetCommitmentOf(
  path: string,
  options: DatasetSourceOptions = {},
): Promise<DatasetCommitment & { shards: number }> {
  const roots = await datasetRootsOf(path, options);
  return { ...commitmentOfRoots(roots), shards: roots.shards };
}

/** Every leaf of the dataset in order (32 bytes each), for proofs; built in parallel. */
export async function datasetOrderLeaves(
  path: string,
  options: DatasetSourceOptions = {},
): Promise<{ roots: DatasetRoots; orderLeaves: Buffer }> {
  const leaves = new LeafList();
  const roots = await datasetRootsOf(path, {
    ...options,
    onLeaves: async (batch) => {
      for (let i = 0; i < batch.length; i += 32) leaves.push(batch.subarray(i, i + 32));
    },
  });
  return { roots, orderLeaves: leaves.toBuffer() };
}

/** What `fileRootsOf` is asked for: both trees of one file, or a shard's leaves alone (to `onLeaves`). */
type FileRead =
  | { tuning?: RecordRootsTuning; onLeaves?: (leaves: Buffer) => Promise<void> }
  | { tuning?: RecordRootsTuning; onLeaves: (leaves: Buffer) => Promise<void>; shard: FileRecord };

/**
 * One record file's trees; or, for a shard (`shard`: the file as listed), only its leaves: the
 * dataset's trees are built from them, and the shard's own would be thrown away.
 */
async function fileRootsOf(
  path: string,
  format: RecordFormat,
  pool: RecordPool,
  read: FileRead & { shard: FileRecord },
): Promise<RecordLeavesRead>;
async function fileRootsOf(path: string, format: RecordFormat, pool: RecordPool, read: FileRead): Promise<RecordRoots>;
async function fileRootsOf(
  path: string,
  format: RecordFormat,
  pool: RecordPool,
  read: FileRead,
): Promise<RecordRoots | RecordLeavesRead> {
  const handle = await openRecordFile(path);
  try {
    const common = { pool, ...(read.tuning && { tuning: read.tuning }) };
    if ('shard' in read) {
      const settings = { ...common, onLeaves: read.onLeaves, expectedVersion: read.shard, leavesOnly: true as const };
      if (format === 'parquet') return await parquetRootsOf(handle, path, settings);
      if (format === 'webdataset') return await webdatasetRootsOf(handle, path, settings);
      return await recordRootsOf(handle, path, { ...settings, format });
    }
    const settings = { ...common, ...(read.onLeaves && { onLeaves: read.onLeaves }) };
    if (format === 'parquet') return await parquetRootsOf(handle, path, settings);
    if (format === 'webdataset') return await webdatasetRootsOf(handle, path, settings);
    return await recordRootsOf(handle, path, { ...settings, format });
  } finally {
    await handle.close();
  }
}

async function shardedRootsOf(
  path: string,
  options: DatasetSourceOptions & { onLeaves?: (leaves: Buffer) => Promise<void> },
  pool: RecordPool,
): Promise<DatasetRoots> {
  const files = await folderFiles(path);
  const format = shardFormat(path, files, options.format);
  if (format === 'files') {
    // One dataset of one folder: `shards` counts record files read, and the folder is one.
    const { files: _, ...roots } = await folderRootsOf(path, { ...options, pool }, files);
    return { ...roots, shards: 1 };
  }
  const trees = new LeafTrees(pool, options.tuning);
  const feed = new ShardLeafFeed(files.length, async (leaves) => {
    await trees.push(leaves);
    await options.onLeaves?.(leaves);
  });
  try {
    const headers: Array<Buffer | undefined> = new Array(files.length);
    let next = 0;
    const lane = async () => {
      while (next < files.length) {
        const index = next++;
        const file = files[index]!;
        const roots = await fileRootsOf(file.path, format, pool, {
          ...(options.tuning && { tuning: options.tuning }),
          onLeaves: (leaves) => feed.push(index, leaves),
          shard: file,
        });
        headers[index] = roots.header;
        await feed.end(index);
      }
    };
    const lanes = Array.from({ length: Math.min(MAX_SHARDS_AT_ONCE, pool.size, files.length) }, lane);
    await Promise.all(lanes.map((l) => l.catch((err) => feed.abort(err))));
    await feed.done();
    const header = commonHeader(path, files, headers);
    return {
      format,
      ...(await trees.finish()),
      ...(header && { header }),
      shards: files.length,
    };
  } finally {
    await trees.dispose();
  }
}

/**
 * One record format for every shard: the explicit one, else the one all the names imply; a folder
 * none of whose names implies a record format (images, audio, …) is a folder of files.
 */
function shardFormat(path: string, files: FileRecord[], explicit: string | undefined): RecordFormat {
  if (explicit !== undefined) return recordFormatFor(path, explicit);
  const other = files.find((file) => recordFormatOfName(file.name) === undefined);
  if (other && files.every((file) => recordFormatOfName(file.name) === undefined)) return 'files';
  const recordFile = files.find((file) => recordFormatOfName(file.name) !== undefined);
  if (other && recordFile) {
    throw new InputError(
      'dataset.mixed-shards',
      `${path} holds record files (${recordFile.name}) and other files (${other.name}); pass --format files ` +
        'for a record per file, or keep only the shards',
    );
  }
  const formats = new Set(files.map((file) => recordFormatFor(file.name)));
  if (formats.size !== 1) {
    throw new InputError(
      'dataset.mixed-shards',
      `the shards of ${path} are not all of one format (${[...formats].join(', ')}); a sharded dataset is one format`,
    );
  }
  return [...formats][0]!;
}

/** CSV shards each start with a header; they must all be the same row. */
function commonHeader(path: string, files: FileRecord[], headers: Array<Buffer | undefined>): Buffer | undefined {
  const first = headers[0];
  for (const [i, header] of headers.entries()) {
    const same = header === undefined ? first === undefined : first !== undefined && header.equals(first);
    if (!same) {
      const digest = (h: Buffer | undefined) =>
        h ? createHash('sha256').update(h).digest('hex').slice(0, 16) : 'none';
      throw new InputError(
        'dataset.shard-header',
        `CSV shard ${files[i]!.name} of ${path} has another header (${digest(header)}…) than ${files[0]!.name} (${digest(first)}…)`,
      );
    }
  }
  return first;
}
