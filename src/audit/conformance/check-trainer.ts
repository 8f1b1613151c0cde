import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { AicertError, EnvironmentError, InputError, UsageError } from '../../errors.js';
import { buildDatasetTrees, recordFormatFor } from '../../measure/dataset/index.js';
import { readSafetensorsHeader, type SafetensorsHeader } from '../../measure/formats/safetensors.js';
import { HashPool } from '../../measure/hash-pool.js';
import { uncheckableDtype } from '../../protocol/checkpoint-dtypes.js';
import { measureCheckpointWeights, measureModelTensors, tensorSetDigest } from '../../protocol/model-tensors.js';
import { TRAINER_PROTOCOL, type TrainerCommitment } from '../../protocol/trainer-commitment.js';
import { checkpointFileName, checkpointPath, TRANSCRIPT_CHECKPOINTS } from '../../protocol/transcript-layout.js';
import {
  OPTIMIZER_PREFIX,
  readTrainingState,
  type CheckpointTensor,
  type TranscriptMeta,
} from '../../trainer/index.js';
import { checkBatches, checkMeta, type CommittedOrder } from '../committed-schedule.js';
import { RequestTranscripts } from '../request-transcripts.js';
import { stateDistance } from '../state-distance.js';
import { TrainerClient } from '../trainer-client.js';
import { trainerEnvironment, type ProtocolRun, type RunTrainer } from '../trainer-invocation.js';
import type { Deviation, DeviationId } from './deviations.js';
import { writeSampleDataset } from './sample-dataset.js';

/**
 * `aicert trainer check`: runs a protocol trainer's modes the way `aicert run` and `aicert audit`
 * will (the same environment encoder, request directories and trainer client; the command in this
 * process's working directory and environment), on a small dataset, in a scratch directory,
 * without a TPM, and lists every deviation from docs/trainer-protocol.md it finds (deviations.ts):
 * train once; the checkpoints, meta.json, batches.jsonl and the final model; init against
 * checkpoint 0; the first and the last segment replayed twice each (determinism, then the
 * recorded checkpoint); loss mode; and the refusal of an unknown protocol version.
 */
export interface TrainerCheckOptions {
  /** Runs one request of the trainer: normally commandTrainer(command, timeout). */
  runTrainer: RunTrainer;
  command: readonly string[];
  /** A record file, or a directory holding exactly one; absent: the built-in sample (sample-dataset.ts). */
  data?: string;
  /** Where the command writes its final model (what `aicert run --output` would be). */
  output: string;
  checkpointEvery: number;
  holdoutFraction: number;
  /** s, 32 bytes; default fresh random bytes. */
  seed?: Buffer;
  log?: (line: string) => void;
}

export const TRAINER_CHECK_MEDIA_TYPE = 'application/vnd.aicert.trainer-check.v1+json';

export const CHECK_STEPS = [
  'train',
  'checkpoints',
  'meta',
  'batches',
  'final',
  'init',
  'replay',
  'loss',
  'protocol',
] as const;
export type CheckStep = (typeof CHECK_STEPS)[number];

export interface TrainerCheckReport {
  mediaType: typeof TRAINER_CHECK_MEDIA_TYPE;
  conformant: boolean;
  exitStatus: 0 | 1;
  command: string[];
  seed: string;
  checkpointEvery: number;
  holdoutFraction: number;
  dataset: { path: string; records: number; builtIn: boolean };
  output: string;
  steps: Array<{ id: CheckStep; status: 'ok' | 'failed' | 'skipped'; detail: string }>;
  deviations: Deviation[];
}

export async function checkTrainer(o: TrainerCheckOptions): Promise<TrainerCheckReport> {
  if (existsSync(o.output) && (!(await stat(o.output)).isDirectory() || (await readdir(o.output)).length > 0))
    throw new UsageError(
      'usage.output-not-empty',
      `--output ${o.output} is not empty: train mode writes its model there, and an old model would be checked; give a new or empty directory`,
    );
  const work = await mkdtemp(join(tmpdir(), 'aicert-trainer-check-'));
  const pool = new HashPool();
  try {
    const dataset = await locateDataset(o.data, work);
    const check = new TrainerCheck(o, work, pool, dataset, o.seed ?? randomBytes(32));
    await check.run();
    return check.report();
  } finally {
    await pool.close();
    await rm(work, { recursive: true, force: true });
  }
}

