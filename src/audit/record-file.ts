import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { VerificationError } from '../errors.js';
import { measureDatasetArtifact } from '../protocol/artifacts.js';
import type { HashPool } from '../measure/hash-pool.js';
import type { TrainerRun } from './trainer-run.js';

export interface RecordFile {
  /** Absolute path of the record file the trainer reads (AICERT_DATASET). */
  path: string;
  /** n: its record count, as certified. */
  records: number;
  /** The certified dataset input it belongs to. */
  input: string;
}

/**
 * The verifier's copy of the trainer's dataset must have exactly the certified content (the
 * replays and loss evaluations read it); the record file inside it and its record count are the
 * ones the commitment named. `data` is either the dataset input as the run committed it (a
 * directory or a single file), or, when the run committed a directory, just the record file
 * the trainer trained on: that file must then be the directory's certified entry at the
 * committed path, byte for byte.
 */
export async function locateRecordFile(data: string, evidence: TrainerRun, pool: HashPool): Promise<RecordFile> {
  const { input, path } = evidence.commitment.dataset;
  if (path !== '.' && (await stat(data)).isFile()) return locateInsideDirectory(data, evidence, pool);
  const local = await measureDatasetArtifact(data, pool);
  const certified = evidence.datasetInputs.find((d) => d.digest.sha256 === local.digest.sha256);
  if (!certified) {
    const want =
      evidence.datasetInputs.map((d) => d.digest.sha256).join(' or ') || '(no such input in the certificate)';
    throw new VerificationError(
      'audit.data',
      `${data} (sha256 ${local.digest.sha256}) is not the trainer's certified dataset "${input}" (sha256 ${want})`,
    );
  }
  // A folder of files has one tree named '.' too; a trainer reads a record file, not a folder.
  const records = certified.records?.find((r) => r.path === path && r.format !== 'files')?.records;
  if (records === undefined)
    throw new VerificationError(
      'audit.data',
      `the certified dataset "${input}" has no record tree for ${path}; the trainer's dataset must be a JSONL, CSV or text record file`,
    );
  return { path: path === '.' ? resolve(data) : join(resolve(data), path), records, input };
}

/** `data` is the record file alone; the run committed the directory "input" holding it at `path`. */
async function locateInsideDirectory(data: string, evidence: TrainerRun, pool: HashPool): Promise<RecordFile> {
  const { input, path } = evidence.commitment.dataset;
  const { size } = await stat(data);
  const sha256 = (
    await pool.hash({ path: data, start: 0, end: size, algorithm: 'sha256', expectedSize: size })
  ).toString('hex');
  for (const certified of evidence.datasetInputs) {
    const entry = certified.entries?.find((e) => e.name === path);
    const records = certified.records?.find((r) => r.path === path)?.records;
    if (entry && entry.sha256 === sha256 && entry.size === size && records !== undefined)
      return { path: resolve(data), records, input };
  }
  if (evidence.datasetInputs.every((d) => !d.entries)) {
    throw new VerificationError(
      'audit.data',
      `${data} is a file, but the run committed the directory "${input}" without listing its files (over 10,000): pass that directory to --data`,
    );
  }
  throw new VerificationError(
    'audit.data',
    `${data} (sha256 ${sha256}) is not ${path} of the trainer's certified dataset "${input}"; pass the record file the run trained on, or the directory "${input}" it committed`,
  );
}
