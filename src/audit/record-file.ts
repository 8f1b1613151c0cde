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
 * ones the commitment named.
 */
export async function locateRecordFile(data: string, evidence: TrainerRun, pool?: HashPool): Promise<RecordFile> {
  const { input, path } = evidence.commitment.dataset;
  const local = await measureDatasetArtifact(data, pool);
  const certified = evidence.datasetInputs.find((d) => d.digest.sha256 === local.digest.sha256);
  if (!certified) {
    const want = evidence.datasetInputs.map((d) => d.digest.sha256).join(' or ') || '(no such input in the certificate)';
    throw new VerificationError('audit.data', `${data} (sha256 ${local.digest.sha256}) is not the trainer's certified dataset "${input}" (sha256 ${want})`);
  }
  const records = certified.records?.find((r) => r.path === path)?.records;
  if (records === undefined) throw new VerificationError('audit.data', `the certified dataset "${input}" has no record tree for ${path}; the trainer's dataset must be a JSONL, CSV or text record file`);
  return { path: path === '.' ? resolve(data) : join(resolve(data), path), records, input };
}