interface Dataset {
  path: string;
  records: number;
  builtIn: boolean;
}

async function locateDataset(data: string | undefined, work: string): Promise<Dataset> {
  let path: string;
  if (data === undefined) {
    path = join(work, 'data', 'train.jsonl');
    await mkdir(join(work, 'data'));
    await writeSampleDataset(path);
  } else {
    if (!existsSync(data)) throw new UsageError('usage.missing-input', `--data ${data} does not exist`);
    path = resolve(data);
    if ((await stat(path)).isDirectory()) {
      const files = (await readdir(path, { withFileTypes: true })).filter((e) => e.isFile() && isRecordFile(e.name));
      if (files.length !== 1)
        throw new UsageError(
          'usage.data',
          `--data ${data} holds ${files.length} record files (${files.map((f) => f.name).join(', ') || 'none'}); pass the one the trainer trains on`,
        );
      path = join(path, files[0]!.name);
    }
  }
  // Numbered as aicert's dataset tree numbers records (docs/datasets.md): n is what the audit uses.
  const trees = await buildDatasetTrees(path);
  return { path, records: trees.orderLeaves.length / 32, builtIn: data === undefined };
}

function isRecordFile(name: string): boolean {
  try {
    recordFormatFor(name);
    return true;
  } catch {
    return false;
  }
}

type StepResult = { deviations: Deviation[]; detail?: string };

class TrainerCheck {
  private readonly steps: TrainerCheckReport['steps'] = [];
  private readonly deviations: Deviation[] = [];
  private readonly transcript: string;
  private readonly protocolRun: ProtocolRun;
  private readonly commitment: TrainerCommitment;

  constructor(
    private readonly o: TrainerCheckOptions,
    private readonly work: string,
    private readonly pool: HashPool,
    private readonly dataset: Dataset,
    private readonly seed: Buffer,
  ) {
    this.transcript = join(work, 'transcript');
    this.protocolRun = {
      seed: seed.toString('hex'),
      checkpointEvery: o.checkpointEvery,
      holdoutFraction: o.holdoutFraction,
      dataset: dataset.path,
    };
    this.commitment = {
      protocol: TRAINER_PROTOCOL,
      seed: this.protocolRun.seed,
      r: this.protocolRun.seed,
      rSource: 'challenge',
      checkpointEvery: o.checkpointEvery,
      holdoutFraction: o.holdoutFraction,
      dataset: { input: 'data', path: '.' },
    };
  }

  async run(): Promise<void> {
    for (const scratch of ['a', 'b', 'c']) await mkdir(join(this.work, scratch));
    if (!(await this.step('train', () => this.train()))) {
      for (const id of CHECK_STEPS.slice(1)) this.skip(id, 'train mode failed');
      return;
    }
    let checkpoints = 0;
    const consistent = await this.step('checkpoints', async () => {
      const r = await this.checkCheckpoints();
      checkpoints = r.count;
      return r;
    });
    let meta: TranscriptMeta | undefined;
    await this.step('meta', async () => {
      meta = await checkMeta(this.transcript, this.commitment, this.dataset.records, checkpoints);
      return { deviations: [], detail: `${meta.steps} steps of batch ${meta.batchSize}, framework ${meta.framework}` };
    });
    let order: CommittedOrder | undefined;
    if (meta) {
      const m = meta;
      await this.step('batches', async () => {
        order = await checkBatches(this.transcript, this.commitment, m);
        return {
          deviations: [],
          detail: `every step trained on the batch derived from s; ${order.heldOut.length} records held out, none trained`,
        };
      });
    } else this.skip('batches', 'meta.json is not usable');
    if (checkpoints > 0) await this.step('final', () => this.checkFinal(checkpoints - 1));
    else this.skip('final', 'no checkpoint to compare with');
    if (!meta || checkpoints === 0 || !consistent) {
      for (const id of ['init', 'replay', 'loss', 'protocol'] as const)
        this.skip(id, 'needs a readable meta.json and consistent checkpoints');
      return;
    }
    const client = this.client('a', meta);
    await this.step('init', () => this.checkInit(client));
    if (order) await this.step('replay', () => this.checkReplays(meta!, checkpoints));
    else this.skip('replay', 'needs a readable batches.jsonl');
    await this.step('loss', () => this.checkLoss(client, checkpoints - 1, order));
    await this.step('protocol', () => this.checkProtocolVersion(meta!));
  }

