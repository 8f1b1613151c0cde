import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { assertProperty } from '../util/property.js';
import { InputError } from '../../src/errors.js';
import { readCheckpointFile, type Checkpoint } from '../../src/trainer/checkpoint.js';
import { readLosses, writeLosses } from '../../src/trainer/losses.js';
import { readRecordIndices } from '../../src/trainer/record-indices.js';
import { TranscriptWriter, readBatches, readTranscriptMeta } from '../../src/trainer/transcript.js';
import { checkpointPath } from '../../src/protocol/transcript-layout.js';

const weights = (v: number): Checkpoint =>
  new Map([['w', { dtype: 'F32', shape: [2], data: new Float32Array([v, -v]) }]]);
const META = {
  protocol: 1,
  framework: 'test',
  batchSize: 2,
  k: 2,
  steps: 3,
  records: 10,
  hyperparameters: { learningRate: 0.1 },
};
const isInputError = (code: string) => (e: unknown) => e instanceof InputError && e.code === code;

describe('transcripts', () => {
  let dir: string;
  let n = 0;
  const fresh = () => join(dir, `t${n++}`);
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'aicert-transcript-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('a writer lays out meta.json, checkpoints/NNNNNN.safetensors and batches.jsonl as the protocol says', async () => {
    const t = fresh();
    const writer = new TranscriptWriter(t);
    await writer.writeMeta(META);
    await writer.writeCheckpoint(0, weights(0));
    await writer.appendBatch(0, [3, 1]);
    await writer.appendBatch(1, [0, 9]);
    await writer.writeCheckpoint(1, weights(1));
    await writer.appendBatch(2, [4, 4]);
    await writer.writeCheckpoint(2, weights(2));
    assert.deepEqual((await readdir(t)).sort(), ['batches.jsonl', 'checkpoints', 'meta.json']);
    assert.deepEqual(await readdir(join(t, 'checkpoints')), [
      '000000.safetensors',
      '000001.safetensors',
      '000002.safetensors',
    ]);
    assert.equal(checkpointPath(t, 123), join(t, 'checkpoints', '000123.safetensors'));
    assert.equal(
      await readFile(join(t, 'batches.jsonl'), 'utf8'),
      '{"step":0,"indices":[3,1]}\n{"step":1,"indices":[0,9]}\n{"step":2,"indices":[4,4]}\n',
    );
    assert.deepEqual(await readBatches(t), [
      [3, 1],
      [0, 9],
      [4, 4],
    ]);
    assert.deepEqual(await readTranscriptMeta(t), META);
    assert.deepEqual((await readCheckpointFile(checkpointPath(t, 1))).get('w')!.data, new Float32Array([1, -1]));
  });

  test('checkpoints and batches must come in order and only once', async () => {
    const writer = new TranscriptWriter(fresh());
    await assert.rejects(writer.writeCheckpoint(1, weights(0)), isInputError('trainer.checkpoint-order'));
    await writer.writeCheckpoint(0, weights(0));
    await assert.rejects(writer.writeCheckpoint(0, weights(0)), isInputError('trainer.checkpoint-order'));
    await assert.rejects(writer.appendBatch(1, [0]), isInputError('trainer.batch-order'));
    await assert.rejects(writer.appendBatch(0, [-1]), isInputError('trainer.batch-indices'));
    await assert.rejects(writer.appendBatch(0, [0.5]), isInputError('trainer.batch-indices'));
    // A second writer on the same directory cannot replace a checkpoint aicert may already have hashed.
    await assert.rejects(
      new TranscriptWriter(writer.dir).writeCheckpoint(0, weights(1)),
      isInputError('trainer.checkpoint-exists'),
    );
  });

  test("meta.json must have exactly the protocol's keys with sane values, when written and when read", async () => {
    const writer = new TranscriptWriter(fresh());
    for (const bad of [
      { ...META, protocol: 2 },
      { ...META, steps: 0 },
      { ...META, k: 1.5 },
      { ...META, framework: '' },
      { ...META, extra: 1 },
      { ...META, hyperparameters: [] },
    ]) {
      await assert.rejects(writer.writeMeta(bad), isInputError('trainer.meta'), JSON.stringify(bad));
    }
    const t = fresh();
    await mkdir(t);
    for (const text of [
      '{"protocol":1',
      JSON.stringify({ ...META, records: -1 }),
      JSON.stringify(META).replace('"k":2', '"k":2,"k":3'),
    ]) {
      await writeFile(join(t, 'meta.json'), text);
      await assert.rejects(readTranscriptMeta(t), isInputError('trainer.meta'), text);
    }
    await assert.rejects(
      readTranscriptMeta(fresh()),
      (e) => isInputError('trainer.meta')(e) && /does not exist/.test(String(e)),
    );
  });

  test('readBatches refuses anything but complete, consecutive, well-formed lines', async () => {
    const t = fresh();
    await mkdir(t);
    const cases: Array<[string, RegExp]> = [
      ['{"step":0,"indices":[1]}', /incomplete/],
      ['{"step":1,"indices":[1]}\n', /step 1 where step 0 belongs/],
      ['{"step":0,"indices":[1]}\n{"step":0,"indices":[1]}\n', /line 2: step 0 where step 1 belongs/],
      ['{"step":0,"indices":[]}\n', /non-empty array/],
      ['{"step":0,"indices":[1,-2]}\n', /non-empty array/],
      ['{"step":0,"indices":[1],"lr":0.1}\n', /exactly the keys/],
      ['{"step":0,"step":0,"indices":[1]}\n', /repeats the key "step"/],
      ['{"step":0,"indices":[1]}\n\n', /line 2/],
      ['[0,[1]]\n', /not a JSON object/],
    ];
    for (const [text, message] of cases) {
      await writeFile(join(t, 'batches.jsonl'), text);
      await assert.rejects(readBatches(t), (e) => isInputError('trainer.batches')(e) && message.test(String(e)), text);
    }
    await writeFile(join(t, 'batches.jsonl'), '');
    assert.deepEqual(await readBatches(t), []);
  });

  test('readBatches turns random and mutated files into InputErrors or valid batches, never a crash', async () => {
    const t = fresh();
    await mkdir(t);
    const valid = Buffer.from('{"step":0,"indices":[3,1]}\n{"step":1,"indices":[0,9]}\n');
    const mutated = fc
      .array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 })
      .map((edits) => {
        const bytes = Buffer.from(valid);
        for (const [p, b] of edits) bytes[p % bytes.length] = b;
        return bytes;
      });
    await assertProperty(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 100 }).map((b) => Buffer.from(b)),
          mutated,
        ),
        async (bytes) => {
          await writeFile(join(t, 'batches.jsonl'), bytes);
          try {
            const batches = await readBatches(t);
            assert.ok(batches.every((b) => b.length > 0 && b.every((i) => Number.isSafeInteger(i) && i >= 0)));
          } catch (err) {
            assert.ok(isInputError('trainer.batches')(err), String(err));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test('record-index files: a JSON array of whole numbers ≥ 0, order and repeats kept', async () => {
    const path = join(dir, 'records.json');
    await writeFile(path, '[5, 0, 5, 12]');
    assert.deepEqual(await readRecordIndices(path), [5, 0, 5, 12]);
    for (const text of ['{"records":[1]}', '[1, -1]', '[1.5]', '["1"]', '[1', '\xff']) {
      await writeFile(path, text);
      await assert.rejects(readRecordIndices(path), isInputError('trainer.records-file'), text);
    }
  });

  test('loss files: {"losses":[…]} of finite numbers, written atomically and read back strictly', async () => {
    const sub = await mkdtemp(join(dir, 'losses-'));
    const path = join(sub, 'losses.json');
    await writeLosses(path, [0.25, 2.5, 0]);
    assert.equal(await readFile(path, 'utf8'), '{"losses":[0.25,2.5,0]}\n');
    assert.deepEqual(await readdir(sub), ['losses.json']);
    assert.deepEqual(await readLosses(path, 3), [0.25, 2.5, 0]);
    await assert.rejects(readLosses(path, 4), isInputError('trainer.losses'));
    await assert.rejects(writeLosses(join(sub, 'nan.json'), [1, Number.NaN]), isInputError('trainer.losses'));
    assert.deepEqual(await readdir(sub), ['losses.json'], 'a refused result leaves no file');
    for (const text of ['{"losses":[1,"2"]}', '{"losses":[1],"extra":0}', '[1]', '{"losses":1}']) {
      await writeFile(path, text);
      await assert.rejects(readLosses(path), isInputError('trainer.losses'), text);
    }
  });
});
