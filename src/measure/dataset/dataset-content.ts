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
} from '../manifest.js';
import { datasetCommitment, type DatasetCommitment } from './dataset-tree.js';
import { recordFormatFor } from './record-format.js';
import { measureRecordFile } from './record-file-measurement.js';

/** Files whose records get Merkle trees (docs/datasets.md): JSONL, CSV and text lines. */
const RECORD_FILE = /\.(jsonl|ndjson|csv|txt)$/i;

export interface DatasetContent {
  /** The OMS manifest (files method, SHA-256) of every file, record files included. */
  manifest: Manifest;
  /** Each record file by its manifest name, in manifest order, with its record trees' commitment. */
  recordFiles: Array<{ name: string; commitment: DatasetCommitment }>;
}

/**
 * A dataset directory (or single file) by content: the manifest of all its files, and the record
 * trees of its record files. Other files are hashed by the pool. A record file is read once, in
 * one descriptor, for both its manifest digest and its records (record-file-measurement.ts), and
 * must still be the file listed (`dataset.changed` otherwise): the digest and the roots recorded
 * for a name always describe the same bytes.
 */
export async function measureDatasetContent(path: string, options: { pool?: HashPool } = {}): Promise<DatasetContent> {
  const settings = resolveMeasureOptions({ pool: options.pool });
  return withPool(settings, async (pool) => {
    const files = await listMeasuredFiles(path, settings);
    // A single file is listed as '.'; its own name says whether it holds records.
    const fileName = (name: string) => (name === '.' ? path : name);
    const isRecordFile = (name: string) => RECORD_FILE.test(fileName(name));
    const entries: ManifestEntry[] = await hashEntries(
      files.filter((f) => !isRecordFile(f.name)),
      settings,
      pool,
    );
    const recordFiles: DatasetContent['recordFiles'] = [];
    const byName = files.filter((f) => isRecordFile(f.name)).sort((a, b) => compareNames(a.name, b.name));
    for (const file of byName) {
      const measured = await measureRecordFile(file.path, {
        format: recordFormatFor(fileName(file.name)),
        expectedVersion: fileVersionOf(file),
      });
      entries.push({ name: file.name, digest: measured.sha256, size: measured.size });
      recordFiles.push({ name: file.name, commitment: datasetCommitment(measured.trees) });
    }
    entries.sort((a, b) => compareNames(a.name, b.name));
    return { manifest: manifestOfEntries(entries, settings), recordFiles };
  });
}
