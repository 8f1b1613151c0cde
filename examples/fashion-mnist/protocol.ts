import { InputError } from '../../src/errors.js';
import {
  checkpointPath,
  readBatches,
  readCheckpointFile,
  readRecordIndices,
  readTranscriptMeta,
  weightsOf,
  writeCheckpointFile,
  writeLosses,
  type TrainerEnvironment,
} from '../../src/trainer/index.js';
import { Mlp, initialWeights, toInputs } from './mlp.js';
import { readImageSet, type ImageSet } from './records.js';
import { LinearDecaySgd } from './sgd.js';

/**
 * The trainer protocol's audit modes for this example (docs/trainer-protocol.md, "Modes"): init
 * writes W0, replay re-runs one segment of a transcript, loss evaluates records under a
 * checkpoint. Each writes AICERT_OUTPUT atomically, or fails without writing it.
 */
export async function runAuditMode(env: TrainerEnvironment): Promise<void> {
  const output = env.output!;
  switch (env.mode) {
    case 'init':
      await writeCheckpointFile(output, initialWeights(env.seed));
      return;
    case 'replay':
      await writeCheckpointFile(output, await replaySegment(env));
      return;
    case 'loss':
      await writeLosses(output, await recordLosses(env));
      return;
    case 'train':
      throw new Error('train mode is not an audit mode');
  }
}

/** Loads checkpoint i and runs steps i·k … min((i+1)·k, T) − 1 with the batches the transcript recorded. */
async function replaySegment(env: TrainerEnvironment) {
  const meta = await readTranscriptMeta(env.transcript);
  if (meta.k !== env.checkpointEvery) {
    throw new InputError(
      'example.bad-meta',
      `the transcript's meta.json says k = ${meta.k}, the commitment says AICERT_CHECKPOINT_EVERY = ${env.checkpointEvery}`,
    );
  }
  const i = env.segment!;
  const first = i * meta.k;
  const end = Math.min(first + meta.k, meta.steps);
  if (first >= meta.steps)
    throw new InputError(
      'example.no-segment',
      `segment ${i} does not exist: the run has ${meta.steps} steps of which each segment holds ${meta.k}`,
    );
  const data = readDataset(env, meta.records);
  const batches = await readBatches(env.transcript);
  if (batches.length < end)
    throw new InputError(
      'example.bad-transcript',
      `batches.jsonl records ${batches.length} steps; segment ${i} needs steps ${first} to ${end - 1}`,
    );
  const source = checkpointPath(env.transcript, i);
  const model = new Mlp(weightsOf(await readCheckpointFile(source)), source);
  const sgd = LinearDecaySgd.fromMeta(meta, `${env.transcript}/meta.json`);
  const inputs = toInputs(data);
  for (let t = first; t < end; t++)
    sgd.step(model, t, inputs, data.labels, checkedIndices(batches[t]!, data.count, `step ${t}`));
  const result = model.weights();
  model.dispose();
  sgd.dispose();
  return result;
}

async function recordLosses(env: TrainerEnvironment): Promise<number[]> {
  const data = readDataset(env);
  const records = checkedIndices(await readRecordIndices(env.records!), data.count, env.records!);
  const model = new Mlp(weightsOf(await readCheckpointFile(env.checkpoint!)), env.checkpoint!);
  const losses = model.perExampleLoss(toInputs(data), data.labels, records);
  model.dispose();
  return losses;
}

function readDataset(env: TrainerEnvironment, expected?: number): ImageSet {
  const data = readImageSet(env.dataset);
  if (expected !== undefined && data.count !== expected) {
    throw new InputError(
      'example.bad-transcript',
      `${env.dataset} holds ${data.count} records; the transcript was trained on ${expected}`,
    );
  }
  return data;
}

function checkedIndices(indices: number[], count: number, where: string): number[] {
  const bad = indices.find((i) => i >= count);
  if (bad !== undefined)
    throw new InputError('example.bad-index', `${where}: record ${bad} is not in the dataset of ${count} records`);
  return indices;
}
