import { join } from 'node:path';

/**
 * The transcript directory of a protocol run (docs/trainer-protocol.md, "The transcript
 * directory"), as the trainer writes it, `aicert run` watches it and `aicert audit` reads it:
 *
 *   meta.json                      run parameters (TranscriptMeta)
 *   checkpoints/000000.safetensors checkpoint i every k steps, W₀ first
 *   batches.jsonl                  one line per step: {"step": t, "indices": [...]}
 */
export const TRANSCRIPT_META = 'meta.json';
export const TRANSCRIPT_CHECKPOINTS = 'checkpoints';
export const TRANSCRIPT_BATCHES = 'batches.jsonl';

/** Checkpoint i's file name: six digits, so names sort in index order. */
export function checkpointFileName(index: number): string {
  return `${String(index).padStart(6, '0')}.safetensors`;
}

export function checkpointPath(transcript: string, index: number): string {
  return join(transcript, TRANSCRIPT_CHECKPOINTS, checkpointFileName(index));
}
