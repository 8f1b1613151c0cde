import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { UsageError } from '../../src/errors.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkTranscriptIntegrity } from '../../src/audit/transcript-integrity.js';
import { HashPool } from '../../src/measure/hash-pool.js';
import { measureTranscriptArtifact } from '../../src/protocol/artifacts.js';
import { measureCheckpointWeights } from '../../src/protocol/model-tensors.js';
import type { ArtifactEvent, CheckpointEvent } from '../../src/protocol/run-events.js';
import { checkpointPath, TranscriptWriter, type Checkpoint } from '../../src/trainer/index.js';

let work: string;
let checkpoints: CheckpointEvent[];
let measured: ArtifactEvent;
const pool = new HashPool({ workers: 1 });

const state = (w: number): Checkpoint =>
  new Map([
    ['w', { dtype: 'F32', shape: [2], data: Float32Array.of(w, -w) }],
    ['optimizer/w', { dtype: 'F32', shape: [2], data: Float32Array.of(w / 2, 0) }],
  ]);

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'aicert-transcript-integrity-'));
  const writer = new TranscriptWriter(work);
  await writer.writeMeta({
    protocol: 1,
    framework: 'test',
    batchSize: 1,
    k: 1,
    steps: 1,
    records: 2,
    hyperparameters: {},
  });
  await writer.writeCheckpoint(0, state(0));
  await writer.appendBatch(0, [1]);
  await writer.writeCheckpoint(1, state(1));
  checkpoints = [];
  for (const index of [0, 1]) {
    const bytes = await readFile(checkpointPath(work, index));
    const weights = await measureCheckpointWeights(checkpointPath(work, index), bytes.length, pool);
    checkpoints.push({
      type: 'checkpoint',
      index,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      bytes: bytes.length,
      weights,
    });
  }
  measured = await measureTranscriptArtifact(work, pool);
});
after(async () => {
  await pool.close();
  await rm(work, { recursive: true, force: true });
});

test('a transcript whose files and last weights are the recorded ones passes', async () => {
  await checkTranscriptIntegrity(work, checkpoints, measured, pool);
});

test("a last-checkpoint weights digest that is not the file's fails: the model was held against other weights", async () => {
  const forged = checkpoints.map((c, i) => (i === 1 ? { ...c, weights: { tensors: 1, sha256: 'ab'.repeat(32) } } : c));
  await assert.rejects(checkTranscriptIntegrity(work, forged, measured, pool), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'audit.transcript');
    assert.match(
      e.message,
      /the weights of checkpoint 1 \(1 tensors, digest [0-9a-f]{16}…\) are not the ones the run recorded/,
    );
    return true;
  });
  // Only the last checkpoint's digest matters for trainer.final.
  const earlier = checkpoints.map((c, i) => (i === 0 ? { ...c, weights: { tensors: 1, sha256: 'ab'.repeat(32) } } : c));
  await checkTranscriptIntegrity(work, earlier, measured, pool);
});

test('a measured transcript whose checkpoint holds an I64 tensor cannot be audited: a usage error, exit 2', async () => {
  // As an aicert before run.checkpoint-dtype could have certified it.
  const dir = await mkdtemp(join(tmpdir(), 'aicert-transcript-i64-'));
  try {
    const header = Buffer.from(
      JSON.stringify({ 'optimizer/step': { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }),
    );
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(header.length));
    const bytes = Buffer.concat([length, header, Buffer.alloc(8)]);
    await mkdir(join(dir, 'checkpoints'));
    await writeFile(checkpointPath(dir, 0), bytes);
    const event: CheckpointEvent = {
      type: 'checkpoint',
      index: 0,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      bytes: bytes.length,
    };
    await assert.rejects(
      checkTranscriptIntegrity(dir, [event], await measureTranscriptArtifact(dir, pool), pool),
      (e: unknown) =>
        e instanceof UsageError &&
        e.code === 'usage.checkpoint-dtype' &&
        /checkpoint 0 cannot be audited: tensor "optimizer\/step" is I64/.test(e.message),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
