import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { assertProperty } from '../util/property.js';
import { InputError } from '../../src/errors.js';
import { readSafetensorsHeader } from '../../src/measure/formats/safetensors.js';
import { encodeF32Safetensors, readCheckpointFile } from '../../src/trainer/index.js';
import { decimalOption, integerOption, parseOptions, requiredOption } from '../../examples/fashion-mnist/cli.js';
import {
  CLASS_COUNT,
  IMAGE_PIXELS,
  encodeRecord,
  parseRecord,
  readImageSet,
} from '../../examples/fashion-mnist/records.js';

const repo = fileURLToPath(new URL('../../..', import.meta.url));
const dataDir = join(repo, 'examples/fashion-mnist/data');
const script = (name: string) => join(repo, 'dist/examples/fashion-mnist', `${name}.js`);

interface Outcome {
  status: number;
  stdout: string;
  stderr: string;
}

function runExample(name: string, args: string[]): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(process.execPath, [script(name), ...args], { cwd: repo }, (err, stdout, stderr) => {
      const status = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ status, stdout, stderr });
    });
  });
}

async function train(out: string, ...extra: string[]): Promise<Outcome> {
  const outcome = await runExample('train', ['--data', dataDir, '--out', out, ...extra]);
  assert.equal(outcome.status, 0, outcome.stderr);
  return outcome;
}

/** The header of a safetensors file, parsed from first principles (not with the code under test). */
function parseHeaderByHand(file: Buffer) {
  const length = Number(file.readBigUInt64LE(0));
  const header = JSON.parse(file.subarray(8, 8 + length).toString('utf8')) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  return { length, header };
}

// 320 records in batches of 32: 10 steps per epoch, 20 steps in 2 epochs.
const SMALL_RUN = ['--limit', '320', '--epochs', '2'];

