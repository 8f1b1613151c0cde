import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { assertProperty } from '../util/property.js';
import { InputError } from '../../src/errors.js';
import { readTrainerEnvironment } from '../../src/protocol/trainer-environment.js';

const SEED = 'ab'.repeat(32);
const BASE = {
  AICERT_TRAINER_PROTOCOL: '1',
  AICERT_TRAINER_MODE: 'train',
  AICERT_SEED: SEED,
  AICERT_TRANSCRIPT: '/t/transcript',
  AICERT_CHECKPOINT_EVERY: '10',
  AICERT_HOLDOUT_FRACTION: '0.1',
  AICERT_DATASET: '/d/train.jsonl',
};
const refused = (env: NodeJS.ProcessEnv, pattern: RegExp) =>
  assert.throws(
    () => readTrainerEnvironment(env),
    (e) => e instanceof InputError && e.exitStatus === 2 && pattern.test(e.message),
    JSON.stringify(env),
  );

describe('readTrainerEnvironment', () => {
  test('undefined when AICERT_TRAINER_MODE is unset: the program was not started as a protocol trainer', () => {
    assert.equal(readTrainerEnvironment({ PATH: '/bin', AICERT_SEED: SEED }), undefined);
  });

  test('parses each mode with the variables it needs', () => {
    assert.deepEqual(readTrainerEnvironment(BASE), {
      protocol: 1,
      mode: 'train',
      seed: Buffer.from(SEED, 'hex'),
      transcript: '/t/transcript',
      checkpointEvery: 10,
      holdoutFraction: 0.1,
      dataset: '/d/train.jsonl',
    });
    assert.equal(
      readTrainerEnvironment({ ...BASE, AICERT_TRAINER_MODE: 'init', AICERT_OUTPUT: '/o/w0.safetensors' })?.output,
      '/o/w0.safetensors',
    );
    const replay = readTrainerEnvironment({
      ...BASE,
      AICERT_TRAINER_MODE: 'replay',
      AICERT_SEGMENT: '0',
      AICERT_OUTPUT: 'out.safetensors',
    });
    assert.equal(replay?.segment, 0);
    assert.equal(replay?.output, 'out.safetensors');
    const loss = readTrainerEnvironment({
      ...BASE,
      AICERT_TRAINER_MODE: 'loss',
      AICERT_CHECKPOINT: 'c',
      AICERT_RECORDS: 'r',
      AICERT_OUTPUT: 'o',
      AICERT_HOLDOUT_FRACTION: '0',
    });
    assert.deepEqual([loss?.checkpoint, loss?.records, loss?.output, loss?.holdoutFraction], ['c', 'r', 'o', 0]);
  });

  test('another protocol version is refused, as is a missing one', () => {
    refused({ ...BASE, AICERT_TRAINER_PROTOCOL: '2' }, /speaks trainer protocol 1 only/);
    refused({ ...BASE, AICERT_TRAINER_PROTOCOL: undefined }, /AICERT_TRAINER_PROTOCOL is not set/);
    assert.throws(
      () => readTrainerEnvironment({ ...BASE, AICERT_TRAINER_PROTOCOL: '01' }),
      (e) => e instanceof InputError && e.code === 'trainer.protocol',
    );
  });

  test('malformed or missing values are refused with the variable named', () => {
    refused({ ...BASE, AICERT_TRAINER_MODE: 'Train' }, /AICERT_TRAINER_MODE must be one of train, init, replay, loss/);
    refused({ ...BASE, AICERT_TRAINER_MODE: '' }, /AICERT_TRAINER_MODE/);
    refused({ ...BASE, AICERT_SEED: SEED.toUpperCase() }, /AICERT_SEED must be 64 lower-case hex digits/);
    refused({ ...BASE, AICERT_SEED: SEED.slice(2) }, /AICERT_SEED/);
    refused({ ...BASE, AICERT_TRANSCRIPT: 'relative/dir' }, /AICERT_TRANSCRIPT must be an absolute path/);
    refused({ ...BASE, AICERT_DATASET: undefined }, /AICERT_DATASET is not set/);
    for (const k of ['0', '-1', '1.5', '1e3', ' 7', '010'])
      refused({ ...BASE, AICERT_CHECKPOINT_EVERY: k }, /AICERT_CHECKPOINT_EVERY must be a whole number ≥ 1/);
    for (const f of ['1', '0.1234567', '.1', '1e-7', '-0.1', '0.', 'NaN'])
      refused({ ...BASE, AICERT_HOLDOUT_FRACTION: f }, /AICERT_HOLDOUT_FRACTION/);
    refused({ ...BASE, AICERT_TRAINER_MODE: 'replay', AICERT_OUTPUT: 'o' }, /AICERT_SEGMENT is not set/);
    refused(
      { ...BASE, AICERT_TRAINER_MODE: 'replay', AICERT_OUTPUT: 'o', AICERT_SEGMENT: 'x' },
      /AICERT_SEGMENT must be a whole number ≥ 0/,
    );
    refused(
      { ...BASE, AICERT_TRAINER_MODE: 'loss', AICERT_CHECKPOINT: 'c', AICERT_OUTPUT: 'o' },
      /AICERT_RECORDS is not set/,
    );
    refused({ ...BASE, AICERT_TRAINER_MODE: 'init' }, /AICERT_OUTPUT is not set/);
  });

  test('random environments give a valid parse or an InputError, never anything else', () => {
    const names = [...Object.keys(BASE), 'AICERT_SEGMENT', 'AICERT_OUTPUT', 'AICERT_CHECKPOINT', 'AICERT_RECORDS'];
    const value = fc.oneof(
      fc.string(),
      fc.constantFrom('train', 'init', 'replay', 'loss', '1', '0', '0.5', SEED, '/abs'),
    );
    assertProperty(
      fc.property(fc.dictionary(fc.constantFrom(...names), value), (overrides) => {
        try {
          const env = readTrainerEnvironment({ ...BASE, ...overrides });
          assert.ok(
            env &&
              env.seed.length === 32 &&
              env.checkpointEvery >= 1 &&
              env.holdoutFraction >= 0 &&
              env.holdoutFraction < 1,
          );
        } catch (err) {
          assert.ok(err instanceof InputError, String(err));
        }
      }),
      { numRuns: 500 },
    );
  });
});
