import { join } from 'node:path';
import { InputError } from '../../errors.js';
import type { HashPool, HashTask } from '../hash-pool.js';
import type { ModelDescription } from './model-description.js';

/**
 * Per-tensor SHA-256 digests: one HashPool task per tensor over its absolute byte range, so a
 * verifier can check a few tensors of a 100 GB model (say, the ones a fine-tune claims to have
 * left untouched) by reading only their bytes.
 */
export interface TensorDigest {
  /** File holding the tensor, relative to the description's root. */
  file: string;
  name: string;
  start: number;
  end: number;
  /** Lowercase hex SHA-256 of bytes [start, end) of the file. */
  sha256: string;
}

/**
 * Digests of the described tensors (all, or those `select` keeps) that have a byte range. The
 * files must still have the sizes seen when the model was described, else the pool reports
 * `measure.file-changed`.
 */
export async function tensorDigests(
  description: ModelDescription,
  pool: HashPool,
  select: (file: string, name: string) => boolean = () => true,
): Promise<TensorDigest[]> {
  const sizes = new Map(description.components.flatMap((c) => c.files.map((f) => [f.name, f.size] as const)));
  const located = description.components
    .flatMap((c) => c.tensors)
    .flatMap(({ name, location }) => (location && select(location.file, name) ? [{ name, ...location }] : []));
  const tasks: HashTask[] = located.map(({ file, start, end }) => ({
    path: join(description.root, ...file.split('/')),
    start,
    end,
    algorithm: 'sha256',
    ...(sizes.has(file) && { expectedSize: sizes.get(file)! }),
  }));
  const digests = await pool.hashAll(tasks);
  return located.map((tensor, i) => ({ ...tensor, sha256: digests[i]!.toString('hex') }));
}

export interface TensorCheck {
  file: string;
  name: string;
  expected: string;
  actual: string;
  ok: boolean;
}

/**
 * Rehashes only the tensors listed in `expected` and compares. A listed tensor the model does not
 * have is an InputError (the list does not fit this model), not a mismatch.
 */
export async function checkTensorDigests(
  description: ModelDescription,
  expected: ReadonlyArray<Pick<TensorDigest, 'file' | 'name' | 'sha256'>>,
  pool: HashPool,
): Promise<TensorCheck[]> {
  const key = (file: string, name: string) => JSON.stringify([file, name]);
  const wanted = new Map(expected.map((e) => [key(e.file, e.name), e.sha256.toLowerCase()]));
  const actual = await tensorDigests(description, pool, (file, name) => wanted.has(key(file, name)));
  const found = new Map(actual.map((d) => [key(d.file, d.name), d.sha256]));
  return expected.map(({ file, name }) => {
    const digest = found.get(key(file, name));
    if (digest === undefined) {
      throw new InputError('tensor-digests.unknown-tensor', `the model has no tensor "${name}" with bytes in ${file}`);
    }
    const want = wanted.get(key(file, name))!;
    return { file, name, expected: want, actual: digest, ok: digest === want };
  });
}
