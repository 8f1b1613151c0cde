/**
 * The one seed of a test process's random inputs: AICERT_TEST_SEED when set (a 32-bit integer),
 * else a fresh one (scripts/run-tests.mjs draws one per run, prints it and passes it on).
 * Every property test runs through `assertProperty`, which gives fast-check that seed; fast-check's
 * failure message names it (`{ seed: N, path: "…" }`) and this adds how to rerun the same cases:
 *   reproduce with AICERT_TEST_SEED=N node scripts/run-tests.mjs test/…/name.test
 * Tests that draw random inputs themselves use `seededBytes`, reproducible from the same seed.
 */
import { createHash, randomInt } from 'node:crypto';
import { relative } from 'node:path';
import fc from 'fast-check';

export const SEED_VARIABLE = 'AICERT_TEST_SEED';

function seedFromEnvironment(): number {
  const text = process.env[SEED_VARIABLE];
  if (text === undefined || text === '') return randomInt(2 ** 31);
  const seed = Number(text);
  if (!/^-?\d+$/.test(text.trim()) || !Number.isSafeInteger(seed) || seed < -(2 ** 31) || seed >= 2 ** 31) {
    throw new Error(`${SEED_VARIABLE}=${text}: not a 32-bit integer`);
  }
  return seed;
}

/** This process's seed. */
export const TEST_SEED = seedFromEnvironment();

/** This test file as scripts/run-tests.mjs selects it (`test/…/name.test`), or FILE outside a test file. */
function thisTestFile(): string {
  const entry = process.argv[1];
  if (entry === undefined || !entry.endsWith('.test.js')) return 'FILE';
  return relative(process.cwd(), entry)
    .replace(/^dist\//, '')
    .replace(/\.js$/, '');
}

/** The line a failure adds: how to run the same cases again. */
export function reproduceHint(seed: number = TEST_SEED): string {
  return `reproduce with ${SEED_VARIABLE}=${seed} node scripts/run-tests.mjs ${thisTestFile()}`;
}

function withHint(err: unknown): unknown {
  if (err instanceof Error) {
    const hint = reproduceHint();
    err.message = `${err.message}\n${hint}`;
  }
  return err;
}

/** fc.assert with this process's seed; a failure names the seed and how to rerun it. */
export function assertProperty<Ts>(property: fc.IAsyncProperty<Ts>, params?: fc.Parameters<Ts>): Promise<void>;
export function assertProperty<Ts>(property: fc.IProperty<Ts>, params?: fc.Parameters<Ts>): void;
export function assertProperty<Ts>(
  property: fc.IRawProperty<Ts>,
  params: fc.Parameters<Ts> = {},
): Promise<void> | void {
  let result: Promise<void> | void;
  try {
    result = fc.assert(property, { ...params, seed: TEST_SEED });
  } catch (err) {
    throw withHint(err);
  }
  return result instanceof Promise ? result.catch((err: unknown) => Promise.reject(withHint(err))) : result;
}

/**
 * `length` bytes determined by this process's seed, `label` and `index` (SHA-256 in counter mode):
 * random-looking inputs that a rerun with the same seed draws again.
 */
export function seededBytes(length: number, label: string, index = 0): Buffer {
  const blocks: Buffer[] = [];
  for (let counter = 0; blocks.length * 32 < length; counter++) {
    blocks.push(createHash('sha256').update(`${TEST_SEED}\0${label}\0${index}\0${counter}`).digest());
  }
  return Buffer.concat(blocks).subarray(0, length);
}
