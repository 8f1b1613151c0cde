import { VerificationError } from '../errors.js';
import { batchSchedule, readBatches, readTranscriptMeta, splitHoldout, type TranscriptMeta } from '../trainer/index.js';
import type { TrainerCommitment } from '../protocol/trainer-commitment.js';

/**
 * The transcript's meta.json and batches.jsonl against what the commitment fixes: k, the
 * dataset's record count, the number of checkpoints, and above all the data order, which must
 * be exactly the one derived from s (held-out split, then one permutation per epoch). A prover
 * who trained on a different order, on held-out records or on extra steps fails here.
 */

/** meta.json, sane and consistent with the commitment and the measured checkpoints. */
export async function checkMeta(
  transcript: string,
  commitment: TrainerCommitment,
  records: number,
  checkpoints: number,
): Promise<TranscriptMeta> {
  const meta = await readTranscriptMeta(transcript);
  const fail = (problem: string) => new VerificationError('audit.meta', `meta.json ${problem}`);
  if (meta.k !== commitment.checkpointEvery)
    throw fail(`says k = ${meta.k}, but the run committed to a checkpoint every ${commitment.checkpointEvery} steps`);
  if (meta.records !== records)
    throw fail(`says the dataset has ${meta.records} records, but the certified record file has ${records}`);
  const expected = Math.ceil(meta.steps / meta.k) + 1;
  if (checkpoints !== expected)
    throw fail(
      `says ${meta.steps} steps, which make ${expected} checkpoints at k = ${meta.k}, but the run measured ${checkpoints}`,
    );
  return meta;
}

export interface CommittedOrder {
  /** The record indices of every step, as logged and as derived from s. */
  batches: number[][];
  /** The held-out records, in the order the commitment's permutation put them. */
  heldOut: number[];
}

/** batches.jsonl must be exactly the schedule derived from s, and never touch a held-out record. */
export async function checkBatches(
  transcript: string,
  commitment: TrainerCommitment,
  meta: TranscriptMeta,
): Promise<CommittedOrder> {
  const seed = Buffer.from(commitment.seed, 'hex');
  const logged = await readBatches(transcript);
  const { trainPool, heldOut } = splitHoldout(seed, meta.records, commitment.holdoutFraction);
  const perEpoch = Math.floor(trainPool.length / meta.batchSize);
  if (perEpoch < 1)
    throw new VerificationError(
      'audit.batches',
      `a batch of ${meta.batchSize} is larger than the ${trainPool.length} records of the training pool`,
    );
  const derived = batchSchedule(seed, trainPool, meta.batchSize, Math.ceil(meta.steps / perEpoch)).slice(0, meta.steps);
  if (logged.length !== meta.steps)
    throw new VerificationError(
      'audit.batches',
      `batches.jsonl logs ${logged.length} steps, meta.json says ${meta.steps}`,
    );
  const held = new Set(heldOut);
  for (let step = 0; step < logged.length; step++) {
    const record = logged[step]!.find((r) => held.has(r));
    if (record !== undefined)
      throw new VerificationError(
        'audit.batches',
        `step ${step} trained on record ${record}, which the commitment holds out`,
      );
  }
  for (let step = 0; step < logged.length; step++) {
    const got = logged[step]!;
    const want = derived[step]!;
    if (got.length !== want.length || got.some((r, j) => r !== want[j])) {
      throw new VerificationError(
        'audit.batches',
        `step ${step} trained on [${preview(got)}], but the order derived from s gives [${preview(want)}]`,
      );
    }
  }
  return { batches: logged, heldOut };
}

function preview(indices: number[]): string {
  return indices.length > 6 ? `${indices.slice(0, 6).join(', ')}, …` : indices.join(', ');
}