  report(): TrainerCheckReport {
    const conformant = this.deviations.length === 0;
    return {
      mediaType: TRAINER_CHECK_MEDIA_TYPE,
      conformant,
      exitStatus: conformant ? 0 : 1,
      command: [...this.o.command],
      seed: this.protocolRun.seed,
      checkpointEvery: this.o.checkpointEvery,
      holdoutFraction: this.o.holdoutFraction,
      dataset: this.dataset,
      output: this.o.output,
      steps: this.steps,
      deviations: this.deviations,
    };
  }

  /**
   * Runs one step; a finding about the trainer (an AicertError other than a usage or environment
   * error) is a deviation under the step's id for it (deviationOf). Returns whether the step found
   * nothing wrong.
   */
  private async step(id: CheckStep, body: () => Promise<StepResult>): Promise<boolean> {
    this.o.log?.(`checking ${id}`);
    let result: StepResult;
    try {
      result = await body();
    } catch (err) {
      if (!(err instanceof AicertError) || err instanceof UsageError || err instanceof EnvironmentError) throw err;
      result = { deviations: [{ id: deviationOf(id, err), detail: err.message }] };
    }
    this.deviations.push(...result.deviations);
    const ok = result.deviations.length === 0;
    this.steps.push({
      id,
      status: ok ? 'ok' : 'failed',
      detail: ok ? (result.detail ?? 'as the protocol says') : result.deviations.map((d) => d.id).join(', '),
    });
    return ok;
  }

  private skip(id: CheckStep, why: string): void {
    this.steps.push({ id, status: 'skipped', detail: why });
  }

  private client(name: string, meta: TranscriptMeta): TrainerClient {
    return new TrainerClient(this.protocolRun, this.o.runTrainer, join(this.work, name), this.transcript, meta);
  }

  /** Train mode into a fresh transcript directory, created beforehand as `aicert run` does. */
  private async train(): Promise<StepResult> {
    await mkdir(join(this.transcript, TRANSCRIPT_CHECKPOINTS), { recursive: true });
    await this.o.runTrainer(trainerEnvironment(this.protocolRun, this.transcript, { mode: 'train' }));
    return { deviations: [], detail: 'exited 0' };
  }

  /** Checkpoints numbered from 0 without gaps, strict safetensors, of auditable dtypes, all with the same tensors. */
  private async checkCheckpoints(): Promise<StepResult & { count: number }> {
    const names = (await readdir(join(this.transcript, TRANSCRIPT_CHECKPOINTS))).filter((n) =>
      n.endsWith('.safetensors'),
    );
    let count = 0;
    while (names.includes(checkpointFileName(count))) count++;
    const deviations: Deviation[] = [];
    if (count === 0)
      return { count, deviations: [{ id: 'transcript.checkpoints', detail: 'train mode wrote no checkpoint 000000' }] };
    if (names.length !== count)
      deviations.push({
        id: 'transcript.checkpoints',
        detail: `checkpoints/ holds ${names.filter((n) => n !== checkpointFileName(0)).length + 1} safetensors files, but only 0 … ${count - 1} are numbered without a gap (${names.slice(0, 4).join(', ')}…)`,
      });
    let first: string | undefined;
    for (let i = 0; i < count; i++) {
      let tensors: SafetensorsHeader['tensors'];
      try {
        tensors = readSafetensorsHeader(checkpointPath(this.transcript, i)).tensors;
      } catch (err) {
        if (!(err instanceof InputError)) throw err;
        deviations.push({ id: 'transcript.checkpoints', detail: `checkpoint ${i}: ${err.message}` });
        return { count: i, deviations };
      }
      const dtype = uncheckableDtype(tensors);
      if (dtype && !deviations.some((d) => d.id === 'checkpoint.dtype'))
        deviations.push({ id: 'checkpoint.dtype', detail: `checkpoint ${i}: ${dtype}` });
      const signature = JSON.stringify(tensors.map((t) => [t.name, t.dtype, t.shape]).sort());
      first ??= signature;
      if (signature !== first && !deviations.some((d) => d.id === 'checkpoint.tensors'))
        deviations.push({
          id: 'checkpoint.tensors',
          detail: `checkpoint ${i} does not hold the tensors of checkpoint 0 (names, dtypes, shapes)`,
        });
    }
    return { count, deviations, detail: `${count} checkpoints, numbered without gaps, auditable dtypes` };
  }

