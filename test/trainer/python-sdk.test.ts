import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { InputError } from '../../src/errors.js';
import {
  SeedStream,
  TranscriptWriter,
  batchSchedule,
  checkpointPath,
  encodeF32Safetensors,
  holdoutCount,
  readBatches,
  readCheckpointFile,
  readLosses,
  readTrainerEnvironment,
  splitHoldout,
  type Checkpoint,
} from '../../src/trainer/index.js';

/**
 * The Python SDK (python/aicert_trainer.py) against the TypeScript one: the same inputs must give
 * the same streams, held-out splits, schedules, checkpoint bytes and parse results. Everything
 * is sent to one run of Debian's interpreter, /usr/bin/python3 (the one python3-torch installs for).
 */
const PYTHON = '/usr/bin/python3';
const repo = fileURLToPath(new URL('../../..', import.meta.url));
const DRIVER = join(repo, 'test/trainer/fixtures/sdk_driver.py');
const vectors = JSON.parse(readFileSync(join(repo, 'test/trainer/fixtures/seed-vectors.json'), 'utf8'));

const hex32 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));
const label = fc.oneof(
  fc.constantFrom('aicert/order/0', 'aicert/init', 'aicert/holdout', 'aicert/order/17'),
  fc.string({ maxLength: 20 }).filter((s) => Buffer.from(s).toString() === s),
);
const tensorName = fc
  .oneof(
    fc.constantFrom('dense1.kernel', 'optimizer/step', 'é', '\uFF01', '\u{1F600}', 'a"b\\c', 'tab\tname'),
    fc.string({ minLength: 1, maxLength: 8 }),
  )
  .filter((s) => s !== '__metadata__' && s !== '__proto__' && Buffer.from(s).toString() === s);
const checkpointSpec = fc
  .uniqueArray(fc.tuple(tensorName, fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 })), {
    minLength: 1,
    maxLength: 5,
    selector: ([name]) => name,
  })
  .chain((entries) =>
    fc.tuple(
      ...entries.map(([name, shape]) =>
        fc
          .uint8Array({
            minLength: 4 * shape.reduce((a, b) => a * b, 1),
            maxLength: 4 * shape.reduce((a, b) => a * b, 1),
          })
          .map((bytes) => [name, { shape, hex: Buffer.from(bytes).toString('hex') }] as const),
      ),
    ),
  );

type Spec = ReadonlyArray<readonly [string, { shape: number[]; hex: string }]>;
function checkpointOf(spec: Spec): Checkpoint {
  return new Map(
    spec.map(([name, { shape, hex }]) => {
      const bytes = Buffer.from(hex, 'hex');
      const data = new Float32Array(bytes.length / 4);
      new Uint8Array(data.buffer).set(bytes);
      return [name, { dtype: 'F32', shape, data }];
    }),
  );
}
function specOf(checkpoint: Checkpoint): Record<string, { shape: number[]; hex: string }> {
  return Object.fromEntries(
    [...checkpoint].map(([name, t]) => [
      name,
      { shape: t.shape, hex: Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString('hex') },
    ]),
  );
}

