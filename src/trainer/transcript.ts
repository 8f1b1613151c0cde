import { appendFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../errors.js';
import { isPlainObject, parseJsonObject } from '../util/strict-json.js';
import { TRAINER_PROTOCOL } from '../protocol/trainer-commitment.js';
import {
  checkpointPath,
  TRANSCRIPT_BATCHES,
  TRANSCRIPT_CHECKPOINTS,
  TRANSCRIPT_META,
} from '../protocol/transcript-layout.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { readBoundedFile } from '../util/bounded-file.js';
import { writeCheckpointFile, type TrainingState } from './checkpoint.js';
import { isRecordIndex } from './record-indices.js';

/**
 * The transcript directory of a protocol run (docs/trainer-protocol.md, "The transcript
 * directory"): meta.json, checkpoints/NNNNNN.safetensors, batches.jsonl.
 */

export interface TranscriptMeta {
  protocol: 1;
  /** e.g. "tfjs-4.22.0/cpu", "pytorch-1.13.1/cpu". */
  framework: string;
  batchSize: number;
  /** Steps per segment. */
  k: number;
  /** Steps of the whole run, T. */
  steps: number;
  /** Records in the dataset file, n. */
  records: number;
  /** Whatever else replay needs to redo a step (learning-rate schedule, …), as the trainer defines it. */
  hyperparameters: Record<string, unknown>;
}

const META_KEYS = ['batchSize', 'framework', 'hyperparameters', 'k', 'protocol', 'records', 'steps'];
const BATCH_KEYS = ['indices', 'step'];
const MAX_META_BYTES = 1024 * 1024;
/** About 10^6 steps of 128 seven-digit indices. */
export const MAX_BATCHES_BYTES = 1024 * 1024 * 1024;
const LF = 0x0a;

/**
 * Writes a transcript as training runs. Checkpoints must come in index order and batches in step
 * order, each only once: `aicert run` hashes every checkpoint the moment its file appears, so a
 * rewritten checkpoint could only ever disagree with the certificate.
 */
export class TranscriptWriter {
  private nextCheckpoint = 0;
  private nextStep = 0;

  constructor(readonly dir: string) {}

  async writeMeta(meta: object): Promise<void> {
    checkMeta(meta, 'the meta.json to write');
    await mkdir(this.dir, { recursive: true });
    await writeFileAtomic(join(this.dir, TRANSCRIPT_META), `${JSON.stringify(meta)}\n`);
  }

  async writeCheckpoint(index: number, checkpoint: TrainingState): Promise<void> {
    if (index !== this.nextCheckpoint)
      throw new InputError(
        'trainer.checkpoint-order',
        `checkpoint ${index} written out of order: checkpoint ${this.nextCheckpoint} is next`,
      );
    const path = checkpointPath(this.dir, index);
    if (existsSync(path))
      throw new InputError('trainer.checkpoint-exists', `${path} already exists; a transcript is written once`);
    await mkdir(join(this.dir, TRANSCRIPT_CHECKPOINTS), { recursive: true });
    await writeCheckpointFile(path, checkpoint);
    this.nextCheckpoint++;
  }

  /** Appends one complete line `{"step":t,"indices":[…]}` to batches.jsonl. */
  async appendBatch(step: number, indices: number[]): Promise<void> {
    if (step !== this.nextStep)
      throw new InputError(
        'trainer.batch-order',
        `the batch of step ${step} appended out of order: step ${this.nextStep} is next`,
      );
    if (!indices.every(isRecordIndex))
      throw new InputError(
        'trainer.batch-indices',
        `the batch of step ${step} holds something other than record indices`,
      );
    await mkdir(this.dir, { recursive: true });
    await appendFile(join(this.dir, TRANSCRIPT_BATCHES), `${JSON.stringify({ step, indices })}\n`);
    this.nextStep++;
  }
}

export async function readTranscriptMeta(transcript: string): Promise<TranscriptMeta> {
  const path = join(transcript, TRANSCRIPT_META);
  const bytes = await readBoundedFile(path, MAX_META_BYTES, 'transcript meta', 'trainer.meta');
  const meta = parseJsonObject(bytes, (_problem, detail) => new InputError('trainer.meta', `${path}: ${detail}`));
  checkMeta(meta, path);
  return meta as unknown as TranscriptMeta;
}

/** The record indices of every step, from batches.jsonl: step t on line t, every line complete. */
export async function readBatches(transcript: string): Promise<number[][]> {
  const path = join(transcript, TRANSCRIPT_BATCHES);
  const text = await readBoundedFile(path, MAX_BATCHES_BYTES, 'batch log', 'trainer.batches');
  if (text.length > 0 && text[text.length - 1] !== LF)
    throw new InputError('trainer.batches', `${path}: the last line is incomplete (no line feed)`);
  const batches: number[][] = [];
  for (let start = 0; start < text.length; ) {
    const end = text.indexOf(LF, start);
    const where = `${path} line ${batches.length + 1}`;
    const line = parseJsonObject(
      text.subarray(start, end),
      (_problem, detail) => new InputError('trainer.batches', `${where}: ${detail}`),
    );
    if (Object.keys(line).sort().join() !== BATCH_KEYS.join())
      throw new InputError('trainer.batches', `${where}: a line must have exactly the keys "step" and "indices"`);
    if (line.step !== batches.length)
      throw new InputError(
        'trainer.batches',
        `${where}: step ${JSON.stringify(line.step)} where step ${batches.length} belongs`,
      );
    const indices = line.indices;
    if (!Array.isArray(indices) || indices.length === 0 || !indices.every(isRecordIndex)) {
      throw new InputError('trainer.batches', `${where}: "indices" must be a non-empty array of record indices`);
    }
    batches.push(indices);
    start = end + 1;
  }
  return batches;
}

function checkMeta(meta: object, where: string): void {
  const m = meta as Record<string, unknown>;
  const fail = (problem: string) => new InputError('trainer.meta', `${where}: ${problem}`);
  if (!isPlainObject(meta) || Object.keys(meta).sort().join() !== META_KEYS.join())
    throw fail(`must have exactly the keys ${META_KEYS.join(', ')}`);
  if (m.protocol !== TRAINER_PROTOCOL) throw fail(`"protocol" must be ${TRAINER_PROTOCOL}`);
  if (typeof m.framework !== 'string' || m.framework === '') throw fail('"framework" must name the framework');
  for (const key of ['batchSize', 'k', 'steps', 'records']) {
    const value = m[key];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1)
      throw fail(`"${key}" must be a positive whole number`);
  }
  if (!isPlainObject(m.hyperparameters)) throw fail('"hyperparameters" must be an object');
}