  /** The model in the output directory is exactly the last checkpoint's weights (trainer.final). */
  private async checkFinal(last: number): Promise<StepResult> {
    const measured = await measureModelTensors(this.o.output, this.pool);
    if ('unavailable' in measured) return { deviations: [{ id: 'final.missing', detail: measured.unavailable }] };
    const path = checkpointPath(this.transcript, last);
    const weights = await measureCheckpointWeights(path, (await stat(path)).size, this.pool);
    if (tensorSetDigest(measured.tensors) === weights.sha256 && measured.tensors.length === weights.tensors)
      return {
        deviations: [],
        detail: `the model is checkpoint ${last}'s ${weights.tensors} weight tensors, bytes included`,
      };
    const header = readSafetensorsHeader(path).tensors.filter((t) => !t.name.startsWith(OPTIMIZER_PREFIX));
    const names = new Set(header.map((t) => t.name));
    const extra = measured.tensors.filter((t) => !names.has(t.name)).map((t) => t.name);
    const missing = [...names].filter((n) => !measured.tensors.some((t) => t.name === n));
    const why =
      extra.length + missing.length > 0
        ? `tensors ${[...extra.map((n) => `+${n}`), ...missing.map((n) => `-${n}`)].slice(0, 4).join(', ')}`
        : 'the same tensor names, but other dtypes, shapes or bytes';
    return {
      deviations: [
        {
          id: 'final.not-last-checkpoint',
          detail: `the model in ${this.o.output} is not the weights of checkpoint ${last}: ${why}${extra.some((n) => n.startsWith(OPTIMIZER_PREFIX)) ? ' (leave the optimizer/ tensors out of the model)' : ''}`,
        },
      ],
    };
  }

  private async checkInit(client: TrainerClient): Promise<StepResult> {
    const path = await client.init();
    const d = await difference(path, checkpointPath(this.transcript, 0), 'checkpoint 0');
    return d
      ? { deviations: [{ id: `init.${d.kind}`, detail: `init: ${d.detail}` }] }
      : { deviations: [], detail: 'W0 is checkpoint 0, byte for byte' };
  }

  /** The first and the last segment, each replayed twice by separate clients (no answer is reused). */
  private async checkReplays(meta: TranscriptMeta, checkpoints: number): Promise<StepResult> {
    const segments = [...new Set([0, checkpoints - 2])].filter((i) => i >= 0);
    if (segments.length === 0) return { deviations: [], detail: 'no segment to replay (no steps)' };
    const [a, b] = [this.client('a', meta), this.client('b', meta)];
    const deviations: Deviation[] = [];
    for (const i of segments) {
      const first = await a.replay(i);
      const second = await b.replay(i);
      const again = await difference(second, first, 'the first replay');
      if (again) {
        deviations.push({ id: 'replay.nondeterministic', detail: `segment ${i} replayed twice: ${again.detail}` });
        continue;
      }
      const d = await difference(
        first,
        checkpointPath(this.transcript, i + 1),
        `checkpoint ${i + 1}`,
        checkpointPath(this.transcript, i),
      );
      if (d) deviations.push({ id: `replay.${d.kind}`, detail: `segment ${i}: ${d.detail}` });
    }
    return {
      deviations,
      detail: `segments ${segments.join(' and ')} replayed twice each: the same bytes, the recorded checkpoints`,
    };
  }

  /** Loss mode under the last checkpoint, on trained and held-out records. */
  private async checkLoss(client: TrainerClient, last: number, order: CommittedOrder | undefined): Promise<StepResult> {
    const records = order
      ? [...new Set([...(order.batches[0] ?? []).slice(0, 4), ...order.heldOut.slice(0, 4)])]
      : Array.from({ length: Math.min(8, this.dataset.records) }, (_, r) => r);
    try {
      await client.loss(last, records);
    } catch (err) {
      if (err instanceof InputError) return { deviations: [{ id: 'loss.output', detail: err.message }] };
      throw err;
    }
    return { deviations: [], detail: `${records.length} finite losses under checkpoint ${last}` };
  }

