/**
 * The measurement library: content manifests of models, datasets and code (docs/measure.md).
 *
 *   const manifest = await measureModel('./my-model');          // OMS v1.0 `files`, SHA-256
 *   const big = await measureModel('./w.bin', { shardSize: DEFAULT_SHARD_SIZE });
 *   const code = await measureCode('./train');                   // git commit + tree, or files
 *
 * Share one HashPool between calls (`options.pool`) to avoid starting workers each time.
 */
import { measurePath } from './manifest.js';

export { HashPool, DEFAULT_READ_BUFFER_SIZE, DIGEST_SIZE, HASH_ALGORITHMS } from './hash-pool.js';
export type { HashAlgorithm, HashTask, HashPoolOptions } from './hash-pool.js';
export {
  measurePath,
  rootDigestOf,
  compareNames,
  normalizeIgnorePath,
  DEFAULT_SHARD_SIZE,
  DEFAULT_IGNORED_GIT_PATHS,
} from './manifest.js';
export type { Manifest, ManifestEntry, MeasureOptions } from './manifest.js';
export { measureCode } from './code.js';
export type { CodeMeasurement, CodeMeasureOptions } from './code.js';

/** Manifest of a model: a directory or a single weights file. */
export const measureModel = measurePath;

/**
 * Manifest of a dataset's files (a directory or one file). Record-level Merkle trees of
 * JSONL/CSV/text datasets come from ./dataset/.
 */
export const measureDataset = measurePath;
