import { readCheckpointFile } from '../trainer/index.js';
import { checkpointPath } from '../protocol/transcript-layout.js';
import { weightDistance } from './weight-distance.js';

/**
 * ‖W_{i+1} − W_i‖₂ over weights for every segment of the transcript, reading each checkpoint
 * once. The top-Q selection ranks segments by these (Proof-of-Learning's rule: a spoofer's
 * big jumps, e.g. glued-together runs, show up as the largest updates).
 */
export async function segmentUpdateNorms(transcript: string, checkpoints: number): Promise<number[]> {
  const norms: number[] = [];
  let previous = await readCheckpointFile(checkpointPath(transcript, 0));
  for (let i = 1; i < checkpoints; i++) {
    const next = await readCheckpointFile(checkpointPath(transcript, i));
    norms.push(weightDistance(previous, next, `checkpoints ${i - 1} and ${i}`));
    previous = next;
  }
  return norms;
}