describe('the Python SDK agrees with the TypeScript SDK', () => {
  let work: string;
  let request: any;
  let answer: any;
  const streams = fc.sample(
    fc.record({
      seed: hex32,
      label,
      bytes: fc.integer({ min: 0, max: 100 }),
      bounds: fc.array(fc.oneof(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 2 ** 53 - 1 })), {
        maxLength: 8,
      }),
      units: fc.integer({ min: 0, max: 5 }),
      permutation: fc.integer({ min: 0, max: 60 }),
    }),
    { numRuns: 40, seed: 1 },
  );
  const splits = fc.sample(
    fc.record({
      seed: hex32,
      records: fc.integer({ min: 1, max: 300 }),
      fraction: fc.integer({ min: 0, max: 999_999 }).map((m) => m / 1e6),
      batchSize: fc.integer({ min: 1, max: 40 }),
      epochs: fc.integer({ min: 1, max: 3 }),
    }),
    { numRuns: 40, seed: 2 },
  );
  const checkpoints = fc.sample(checkpointSpec, { numRuns: 40, seed: 3 });
  const rejection: Array<[number, string[]]> = [
    [3, [(2n ** 64n - 1n).toString(), (2n ** 64n - 2n).toString()]],
    [2 ** 53 - 1, [(2n ** 64n - 2048n).toString(), '7']],
    [10, ['12345678901234567890']],
  ];
  const holdoutCounts: Array<[number, number]> = [
    [100, 0.07],
    [3000, 0.1],
    [101, 0.1],
    [7, 0.000001],
    [10, 0.1234567],
    [10, 1],
    [1_000_000, 0.999999],
  ];
  const base = {
    AICERT_TRAINER_PROTOCOL: '1',
    AICERT_TRAINER_MODE: 'train',
    AICERT_SEED: 'ab'.repeat(32),
    AICERT_TRANSCRIPT: '/t',
    AICERT_CHECKPOINT_EVERY: '10',
    AICERT_HOLDOUT_FRACTION: '0.1',
    AICERT_DATASET: '/d.jsonl',
  };
  const environments: Array<Record<string, string>> = [
    {},
    base,
    { ...base, AICERT_TRAINER_MODE: 'replay', AICERT_SEGMENT: '3', AICERT_OUTPUT: 'o' },
    {
      ...base,
      AICERT_TRAINER_MODE: 'loss',
      AICERT_CHECKPOINT: 'c',
      AICERT_RECORDS: 'r',
      AICERT_OUTPUT: 'o',
      AICERT_HOLDOUT_FRACTION: '0',
    },
    { ...base, AICERT_TRAINER_MODE: 'init', AICERT_OUTPUT: 'o', AICERT_HOLDOUT_FRACTION: '0.000001' },
    { ...base, AICERT_TRAINER_PROTOCOL: '2' },
    { ...base, AICERT_TRAINER_MODE: 'Train' },
    { ...base, AICERT_TRAINER_MODE: '' },
    { ...base, AICERT_SEED: 'AB'.repeat(32) },
    { ...base, AICERT_TRANSCRIPT: 'rel' },
    { ...base, AICERT_CHECKPOINT_EVERY: '0' },
    { ...base, AICERT_CHECKPOINT_EVERY: '010' },
    { ...base, AICERT_CHECKPOINT_EVERY: '٣' },
    { ...base, AICERT_HOLDOUT_FRACTION: '1' },
    { ...base, AICERT_HOLDOUT_FRACTION: '0.1234567' },
    { ...base, AICERT_HOLDOUT_FRACTION: '.5' },
    { ...base, AICERT_TRAINER_MODE: 'replay', AICERT_OUTPUT: 'o' },
    { ...base, AICERT_TRAINER_MODE: 'replay', AICERT_OUTPUT: 'o', AICERT_SEGMENT: '-1' },
    { ...base, AICERT_TRAINER_MODE: 'init' },
  ];
  const META = {
    protocol: 1,
    framework: 'python-test',
    batchSize: 2,
    k: 1,
    steps: 2,
    records: 9,
    hyperparameters: { lr: 0.5 },
  };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'aicert-pysdk-'));
    // Files the TypeScript SDK writes, for Python to read: valid checkpoints, mutated ones, transcripts.
    const readCheckpoints: string[] = [];
    for (const [i, spec] of checkpoints.slice(0, 10).entries()) {
      const path = join(work, `ts-${i}.safetensors`);
      await writeFile(path, encodeF32Safetensors(checkpointOf(spec)));
      readCheckpoints.push(path);
    }
    const valid = encodeF32Safetensors(checkpointOf(checkpoints[0]!));
    const mutations = fc.sample(
      fc.tuple(
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 }),
        fc.nat(),
        fc.boolean(),
      ),
      { numRuns: 80, seed: 4 },
    );
    for (const [i, [edits, cut, truncate]] of mutations.entries()) {
      const bytes = Buffer.from(valid);
      for (const [position, byte] of edits) bytes[position % bytes.length] = byte;
      const path = join(work, `mutated-${i}.safetensors`);
      await writeFile(path, truncate ? bytes.subarray(0, cut % bytes.length) : bytes);
      readCheckpoints.push(path);
    }
    readCheckpoints.push(join(work, 'absent.safetensors'));
    const tsTranscript = join(work, 'ts-transcript');
    const writer = new TranscriptWriter(tsTranscript);
    for (const [step, indices] of [
      [3, 1],
      [0, 9, 2],
    ].entries())
      await writer.appendBatch(step, indices);
    const badTranscript = join(work, 'bad-transcript');
    await mkdir(badTranscript);
    await writeFile(join(badTranscript, 'batches.jsonl'), '{"step":0,"indices":[1]}\n{"step":2,"indices":[1]}\n');
    const partial = join(work, 'partial-transcript');
    await mkdir(partial);
    await writeFile(join(partial, 'batches.jsonl'), '{"step":0,"indices":[1]}');
    await writeFile(join(work, 'records.json'), '[4, 0, 4]');

    request = {
      streams,
      splits,
      rejection,
      holdoutCounts,
      checkpoints: checkpoints.map((spec) => Object.fromEntries(spec)),
      readCheckpoints,
      environments,
      readBatches: [tsTranscript, badTranscript, partial],
      recordIndices: join(work, 'records.json'),
      writeTranscript: {
        dir: join(work, 'py-transcript'),
        meta: META,
        checkpoints: checkpoints.slice(0, 3).map((spec) => Object.fromEntries(spec)),
        batches: [
          [1, 2],
          [8, 0],
        ],
        losses: { path: join(work, 'py-losses.json'), values: [0.5, 2.25] },
      },
    };
    const started = Date.now();
    const run = spawnSync(PYTHON, ['-B', DRIVER], {
      input: JSON.stringify(request),
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    assert.equal(run.status, 0, `${PYTHON} ${DRIVER}: ${run.error?.message ?? run.stderr}`);
    answer = JSON.parse(run.stdout);
    answer.ms = Date.now() - started;
  });
  after(() => rm(work, { recursive: true, force: true }));

  test('the pinned vectors of SeedStream(s, "aicert/order/0") and "aicert/init"', () => {
    const run = spawnSync(
      PYTHON,
      [
        '-B',
        '-c',
        `
import json, sys
sys.path.insert(0, ${JSON.stringify(join(repo, 'python'))})
import aicert_trainer as sdk
seed = bytes.fromhex(${JSON.stringify(vectors.seed)})
u = sdk.SeedStream(seed, "aicert/order/0")
i = sdk.SeedStream(seed, "aicert/init")
pool, held = sdk.split_holdout(seed, 20, 0.25)
print(json.dumps({"first64Bytes": sdk.SeedStream(seed, "aicert/order/0").next_bytes(64).hex(),
  "uniform10": [u.uniform(10) for _ in range(8)], "permutation12": sdk.SeedStream(seed, "aicert/order/0").permutation(12),
  "unit4": [i.unit() for _ in range(4)], "trainPool": pool, "heldOut": held, "schedule": sdk.batch_schedule(seed, pool, 4, 2)}))
`,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(run.status, 0, run.stderr);
    const py = JSON.parse(run.stdout);
    assert.deepEqual(py, {
      first64Bytes: vectors.order0.first64Bytes,
      uniform10: vectors.order0.uniform10,
      permutation12: vectors.order0.permutation12,
      unit4: vectors.init.unit4,
      trainPool: vectors.split.trainPool,
      heldOut: vectors.split.heldOut,
      schedule: vectors.split.schedule,
    });
  });

  test('streams: bytes, uniform draws, unit floats and permutations, for random seeds, labels and bounds', () => {
    for (const [i, s] of streams.entries()) {
      const seed = Buffer.from(s.seed, 'hex');
      const uniform = new SeedStream(seed, s.label);
      const unit = new SeedStream(seed, s.label);
      assert.deepEqual(
        answer.streams[i],
        {
          bytes: new SeedStream(seed, s.label).nextBytes(s.bytes).toString('hex'),
          uniform: s.bounds.map((n) => uniform.uniform(n)),
          units: Array.from({ length: s.units }, () => unit.unit()),
          permutation: new SeedStream(seed, s.label).permutation(s.permutation),
        },
        JSON.stringify(s),
      );
    }
    assert.deepEqual(answer.rejection, [Number((2n ** 64n - 2n) % 3n), 7, Number(12345678901234567890n % 10n)]);
  });

  test('held-out splits and batch schedules, including the cases both refuse', () => {
    for (const [i, s] of splits.entries()) {
      const seed = Buffer.from(s.seed, 'hex');
      let expected: unknown;
      try {
        const { trainPool, heldOut } = splitHoldout(seed, s.records, s.fraction);
        expected = { ok: { trainPool, heldOut, schedule: batchSchedule(seed, trainPool, s.batchSize, s.epochs) } };
      } catch (err) {
        assert.ok(err instanceof InputError);
        expected = 'refused';
      }
      const got = answer.splits[i].error === 'TrainerProtocolError' ? 'refused' : answer.splits[i];
      assert.deepEqual(got, expected, JSON.stringify(s));
    }
    const tsCounts = holdoutCounts.map(([n, f]) => {
      try {
        return holdoutCount(n, f);
      } catch {
        return 'refused';
      }
    });
    assert.deepEqual(
      answer.holdoutCounts.map((c: any) => (c.error === 'TrainerProtocolError' ? 'refused' : c.ok)),
      tsCounts,
    );
    assert.deepEqual(tsCounts, [7, 300, 11, 1, 'refused', 'refused', 999_999]);
  });

  test('checkpoint files: Python writes the same bytes as TypeScript for the same tensors', () => {
    for (const [i, spec] of checkpoints.entries()) {
      assert.equal(
        answer.encoded[i].ok,
        encodeF32Safetensors(checkpointOf(spec)).toString('hex'),
        JSON.stringify(spec.map(([n]) => n)),
      );
    }
  });

  test('checkpoint files: Python reads what TypeScript wrote, and meets damaged files with its own error only', async () => {
    for (const [i, path] of (request.readCheckpoints as string[]).entries()) {
      const py = answer.read[i];
      assert.ok(
        py.ok || py.error === 'TrainerProtocolError' || py.error === 'OSError',
        `${path}: Python raised ${py.error}: ${py.message}`,
      );
      let ts: Checkpoint | undefined;
      try {
        ts = await readCheckpointFile(path);
      } catch (err) {
        assert.ok(err instanceof InputError, String(err));
      }
      if (i < 10) assert.ok(py.ok && ts, `${path} is valid`);
      if (py.ok && ts) assert.deepEqual(py.ok, specOf(ts), path);
    }
  });

  test('the environment: the same parse, or both refuse', () => {
    for (const [i, env] of environments.entries()) {
      const py = answer.environments[i];
      let ts: ReturnType<typeof readTrainerEnvironment>;
      try {
        ts = readTrainerEnvironment(env);
      } catch (err) {
        assert.ok(err instanceof InputError);
        assert.equal(
          py.error,
          'TrainerProtocolError',
          `${JSON.stringify(env)}: Python accepted what TypeScript refuses (${err})`,
        );
        continue;
      }
      assert.ok('ok' in py, `${JSON.stringify(env)}: Python refused what TypeScript accepts: ${py.message}`);
      assert.deepEqual(
        py.ok,
        ts === undefined
          ? null
          : {
              protocol: 1,
              mode: ts.mode,
              seed: ts.seed.toString('hex'),
              transcript: ts.transcript,
              checkpoint_every: ts.checkpointEvery,
              holdout_fraction: ts.holdoutFraction,
              dataset: ts.dataset,
              segment: ts.segment ?? null,
              checkpoint: ts.checkpoint ?? null,
              records: ts.records ?? null,
              output: ts.output ?? null,
            },
        JSON.stringify(env),
      );
    }
  });

  test('transcripts: each SDK reads what the other wrote, byte for byte the same layout', async () => {
    assert.deepEqual(answer.readBatches[0], {
      ok: [
        [3, 1],
        [0, 9, 2],
      ],
    });
    assert.equal(answer.readBatches[1].error, 'TrainerProtocolError');
    assert.match(answer.readBatches[2].message, /incomplete/);
    assert.deepEqual(answer.recordIndices, { ok: [4, 0, 4] });

    const dir = request.writeTranscript.dir;
    assert.deepEqual(answer.transcriptMeta, META);
    assert.deepEqual(await readBatches(dir), [
      [1, 2],
      [8, 0],
    ]);
    const ts = new TranscriptWriter(join(work, 'ts-compare'));
    await ts.appendBatch(0, [1, 2]);
    await ts.appendBatch(1, [8, 0]);
    assert.equal(
      await readFile(join(dir, 'batches.jsonl'), 'utf8'),
      await readFile(join(ts.dir, 'batches.jsonl'), 'utf8'),
    );
    for (const [i, spec] of checkpoints.slice(0, 3).entries()) {
      assert.ok(
        (await readFile(checkpointPath(dir, i))).equals(encodeF32Safetensors(checkpointOf(spec))),
        `checkpoint ${i}`,
      );
    }
    assert.deepEqual(await readLosses(request.writeTranscript.losses.path, 2), [0.5, 2.25]);
  });
});
