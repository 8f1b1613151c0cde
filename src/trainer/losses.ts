import { InputError } from '../errors.js';
import { parseJsonObject } from '../util/strict-json.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { readBoundedFile } from '../util/bounded-file.js';

/**
 * The result of loss mode (docs/trainer-protocol.md): `{"losses":[…]}`, one finite number per
 * requested record, in request order, written atomically.
 */

const MAX_LOSSES_FILE_BYTES = 64 * 1024 * 1024;

export async function writeLosses(path: string, losses: number[]): Promise<void> {
  const bad = losses.findIndex((l) => !Number.isFinite(l));
  if (bad >= 0)
    throw new InputError(
      'trainer.losses',
      `the loss of requested record ${bad} is ${losses[bad]}; JSON holds finite numbers only`,
    );
  await writeFileAtomic(path, `${JSON.stringify({ losses })}\n`);
}

/** Reads a loss-mode result; `expected` is the number of records asked for. */
export async function readLosses(path: string, expected?: number): Promise<number[]> {
  const bytes = await readBoundedFile(path, MAX_LOSSES_FILE_BYTES, 'losses file', 'trainer.losses');
  const fail = (problem: string) => new InputError('trainer.losses', `${path}: ${problem}`);
  const result = parseJsonObject(bytes, (_problem, detail) => fail(detail));
  const losses = result.losses;
  if (
    Object.keys(result).join() !== 'losses' ||
    !Array.isArray(losses) ||
    !losses.every((l) => typeof l === 'number' && Number.isFinite(l))
  ) {
    throw fail('must be {"losses":[…]} with one finite number per record');
  }
  if (expected !== undefined && losses.length !== expected)
    throw fail(`holds ${losses.length} losses for ${expected} records`);
  return losses as number[];
}
