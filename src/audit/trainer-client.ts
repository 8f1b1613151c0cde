import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readLosses } from '../trainer/losses.js';
import type { TrainingState } from '../trainer/checkpoint.js';
import type { TranscriptMeta } from '../trainer/transcript.js';
import { RequestTranscripts } from './request-transcripts.js';
import { trainerEnvironment, type ProtocolRun, type RunTrainer, type TrainerRequest } from './trainer-invocation.js';

/**
 * The audit's side of the trainer protocol: init, replay and loss requests about one committed
 * run, each answered in a file of the audit's scratch directory, with the cost counted as it is
 * incurred. Each request is shown a transcript directory of its own with only what its mode may
 * see (request-transcripts.ts), never the audited transcript. Replays of the audited transcript
 * are kept, so a segment replayed for calibration is not replayed again for its verdict.
 */
export class TrainerClient {
  replayedSteps = 0;
  lossEvaluations = 0;
  private calls = 0;
  private readonly replays = new Map<number, string>();
  private readonly transcripts: RequestTranscripts;

  constructor(
    private readonly run: ProtocolRun,
    private readonly runTrainer: RunTrainer,
    private readonly work: string,
    transcript: string,
    private readonly meta: TranscriptMeta,
  ) {
    this.transcripts = new RequestTranscripts(transcript, meta, work);
  }

  /** W0 as init mode derives it from s. */
  async init(): Promise<string> {
    const output = this.scratch('init.safetensors');
    await this.ask(await this.transcripts.init(), { mode: 'init', output });
    return output;
  }

  /** Segment i replayed from checkpoint i of the audited transcript, or from `start` (calibration). */
  async replay(segment: number, start?: TrainingState): Promise<string> {
    const kept = start === undefined ? this.replays.get(segment) : undefined;
    if (kept) return kept;
    const output = this.scratch(`replay-${segment}.safetensors`);
    await this.ask(await this.transcripts.replay(segment, start), { mode: 'replay', segment, output });
    const first = segment * this.meta.k;
    this.replayedSteps += Math.max(0, Math.min(first + this.meta.k, this.meta.steps) - first);
    if (start === undefined) this.replays.set(segment, output);
    return output;
  }

  /** Per-record losses under the weights of checkpoint `index`, in the order of `records`. */
  async loss(index: number, records: readonly number[]): Promise<number[]> {
    const recordsFile = this.scratch('records.json');
    await writeFile(recordsFile, JSON.stringify(records));
    const output = this.scratch('losses.json');
    const { transcript, checkpoint } = await this.transcripts.loss(index);
    await this.ask(transcript, { mode: 'loss', checkpoint, records: recordsFile, output });
    this.lossEvaluations += records.length;
    return readLosses(output, records.length);
  }

  private async ask(transcript: string, request: TrainerRequest): Promise<void> {
    try {
      await this.runTrainer(trainerEnvironment(this.run, transcript, request));
    } finally {
      await this.transcripts.release(transcript);
    }
  }

  /** A fresh path for every answer, so a stale file from an earlier request can never be read as this one's. */
  private scratch(name: string): string {
    return join(this.work, `${String(this.calls++).padStart(5, '0')}-${name}`);
  }
}