describe('the fashion-mnist trainer', () => {
  let work: string;
  const runA = () => join(work, 'a');
  const runB = () => join(work, 'b');
  const runC = () => join(work, 'c');

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'aicert-fmnist-'));
    // A and B: identical runs, trained concurrently; C: another seed.
    await Promise.all([
      train(runA(), ...SMALL_RUN, '--seed', '7'),
      train(runB(), ...SMALL_RUN, '--seed', '7'),
      train(runC(), ...SMALL_RUN, '--seed', '8'),
    ]);
  });
  after(() => rm(work, { recursive: true, force: true }));

  test('two runs with the same seed write identical bytes', async () => {
    assert.deepEqual(await readdir(runA()), ['metrics.json', 'model.safetensors']);
    for (const file of ['model.safetensors', 'metrics.json']) {
      assert.ok((await readFile(join(runA(), file))).equals(await readFile(join(runB(), file))), file);
    }
  });

  test('a different seed gives different weights', async () => {
    const a = await readCheckpointFile(join(runA(), 'model.safetensors'));
    const c = await readCheckpointFile(join(runC(), 'model.safetensors'));
    assert.deepEqual([...a.keys()], [...c.keys()]);
    for (const [name, tensor] of a) {
      const other = c.get(name)!.data;
      assert.deepEqual(tensor.shape, c.get(name)!.shape);
      const differing = tensor.data.filter((value, j) => value !== other[j]).length;
      assert.ok(differing > tensor.data.length / 2, `${name}: only ${differing} values differ`);
    }
  });

  test('model.safetensors is well-formed: aligned JSON header, F32 tensors sorted and back to back', async () => {
    const file = await readFile(join(runA(), 'model.safetensors'));
    const { length, header } = parseHeaderByHand(file);
    assert.equal(length % 8, 0, 'the data starts 8-byte aligned');
    const names = Object.keys(header);
    assert.deepEqual(names, ['dense1.bias', 'dense1.kernel', 'dense2.bias', 'dense2.kernel']);
    const shapes: Record<string, number[]> = {
      'dense1.bias': [64],
      'dense1.kernel': [IMAGE_PIXELS, 64],
      'dense2.bias': [CLASS_COUNT],
      'dense2.kernel': [64, CLASS_COUNT],
    };
    let offset = 0;
    for (const name of names) {
      const entry = header[name]!;
      assert.equal(entry.dtype, 'F32');
      assert.deepEqual(entry.shape, shapes[name]);
      const bytes = 4 * entry.shape.reduce((a, b) => a * b, 1);
      assert.deepEqual(entry.data_offsets, [offset, offset + bytes], name);
      offset += bytes;
    }
    assert.equal(file.length, 8 + length + offset, 'the tensors end exactly at the end of the file');
    // aicert's strict parser agrees, and every weight is a finite number.
    const parsed = readSafetensorsHeader(join(runA(), 'model.safetensors'));
    assert.deepEqual(
      parsed.tensors.map((t) => t.name),
      names,
    );
    for (const [name, { data }] of await readCheckpointFile(join(runA(), 'model.safetensors'))) {
      assert.ok(data.every(Number.isFinite), name);
    }
  });

  test('metrics.json records the run, and evaluate reproduces its test accuracy from the model file', async () => {
    const metrics = JSON.parse(await readFile(join(runA(), 'metrics.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(metrics.seed, 7);
    assert.equal(metrics.epochs, 2);
    assert.equal(metrics.steps, 20);
    assert.equal(metrics.trainRecords, 320);
    assert.equal(metrics.heldOutRecords, 0);
    assert.equal(metrics.batchSize, 32);
    assert.equal(metrics.testRecords, 500);
    const accuracy = metrics.testAccuracy as number;
    // Even 20 steps on 320 images beat chance (10%) by far.
    assert.ok(accuracy > 0.4 && accuracy <= 1, `test accuracy ${accuracy}`);

    const evaluated = await runExample('evaluate', [
      '--model',
      join(runA(), 'model.safetensors'),
      '--data',
      dataDir,
      '--json',
    ]);
    assert.equal(evaluated.status, 0, evaluated.stderr);
    const report = JSON.parse(evaluated.stdout) as { accuracy: number; loss: number; records: number };
    assert.deepEqual(report, { accuracy, loss: metrics.testLoss, records: 500 });
  });

  test('train refuses bad input with exit status 2 and a message naming the problem', async () => {
    const bad = join(work, 'bad-data');
    await mkdir(bad);
    const goodLine = encodeRecord(3, new Uint8Array(IMAGE_PIXELS));
    await writeFile(join(bad, 'train.jsonl'), `${goodLine}\n{"label":3,"pixels":\n`);
    await writeFile(join(bad, 'test.jsonl'), `${goodLine}\n`);
    const out = join(work, 'o');
    const cases: Array<[string[], RegExp]> = [
      [['--data', join(work, 'nowhere'), '--out', out], /data directory .*nowhere does not exist/],
      [['--data', bad, '--out', out, '--epochs', '0'], /--epochs must be a whole number from 1/],
      [
        ['--data', dataDir, '--limit', '40', '--out', join(bad, 'train.jsonl', 'x')],
        /cannot create the output directory .*: ENOTDIR/,
      ],
      [
        ['--data', dataDir, '--limit', '10', '--out', out],
        /the batch size must be from 1 to the 10 records of the training pool/,
      ],
      [['--data', dataDir, '--out', out, '--learning-rate', '0'], /--learning-rate must be a decimal number above 0/],
      [['--data', dataDir, '--out', out, '--checkpoint-every', '5'], /Unknown option '--checkpoint-every'/],
      [['--data', bad, '--out', out], /train\.jsonl line 2: the record is not a JSON object/],
    ];
    for (const [args, message] of cases) {
      const outcome = await runExample('train', args);
      assert.equal(outcome.status, 2, `${args.join(' ')}: ${outcome.stderr}`);
      assert.match(outcome.stderr, /^train: /);
      assert.match(outcome.stderr, message);
      assert.ok(!existsSync(join(out, 'model.safetensors')), 'no model is written');
    }
  });

  test('evaluate refuses a model file that is damaged or is not this model', async () => {
    const model = await readFile(join(runA(), 'model.safetensors'));
    const truncated = join(work, 'truncated.safetensors');
    await writeFile(truncated, model.subarray(0, model.length - 1));
    const foreign = join(work, 'foreign.safetensors');
    await writeFile(
      foreign,
      encodeF32Safetensors(new Map([['weight', { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) }]])),
    );
    for (const [path, message] of [
      [truncated, /runs past the end of the file \[safetensors\.tensor-past-end\]/],
      [foreign, /must hold exactly the tensors dense1\.kernel, dense1\.bias, dense2\.kernel, dense2\.bias/],
    ] as const) {
      const outcome = await runExample('evaluate', ['--model', path, '--data', dataDir]);
      assert.equal(outcome.status, 2, outcome.stderr);
      assert.match(outcome.stderr, /^evaluate: /);
      assert.match(outcome.stderr, message);
    }
  });
});

