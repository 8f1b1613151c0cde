import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readLosses } from '../trainer/losses.js';
import { trainerEnvironment, type ProtocolRun, type RunTrainer } from './trainer-invocation.js';

/**
 * The audit's side of the trainer protocol: init, replay and loss requests about one committed
 * run, each answered in a file of the audit's scratch directory, with the cost counted as it is
 * incurred. Replays of the audited transcript are kept, so a segment replayed for calibration is
 * not replayed again for its verdict.
 */
export class TrainerClient {
  replayedSteps = 0;
  lossEvaluations = 0;
  private calls = 0;
  private readonly replays = new Map<number, string>();

  constructor(
    private readonly run: ProtocolRun,
    private readonly runTrainer: RunTrainer,
    private readonly work: string,
    private readonly segmentSteps: (segment: number) => number,
  ) {}

  /** W0 as init mode derives it from s. */
  async init(): Promise<string> {
    const output = this.scratch('init.safetensors');
    await this.runTrainer(trainerEnvironment(this.run, { mode: 'init', output }));
    return output;
  }

  /** Segment i replayed from checkpoint i of the audited transcript, or of `transcript` (calibration). */
  async replay(segment: number, transcript?: string): Promise<string> {
    const kept = transcript === undefined ? this.replays.get(segment) : undefined;
    if (kept) return kept;
    const output = this.scratch(`replay-${segment}.safetensors`);
    await this.runTrainer(trainerEnvironment(this.run, { mode: 'replay', segment, output, ...(transcript && { transcript }) }));
    this.replayedSteps += this.segmentSteps(segment);
    if (transcript === undefined) this.replays.set(segment, output);
    return output;
  }

  /** Per-record losses under the weights of `checkpoint`, in the order of `records`. */
  async loss(checkpoint: string, records: readonly number[]): Promise<number[]> {
    const recordsFile = this.scratch('records.json');
    await writeFile(recordsFile, JSON.stringify(records));
    const output = this.scratch('losses.json');
    await this.runTrainer(trainerEnvironment(this.run, { mode: 'loss', checkpoint, records: recordsFile, output }));
    this.lossEvaluations += records.length;
    return readLosses(output, records.length);
  }

  /** A fresh path for every answer, so a stale file from an earlier request can never be read as this one's. */
  private scratch(name: string): string {
    return join(this.work, `${String(this.calls++).padStart(5, '0')}-${name}`);
  }
}
