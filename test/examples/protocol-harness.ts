/**
 * A protocol trainer (docs/trainer-protocol.md) exercised as `aicert audit` runs it: one honest
 * train run on a 300-record slice of the example data, then the other modes as separate processes
 * against its transcript. Shared by the TF.js and the PyTorch example's tests.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readImageSet } from '../../examples/fashion-mnist/records.js';
import { checkpointPath, readCheckpointFile, readLosses, type Checkpoint } from '../../src/trainer/index.js';

export const repo = fileURLToPath(new URL('../../..', import.meta.url));
export const EXAMPLE_DATA = join(repo, 'examples/fashion-mnist/data');
export const SLICE_RECORDS = 300;

export interface Outcome {
  status: number;
  stderr: string;
}

/** Runs `command` from the repository root with `env` and PATH only; its exit status and stderr. */
export function runProcess(command: readonly string[], env: Record<string, string | undefined>): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(
      command[0]!,
      command.slice(1),
      { cwd: repo, env: { PATH: process.env.PATH, ...env } },
      (err, _stdout, stderr) => {
        resolve({ status: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stderr });
      },
    );
  });
}

/** −log softmax(logits)[label] of a model's checkpoint for one image, computed by the test. */
export type ReferenceLoss = (weights: Checkpoint, pixels: Uint8Array, label: number) => number;

export class ProtocolTrainer {
  work = '';
  dataset = '';
  transcript = '';
  model = '';
  private made = 0;

  /** `command` starts the trainer; `trainOptions` are its flags (epochs, batch size, ...). */
  constructor(
    private readonly command: readonly string[],
    readonly seed: string,
    readonly k: number,
    private readonly trainOptions: readonly string[],
  ) {}

  /** Writes the slice and runs train mode; call from `before`. */
  async setUp(label: string): Promise<void> {
    this.work = await mkdtemp(join(tmpdir(), `aicert-${label}-`));
    this.dataset = join(this.work, 'slice.jsonl');
    const lines = (await readFile(join(EXAMPLE_DATA, 'train.jsonl'), 'utf8')).split('\n').slice(0, SLICE_RECORDS);
    await writeFile(this.dataset, `${lines.join('\n')}\n`);
    this.transcript = join(this.work, 'transcript');
    this.model = join(this.work, 'model');
    const outcome = await this.run('train', {}, this.trainArgs(this.model));
    assert.equal(outcome.status, 0, outcome.stderr);
  }

  tearDown(): Promise<void> {
    return rm(this.work, { recursive: true, force: true });
  }

  /** A new path in the work directory. */
  fresh(name: string): string {
    return join(this.work, `${this.made++}-${name}`);
  }

  trainArgs(output: string): string[] {
    return ['--data', EXAMPLE_DATA, '--out', output, ...this.trainOptions];
  }

  /** The environment `aicert` gives the trainer in `mode`, plus `extra`. */
  environment(mode: string, extra: Record<string, string> = {}): Record<string, string> {
    return {
      AICERT_TRAINER_PROTOCOL: '1',
      AICERT_TRAINER_MODE: mode,
      AICERT_SEED: this.seed,
      AICERT_TRANSCRIPT: this.transcript,
      AICERT_CHECKPOINT_EVERY: String(this.k),
      AICERT_HOLDOUT_FRACTION: '0.1',
      AICERT_DATASET: this.dataset,
      ...extra,
    };
  }

  run(mode: string, extra: Record<string, string> = {}, args: readonly string[] = []): Promise<Outcome> {
    return runProcess([...this.command, ...args], this.environment(mode, extra));
  }

  /** Runs an audit mode (init, replay) with the training flags a verifier repeats, and returns its output file. */
  async output(mode: string, extra: Record<string, string>): Promise<Buffer> {
    const output = this.fresh(`${mode}.out`);
    const outcome = await this.run(mode, { ...extra, AICERT_OUTPUT: output }, this.trainArgs(this.fresh('unused')));
    assert.equal(outcome.status, 0, outcome.stderr);
    return readFile(output);
  }

  checkpointBytes(i: number): Promise<Buffer> {
    return readFile(checkpointPath(this.transcript, i));
  }

  /** Loss mode under checkpoint `i` for `records`, each checked against `reference`; the losses. */
  async assertLosses(i: number, records: number[], reference: ReferenceLoss): Promise<number[]> {
    const file = this.fresh('records.json');
    await writeFile(file, JSON.stringify(records));
    const checkpoint = checkpointPath(this.transcript, i);
    const output = this.fresh('losses.json');
    const outcome = await this.run('loss', {
      AICERT_CHECKPOINT: checkpoint,
      AICERT_RECORDS: file,
      AICERT_OUTPUT: output,
    });
    assert.equal(outcome.status, 0, outcome.stderr);
    const losses = await readLosses(output, records.length);
    const weights = await readCheckpointFile(checkpoint);
    const data = readImageSet(this.dataset);
    for (const [j, record] of records.entries()) {
      const expected = reference(weights, data.pixels.subarray(record * 784, (record + 1) * 784), data.labels[record]!);
      assert.ok(
        Math.abs(losses[j]! - expected) < 1e-4 * Math.max(1, expected),
        `record ${record}: ${losses[j]} vs ${expected}`,
      );
    }
    return losses;
  }

  /** Each [mode, environment, message] exits with status 2, says `message`, and writes no output. */
  async assertRefusals(cases: Array<[string, Record<string, string>, RegExp]>): Promise<void> {
    await Promise.all(
      cases.map(async ([mode, extra, message]) => {
        const output = this.fresh('refused.out');
        const outcome = await this.run(mode, { ...extra, AICERT_OUTPUT: output });
        assert.equal(outcome.status, 2, `${mode} ${JSON.stringify(extra)}: ${outcome.stderr}`);
        assert.match(outcome.stderr, message);
        assert.equal(existsSync(output), false);
      }),
    );
  }

  /** A records file holding `records`, for refusal cases. */
  async recordsFile(records: number[]): Promise<string> {
    const file = this.fresh('records.json');
    await writeFile(file, JSON.stringify(records));
    return file;
  }
}