describe('the committed dataset', () => {
  test('holds 3,000 training and 500 test records, every one valid, every class present', () => {
    for (const [file, count] of [
      ['train.jsonl', 3000],
      ['test.jsonl', 500],
    ] as const) {
      const set = readImageSet(join(dataDir, file));
      assert.equal(set.count, count, file);
      assert.equal(new Set(set.labels).size, CLASS_COUNT, file);
    }
  });

  test('make-dataset rebuilds it byte for byte from the Debian package', async (t) => {
    if (!existsSync('/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz')) {
      t.skip('dataset-fashion-mnist is not installed');
      return;
    }
    const out = await mkdtemp(join(tmpdir(), 'aicert-fmnist-data-'));
    try {
      const outcome = await runExample('make-dataset', ['--out', out]);
      assert.equal(outcome.status, 0, outcome.stderr);
      for (const file of ['train.jsonl', 'test.jsonl']) {
        assert.ok((await readFile(join(out, file))).equals(await readFile(join(dataDir, file))), file);
      }
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});

describe('command-line options', () => {
  test('unknown and missing options and bad numbers are usage errors that say what is wrong', () => {
    const usage = (err: unknown) => err instanceof InputError && err.code === 'example.usage';
    const options = { data: { type: 'string' } } as const;
    assert.throws(
      () => parseOptions(options, ['--bogus']),
      (err) => usage(err) && /Unknown option '--bogus'/.test(String(err)),
    );
    assert.throws(
      () => parseOptions(options, ['stray']),
      (err) => usage(err) && /stray/.test(String(err)),
    );
    assert.deepEqual({ ...parseOptions(options, ['--data', 'd']) }, { data: 'd' });
    assert.throws(
      () => requiredOption(undefined, '--out'),
      (err) => usage(err) && /--out is required/.test(String(err)),
    );
    assert.equal(integerOption(undefined, '--epochs', 5), 5);
    assert.equal(integerOption('12', '--epochs', 5), 12);
    for (const bad of ['0', '-1', '1.5', '1e3', ' 7', '', '9007199254740993']) {
      assert.throws(
        () => integerOption(bad, '--epochs', 5),
        (err) => usage(err) && /--epochs must be a whole number from 1/.test(String(err)),
        bad,
      );
    }
    assert.equal(decimalOption(undefined, '--learning-rate', 0.2), 0.2);
    assert.equal(decimalOption('0.05', '--learning-rate', 0.2), 0.05);
    for (const bad of ['0', '0.0', '-0.1', '.5', '1e-3', 'x', '', '1001']) {
      assert.throws(
        () => decimalOption(bad, '--learning-rate', 0.2),
        (err) => usage(err) && /--learning-rate must be a decimal number above 0/.test(String(err)),
        bad,
      );
    }
  });
});

describe('records', () => {
  test('readImageSet names the file and line of a bad record', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'aicert-fmnist-records-'));
    try {
      const good = encodeRecord(3, new Uint8Array(IMAGE_PIXELS));
      const cases: Array<[string, RegExp]> = [
        [
          `${good}\n${good.replace('"label":3', '"label":10')}\n`,
          /x\.jsonl line 2: "label" must be an integer from 0 to 9, got 10/,
        ],
        [`${good.replace('"label":3', '"label":3.5')}\n`, /line 1: "label" must be an integer/],
        // "AB==" decodes to the same bytes as "AA==" but is not the canonical spelling.
        [`${good.replace('AA=="', 'AB=="')}\n`, /line 1: "pixels" must be the canonical base64 of exactly 784 bytes/],
        [`${good.replace('AA=="', '"')}\n`, /line 1: "pixels" must be the canonical base64 of exactly 784 bytes/],
        [
          `${good.replace('"label":3', '"label":3,"extra":1')}\n`,
          /line 1: a record must have exactly the keys "label" and "pixels"/,
        ],
        [
          `${good.replace('"label":3', '"label":3,"label":4')}\n`,
          /line 1: the record is not a JSON object: it repeats the key "label"/,
        ],
        [`${good}\n\n${good}\n`, /line 2: the record is not a JSON object/],
        ['', /x\.jsonl holds no records/],
      ];
      for (const [text, message] of cases) {
        await writeFile(join(dir, 'x.jsonl'), text);
        assert.throws(
          () => readImageSet(join(dir, 'x.jsonl')),
          (err: unknown) => err instanceof InputError && message.test(err.message),
        );
      }
      assert.throws(() => readImageSet(join(dir, 'absent.jsonl')), /absent\.jsonl does not exist/);
      await writeFile(join(dir, 'x.jsonl'), `${good}\n${good}`); // no LF after the last record
      assert.equal(readImageSet(join(dir, 'x.jsonl')).count, 2);
      assert.equal(readImageSet(join(dir, 'x.jsonl'), 1).count, 1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('encodeRecord and parseRecord round-trip any label and image', () => {
    assertProperty(
      fc.property(
        fc.integer({ min: 0, max: CLASS_COUNT - 1 }),
        fc.uint8Array({ minLength: IMAGE_PIXELS, maxLength: IMAGE_PIXELS }),
        (label, pixels) => {
          const record = parseRecord(Buffer.from(encodeRecord(label, pixels)), 'line');
          assert.equal(record.label, label);
          assert.deepEqual(new Uint8Array(record.pixels), pixels);
        },
      ),
      { numRuns: 200 },
    );
  });

  test('parseRecord rejects random and mutated lines with an InputError, never a crash', () => {
    const valid = fc
      .tuple(fc.integer({ min: 0, max: 9 }), fc.uint8Array({ minLength: IMAGE_PIXELS, maxLength: IMAGE_PIXELS }))
      .map(([label, pixels]) => Buffer.from(encodeRecord(label, pixels)));
    const mutated = fc
      .tuple(
        valid,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.nat(),
      )
      .map(([original, edits, cut]) => {
        const line = Buffer.from(original); // values may be reused while shrinking: edit a copy
        for (const [position, byte] of edits) line[position % line.length] = byte;
        return cut % 3 === 0 ? line.subarray(0, cut % line.length) : line;
      });
    assertProperty(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 2000 }), mutated), (line) => {
        try {
          const record = parseRecord(line, 'line');
          assert.ok(record.label >= 0 && record.label < CLASS_COUNT && record.pixels.length === IMAGE_PIXELS);
        } catch (err) {
          assert.ok(err instanceof InputError && err.code === 'example.bad-record', String(err));
        }
      }),
      { numRuns: 1000 },
    );
  });
});
