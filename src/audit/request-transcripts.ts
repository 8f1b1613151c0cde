import { constants } from 'node:fs';
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeCheckpointFile, type TrainingState } from '../trainer/checkpoint.js';
import { MAX_BATCHES_BYTES, type TranscriptMeta } from '../trainer/transcript.js';
import { readBoundedFile } from '../util/bounded-file.js';
import {
  checkpointPath,
  TRANSCRIPT_BATCHES,
  TRANSCRIPT_CHECKPOINTS,
  TRANSCRIPT_META,
} from '../protocol/transcript-layout.js';

/**
 * The transcript a trainer request is shown (docs/trainer-protocol.md, "What each mode is
 * given"): a fresh directory per request, copied from the verified transcript, holding only what
 * the protocol gives that mode, never the audited transcript itself. A replay of segment i that
 * could read checkpoint i+1 could copy it instead of training, and an init that could read
 * checkpoint 0 could copy W0:
 * - init: meta.json;
 * - replay of segment i: meta.json, checkpoint i (weights and optimizer state; or, for
 *   calibration, a given checkpoint in its place) and batches.jsonl up to the segment's last step;
 * - loss under checkpoint j: meta.json and checkpoint j.
 * Copies, not links: a link would lead back to the audited transcript (and let a request write
 * into it). Copies are reflinks where the file system can.
 */
export class RequestTranscripts {
  private made = 0;
  /** batches.jsonl, and the byte offset after each line, read once. */
  private batchLog: { bytes: Buffer; lineEnds: number[] } | undefined;

  constructor(
    private readonly transcript: string,
    private readonly meta: TranscriptMeta,
    private readonly work: string,
  ) {}

  async init(): Promise<string> {
    return this.make('init');
  }

  /** Segment i's replay: checkpoint i (or `start` in its place) and the batches of steps 0 … end of segment i. */
  async replay(segment: number, start?: TrainingState): Promise<string> {
    const dir = await this.make(`replay-${segment}`);
    await mkdir(join(dir, TRANSCRIPT_CHECKPOINTS));
    if (start) await writeCheckpointFile(checkpointPath(dir, segment), start);
    else
      await copyFile(
        checkpointPath(this.transcript, segment),
        checkpointPath(dir, segment),
        constants.COPYFILE_FICLONE,
      );
    const log = await this.batches();
    const end = Math.min((segment + 1) * this.meta.k, this.meta.steps, log.lineEnds.length);
    await writeFile(join(dir, TRANSCRIPT_BATCHES), log.bytes.subarray(0, end === 0 ? 0 : log.lineEnds[end - 1]));
    return dir;
  }

  /** Loss mode under checkpoint `index`: the directory and the checkpoint's path inside it. */
  async loss(index: number): Promise<{ transcript: string; checkpoint: string }> {
    const dir = await this.make(`loss-${index}`);
    await mkdir(join(dir, TRANSCRIPT_CHECKPOINTS));
    await copyFile(checkpointPath(this.transcript, index), checkpointPath(dir, index), constants.COPYFILE_FICLONE);
    return { transcript: dir, checkpoint: checkpointPath(dir, index) };
  }

  /** Removes a request's directory once it has answered. */
  async release(dir: string): Promise<void> {
    await rm(dir, { recursive: true, force: true });
  }

  private async make(what: string): Promise<string> {
    const dir = join(this.work, `transcript-${String(this.made++).padStart(5, '0')}-${what}`);
    await mkdir(dir, { recursive: true });
    await copyFile(join(this.transcript, TRANSCRIPT_META), join(dir, TRANSCRIPT_META), constants.COPYFILE_FICLONE);
    return dir;
  }

  private async batches(): Promise<{ bytes: Buffer; lineEnds: number[] }> {
    if (!this.batchLog) {
      // transcript.batches already read and checked this file: complete lines, one per step.
      const bytes = await readBoundedFile(
        join(this.transcript, TRANSCRIPT_BATCHES),
        MAX_BATCHES_BYTES,
        'batch log',
        'trainer.batches',
      );
      const lineEnds: number[] = [];
      for (let at = bytes.indexOf(0x0a); at !== -1; at = bytes.indexOf(0x0a, at + 1)) lineEnds.push(at + 1);
      this.batchLog = { bytes, lineEnds };
    }
    return this.batchLog;
  }
}
