import { fileVersionOf } from '../file-version.js';
import type { HashPool } from '../hash-pool.js';
import {
  compareNames,
  hashEntries,
  listMeasuredFiles,
  manifestOfEntries,
  resolveMeasureOptions,
  withPool,
  type Manifest,
  type ManifestEntry,
  type MeasureSettings,
} from '../manifest.js';
import { commitmentOfRoots, type DatasetCommitment } from './dataset-tree.js';
import { folderRootsOf } from './folder-roots.js';
import { recordFormatFor } from './record-format.js';
import { measureRecordFile } from './record-file-measurement.js';
import { RecordPool } from './record-pool.js';

/**
 * Files whose records get Merkle trees (docs/datasets.md): JSONL, CSV, text lines, Parquet and
 * WebDataset tars; each in the format its extension implies, as `aicert data root` reads it, so
 * that the roots a certificate records for a file are those `data root` and `data prove` give.
 */
const RECORD_FILE = /\.(jsonl|ndjson|csv|txt|parquet|tar)$/i;

export interface DatasetContent {
  /** The OMS manifest (files method, SHA-256) of every file, record files included. */
  manifest: Manifest;
  /**
   * Each record file by its manifest name, in manifest order, with its record trees' commitment;
   * for a folder of files, the one commitment of the folder, named '.'.
   */
  recordFiles: Array<{ name: string; commitment: DatasetCommitment }>;
}

/**
 * A dataset directory (or single file) by content: the manifest of all its files, and the record
 * trees of its record files. Other files are hashed by the pool. A directory without any record
 * file is a folder of files (docs/datasets.md): one tree over all its files, a record per file.
 * A record file is read once, in one descriptor, for both its manifest digest and its records
 * (record-file-measurement.ts), and
 * must still be the file listed (`dataset.changed` otherwise): the digest and the roots recorded
 * for a name always describe the same bytes.
 */
export async function measureDatasetContent(
  path: string,
  options: { pool?: HashPool; recordWorkers?: number } = {},
): Promise<DatasetContent> {
  const settings = resolveMeasureOptions({ pool: options.pool });
  return withPool(settings, async (pool) => {
    const files = await listMeasuredFiles(path, settings);
    // A single file is listed as '.'; its own name says whether it holds records.
    const fileName = (name: string) => (name === '.' ? path : name);
    const isRecordFile = (name: string) => RECORD_FILE.test(fileName(name));
    const isFolder = !(files.length === 1 && files[0]!.name === '.');
    if (isFolder && !files.some((file) => isRecordFile(file.name))) return measureFolder(path, settings, options);
    const entries: ManifestEntry[] = await hashEntries(
      files.filter((f) => !isRecordFile(f.name)),
      settings,
      pool,
    );
    const byName = files.filter((f) => isRecordFile(f.name)).sort((a, b) => compareNames(a.name, b.name));
    const recordPool = new RecordPool({ workers: options.recordWorkers });
    try {
      // Several files at once: one file's pieces keep every worker busy, but many small files
      // would each wait for their own read and sort; the shared pool bounds the CPU either way.
      const measured = await mapConcurrently(byName, recordPool.size, (file) =>
        measureRecordFile(file.path, {
          format: recordFormatFor(fileName(file.name)),
          expectedVersion: fileVersionOf(file),
          pool: recordPool,
        }),
      );
      const recordFiles = byName.map((file, i) => ({ name: file.name, commitment: measured[i]!.commitment }));
      for (const [i, file] of byName.entries()) {
        entries.push({ name: file.name, digest: measured[i]!.sha256, size: measured[i]!.size });
      }
      entries.sort((a, b) => compareNames(a.name, b.name));
      return { manifest: manifestOfEntries(entries, settings), recordFiles };
    } finally {
      await recordPool.close();
    }
  });
}

/**
 * A folder none of whose files is a record file: a folder of files (folder-roots.ts), one record
 * per file, recorded under the name '.'. Each file is read once for its manifest digest and its
 * leaf.
 */
async function measureFolder(
  path: string,
  settings: MeasureSettings,
  options: { recordWorkers?: number },
): Promise<DatasetContent> {
  const entries: ManifestEntry[] = [];
  const recordPool = new RecordPool({ workers: options.recordWorkers });
  try {
    const roots = await folderRootsOf(path, {
      pool: recordPool,
      onFile: (file, digest, size) => entries.push({ name: file.name, digest, size }),
    });
    const { files: _, ...hashes } = roots;
    return {
      manifest: manifestOfEntries(entries, settings),
      recordFiles: [{ name: '.', commitment: commitmentOfRoots(hashes) }],
    };
  } finally {
    await recordPool.close();
  }
}

/** `work` over `items` with at most `limit` running at once; results in the items' order. */
async function mapConcurrently<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}