  /** A request of protocol version 2 must be refused (docs/trainer-protocol.md, "Environment"). */
  private async checkProtocolVersion(meta: TranscriptMeta): Promise<StepResult> {
    const transcripts = new RequestTranscripts(this.transcript, meta, join(this.work, 'c'));
    const dir = await transcripts.init();
    const output = join(this.work, 'c', 'protocol-2.safetensors');
    const variables = {
      ...trainerEnvironment(this.protocolRun, dir, { mode: 'init', output }),
      AICERT_TRAINER_PROTOCOL: '2',
    };
    try {
      await this.o.runTrainer(variables);
    } catch (err) {
      if (err instanceof AicertError && err.code === 'audit.trainer')
        return { deviations: [], detail: 'AICERT_TRAINER_PROTOCOL=2 is refused' };
      throw err;
    } finally {
      await transcripts.release(dir);
    }
    return {
      deviations: [{ id: 'protocol.version', detail: 'init mode answered with AICERT_TRAINER_PROTOCOL=2 and exit 0' }],
    };
  }
}

/** The deviation a step's error stands for: a mode that did not answer, or the step's own finding. */
function deviationOf(step: CheckStep, err: AicertError): DeviationId {
  const modes: Partial<Record<CheckStep, DeviationId>> = {
    train: 'train.exit',
    init: 'init.exit',
    replay: 'replay.exit',
    loss: 'loss.exit',
  };
  if (err.code === 'audit.trainer' && modes[step]) return modes[step]!;
  const findings: Partial<Record<CheckStep, DeviationId>> = {
    checkpoints: 'transcript.checkpoints',
    meta: 'transcript.meta',
    batches: 'transcript.batches',
    final: 'final.missing',
    init: 'init.differs',
    replay: 'replay.differs',
    loss: 'loss.output',
  };
  return findings[step] ?? modes[step] ?? 'protocol.version';
}

/**
 * How the checkpoint file `produced` differs from `expected`, or undefined when they are the same
 * bytes: other tensors (names, dtypes, shapes), or other values, with the distance relative to the
 * update from `start` when given (what a relative --tolerance would have to accept).
 */
async function difference(
  produced: string,
  expected: string,
  name: string,
  start?: string,
): Promise<{ kind: 'tensors' | 'differs'; detail: string } | undefined> {
  const [a, b] = await Promise.all([readFile(produced), readFile(expected)]);
  if (a.equals(b)) return undefined;
  let mine: Map<string, CheckpointTensor>;
  try {
    mine = await readTrainingState(produced);
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    return { kind: 'differs', detail: `its output is not a checkpoint the audit can read: ${err.message}` };
  }
  const theirs = await readTrainingState(expected);
  const missing = [...theirs.keys()].filter((n) => !mine.has(n));
  const extra = [...mine.keys()].filter((n) => !theirs.has(n));
  if (missing.length + extra.length > 0) {
    const hint = missing.some((n) => n.startsWith(OPTIMIZER_PREFIX))
      ? ' (init and replay must output the optimizer/ tensors too)'
      : '';
    return {
      kind: 'tensors',
      detail: `its output ${[
        missing.length > 0 && `lacks ${missing.length} of ${name}'s tensors (${missing.slice(0, 3).join(', ')})`,
        extra.length > 0 && `has ${extra.length} tensors ${name} has not (${extra.slice(0, 3).join(', ')})`,
      ]
        .filter(Boolean)
        .join(' and ')}${hint}`,
    };
  }
  for (const [n, t] of theirs) {
    const m = mine.get(n)!;
    if (m.dtype !== t.dtype || m.shape.join() !== t.shape.join())
      return {
        kind: 'tensors',
        detail: `tensor "${n}" is ${m.dtype} [${m.shape}], ${name}'s is ${t.dtype} [${t.shape}]`,
      };
  }
  const d = stateDistance(mine, theirs, `the output and ${name}`);
  if (d.weights === 0 && d.optimizer === 0)
    return {
      kind: 'differs',
      detail: `the same tensor values as ${name}, but other bytes (header, metadata or layout): an exact audit compares file digests; write checkpoints with one encoder`,
    };
  let relative = '';
  if (start) {
    const update = stateDistance(mine, await readTrainingState(start), 'the output and its start');
    const ratio = Math.max(d.weights / (update.weights || 1), d.optimizer / (update.optimizer || 1));
    relative = `; that is ${ratio.toPrecision(3)} of the replayed update (a relative --tolerance would have to be at least that)`;
  }
  return {
    kind: 'differs',
    detail: `other values than ${name}: ‖ΔW‖₂ = ${d.weights.toPrecision(3)}, ‖ΔO‖₂ = ${d.optimizer.toPrecision(3)} (optimizer state)${relative}`,
  };
}
