import { isAbsolute } from 'node:path';
import { InputError } from '../errors.js';
import { TRAINER_PROTOCOL } from './trainer-commitment.js';

/**
 * The trainer protocol's environment (docs/trainer-protocol.md, "Environment"): how `aicert run`
 * and `aicert audit` tell a trainer what to do, and how a trainer reads it. One encoder and one
 * decoder, so the writer and the readers cannot drift apart.
 */

/** The AICERT_* variables as they reach the trainer's process. */
export type TrainerVariables = Record<string, string>;

/** What a protocol trainer is asked to do (docs/trainer-protocol.md, "Modes"). */
export type TrainerMode = 'train' | 'init' | 'replay' | 'loss';

/** The AICERT_* variables a protocol trainer runs with, decoded and checked. */
export interface TrainerEnvironment {
  protocol: 1;
  mode: TrainerMode;
  /** s, 32 bytes. */
  seed: Buffer;
  /** The transcript directory, absolute. */
  transcript: string;
  /** k: steps per segment. */
  checkpointEvery: number;
  holdoutFraction: number;
  /** The record file, absolute; records numbered from 0 in file order. */
  dataset: string;
  /** replay: the segment i to replay, from checkpoint i to checkpoint i+1. */
  segment?: number;
  /** loss: the checkpoint file whose weights to evaluate. */
  checkpoint?: string;
  /** loss: a JSON file holding an array of record indices. */
  records?: string;
  /** init, replay, loss: where to write the result. */
  output?: string;
}

const MODES: readonly TrainerMode[] = ['train', 'init', 'replay', 'loss'];

/**
 * The protocol environment, or undefined when AICERT_TRAINER_MODE is unset (the program was not
 * started as a protocol trainer). Anything malformed, missing for the mode, or a protocol
 * version other than 1 is an InputError: a trainer must refuse rather than guess.
 */
export function readTrainerEnvironment(env: NodeJS.ProcessEnv = process.env): TrainerEnvironment | undefined {
  const modeText = env.AICERT_TRAINER_MODE;
  if (modeText === undefined) return undefined;
  const get = (name: string): string => {
    const value = env[name];
    if (value === undefined || value === '') throw bad(name, 'is not set');
    return value;
  };
  const protocol = get('AICERT_TRAINER_PROTOCOL');
  if (protocol !== String(TRAINER_PROTOCOL)) {
    throw new InputError(
      'trainer.protocol',
      `AICERT_TRAINER_PROTOCOL is ${JSON.stringify(protocol)}; this SDK speaks trainer protocol ${TRAINER_PROTOCOL} only`,
    );
  }
  const mode = modeText as TrainerMode;
  if (!MODES.includes(mode))
    throw bad('AICERT_TRAINER_MODE', `must be one of ${MODES.join(', ')}, got ${JSON.stringify(modeText)}`);

  const seed = get('AICERT_SEED');
  if (!/^[0-9a-f]{64}$/.test(seed)) throw bad('AICERT_SEED', 'must be 64 lower-case hex digits');
  const holdout = get('AICERT_HOLDOUT_FRACTION');
  if (!/^0(\.\d{1,6})?$/.test(holdout))
    throw bad(
      'AICERT_HOLDOUT_FRACTION',
      `must be a decimal from 0 to below 1 with at most 6 decimal places, got ${JSON.stringify(holdout)}`,
    );
  const result: TrainerEnvironment = {
    protocol: TRAINER_PROTOCOL,
    mode,
    seed: Buffer.from(seed, 'hex'),
    transcript: absolutePath(get('AICERT_TRANSCRIPT'), 'AICERT_TRANSCRIPT'),
    checkpointEvery: wholeNumber(get('AICERT_CHECKPOINT_EVERY'), 'AICERT_CHECKPOINT_EVERY', 1),
    holdoutFraction: Number(holdout),
    dataset: absolutePath(get('AICERT_DATASET'), 'AICERT_DATASET'),
  };
  if (mode === 'replay') result.segment = wholeNumber(get('AICERT_SEGMENT'), 'AICERT_SEGMENT', 0);
  if (mode === 'loss') {
    result.checkpoint = get('AICERT_CHECKPOINT');
    result.records = get('AICERT_RECORDS');
  }
  if (mode !== 'train') result.output = get('AICERT_OUTPUT');
  return result;
}

/** The variables for `e`: the inverse of readTrainerEnvironment. */
export function encodeTrainerEnvironment(e: TrainerEnvironment): TrainerVariables {
  return {
    AICERT_TRAINER_PROTOCOL: String(e.protocol),
    AICERT_TRAINER_MODE: e.mode,
    AICERT_SEED: e.seed.toString('hex'),
    AICERT_TRANSCRIPT: e.transcript,
    AICERT_CHECKPOINT_EVERY: String(e.checkpointEvery),
    AICERT_HOLDOUT_FRACTION: String(e.holdoutFraction),
    AICERT_DATASET: e.dataset,
    ...(e.segment !== undefined && { AICERT_SEGMENT: String(e.segment) }),
    ...(e.checkpoint !== undefined && { AICERT_CHECKPOINT: e.checkpoint }),
    ...(e.records !== undefined && { AICERT_RECORDS: e.records }),
    ...(e.output !== undefined && { AICERT_OUTPUT: e.output }),
  };
}

function bad(name: string, problem: string): InputError {
  return new InputError('trainer.environment', `${name} ${problem} (see docs/trainer-protocol.md)`);
}

function wholeNumber(text: string, name: string, min: number): number {
  const n = /^(0|[1-9]\d*)$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min)
    throw bad(name, `must be a whole number ≥ ${min}, got ${JSON.stringify(text)}`);
  return n;
}

function absolutePath(text: string, name: string): string {
  if (!isAbsolute(text)) throw bad(name, `must be an absolute path, got ${JSON.stringify(text)}`);
  return text;
}
