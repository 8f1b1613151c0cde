import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../errors.js';
import type { HashPool } from '../measure/hash-pool.js';
import { readSafetensorsHeader } from '../measure/formats/safetensors.js';
import { uncheckableDtype } from '../protocol/checkpoint-dtypes.js';
import { measureCheckpointWeights } from '../protocol/model-tensors.js';
import { checkpointFileName } from '../protocol/transcript-layout.js';
import type { CheckpointEvent } from '../protocol/run-events.js';

const POLL_MS = 100;

/**
 * Watches a transcript's checkpoint directory while the trainer runs and reports each
 * checkpoint, in index order, as soon as its file appears (trainers rename complete files into
 * place). Reporting extends its digest into the PCR, so a checkpoint swapped later no longer
 * matches. Each report also carries the digest of the checkpoint's weights (the tensors the final
 * model must equal, `trainer.final`). `finish()` reports the checkpoints still unseen after the
 * trainer exited.
 */
export class CheckpointWatcher {
  private next = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private failure: unknown;

  constructor(
    private readonly dir: string,
    private readonly pool: HashPool,
    private readonly report: (event: CheckpointEvent) => Promise<unknown>,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      // After a failure nothing more is measured: the run is refused when the command ends.
      this.running = this.running
        .then(() => (this.failure === undefined ? this.sweep() : undefined))
        .catch((err) => {
          this.failure ??= err;
        });
    }, POLL_MS);
  }

  /** Stops polling, reports what remains, and returns how many checkpoints were reported. */
  async finish(): Promise<number> {
    clearInterval(this.timer);
    await this.running;
    if (this.failure) throw this.failure;
    await this.sweep();
    return this.next;
  }

  private async sweep(): Promise<void> {
    for (;;) {
      const path = join(this.dir, checkpointFileName(this.next));
      if (!existsSync(path)) return;
      const { size } = await stat(path);
      const sha256 = (
        await this.pool.hash({ path, start: 0, end: size, algorithm: 'sha256', expectedSize: size })
      ).toString('hex');
      const weights = await this.measureWeights(path, size);
      await this.report({ type: 'checkpoint', index: this.next, sha256, bytes: size, weights });
      this.next++;
    }
  }

  /**
   * The digest of the checkpoint's weights, which `trainer.final` compares with the output model.
   * A checkpoint that is not strict safetensors, or holds a tensor of a dtype the audit cannot
   * compare (protocol/checkpoint-dtypes.ts), could never be audited: the run is refused, before a
   * certificate is written.
   */
  private async measureWeights(path: string, size: number): Promise<CheckpointEvent['weights']> {
    try {
      const problem = uncheckableDtype(readSafetensorsHeader(path).tensors);
      if (problem)
        throw new InputError(
          'run.checkpoint-dtype',
          `checkpoint ${this.next} cannot be audited: ${problem} (docs/trainer-protocol.md, "Checkpoint dtypes"); no certificate is written`,
        );
      return await measureCheckpointWeights(path, size, this.pool);
    } catch (err) {
      if (!(err instanceof InputError) || err.code === 'measure.file-changed' || err.code === 'run.checkpoint-dtype')
        throw err;
      throw new InputError(
        'run.checkpoint-format',
        `checkpoint ${this.next} is not a checkpoint the audit can read: ${err.message} (docs/trainer-protocol.md: checkpoints are safetensors files)`,
        { cause: err },
      );
    }
  }
}
