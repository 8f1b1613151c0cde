/**
 * End-to-end on a swtpm: a certified run over a directory of 8 Parquet shards records each
 * shard's record roots, the certificate verifies against a copy of the shards, and an inclusion
 * proof for one row (made by `aicert data prove` from the shard) checks against the root the
 * certificate carries, and against no other shard's root.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { loadTrustAnchors, type TrustAnchors } from '../../src/evidence/ak-trust.js';
import { certifiedRun } from '../../src/run/certified-run.js';
import { startSimulator, type Simulator } from '../../src/tpm/simulator.js';
import { verifyCertificate } from '../../src/verify/verify-certificate.js';
import { enrollWithNewCa } from '../fixtures/enrolled-ak.js';
import { runCli } from '../measure/helpers.js';

const SHARDS = 8;
const ROWS_PER_SHARD = 250;
/** The "training": the model is a digest of the shard names it was given. */
const TRAIN = `const fs=require('fs'),c=require('crypto');const [d,o]=process.argv.slice(1);fs.mkdirSync(o,{recursive:true});fs.writeFileSync(o+'/weights.bin',c.createHash('sha256').update(fs.readdirSync(d).join()).digest());`;

interface RecordCommitment {
  path: string;
  format: string;
  records: number;
  orderRoot: string;
  setRoot: string;
}

/** The dataset input's per-file record commitments, wherever the event log carries them. */
function recordCommitments(certificate: unknown): RecordCommitment[] {
  const found: RecordCommitment[] = [];
  const walk = (value: unknown) => {
    if (Array.isArray(value)) return value.forEach(walk);
    if (value === null || typeof value !== 'object') return;
    const object = value as Record<string, unknown>;
    if (object.role === 'dataset' && Array.isArray(object.records))
      found.push(...(object.records as RecordCommitment[]));
    else Object.values(object).forEach(walk);
  };
  walk(certificate);
  return found;
}

const shardName = (s: number) => `train-${String(s).padStart(5, '0')}-of-${String(SHARDS).padStart(5, '0')}.parquet`;
const rowText = (s: number, i: number) => `shard ${s} row ${i}`;

describe('a certified run over 8 Parquet shards', () => {
  let work: string;
  let sim: Simulator;
  let anchors: TrustAnchors;
  let data: string;
  let certificatePath: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'aicert-parquet-run-'));
    process.env.AICERT_HOME = join(work, 'home');
    sim = await startSimulator();
    data = join(work, 'data');
    await mkdir(data);
    for (let s = 0; s < SHARDS; s++) {
      const ids = Array.from({ length: ROWS_PER_SHARD }, (_, i) => BigInt(s * ROWS_PER_SHARD + i));
      const texts = Array.from({ length: ROWS_PER_SHARD }, (_, i) => rowText(s, i));
      const columnData = [
        { name: 'id', data: ids, type: 'INT64' as const },
        { name: 'text', data: texts, type: 'STRING' as const },
      ];
      await writeFile(join(data, shardName(s)), Buffer.from(parquetWriteBuffer({ columnData, rowGroupSize: 100 })));
    }
    const code = join(work, 'code');
    await mkdir(code);
    await writeFile(join(code, 'train.js'), TRAIN);
    await enrollWithNewCa(sim, join(work, 'ca'));
    anchors = await loadTrustAnchors(join(work, 'ca', 'ca.pem'));
    const output = join(work, 'model');
    const run = await certifiedRun({
      code,
      data: [data],
      output,
      certificatePath: `${output}.aicert.json`,
      tpm: sim.address,
      pcr: 23,
      command: [process.execPath, '-e', TRAIN, data, output],
      certifyFailure: false,
      log: () => undefined,
    });
    certificatePath = run.certificatePath!;
  });
  after(async () => {
    await sim?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('the certificate records the record roots of every shard and verifies with --data', async () => {
    const bytes = await readFile(certificatePath);
    const records = recordCommitments(JSON.parse(bytes.toString('utf8')));
    assert.deepEqual(
      records.map((r) => [r.path, r.format, r.records]),
      Array.from({ length: SHARDS }, (_, s) => [shardName(s), 'parquet', ROWS_PER_SHARD]),
    );
    const { report } = await verifyCertificate(bytes, certificatePath, {
      trust: anchors,
      allowUntrustedAk: false,
      data: [data],
      model: join(work, 'model'),
    });
    assert.equal(report.verdict, 'verified', JSON.stringify(report.checks.filter((c) => c.status === 'failed')));
    assert.equal(report.checks.find((c) => c.id === 'artifact.data')?.status, 'ok');
  });

  test("a row's inclusion proof checks against its shard's root in the certificate, and not another's", async () => {
    const records = recordCommitments(JSON.parse(await readFile(certificatePath, 'utf8')));
    const shard = 5;
    const row = `{"id":${shard * ROWS_PER_SHARD + 17},"text":"${rowText(shard, 17)}"}`;
    const proof = join(work, 'row.proof.json');
    const prove = await runCli([
      'data',
      'prove',
      '--dataset',
      join(data, shardName(shard)),
      '--record',
      row,
      '--out',
      proof,
    ]);
    assert.equal(prove.status, 0, prove.stderr);
    assert.match(prove.stderr, /inclusion proof/);
    const root = records.find((r) => r.path === shardName(shard))!.setRoot;
    const check = await runCli(['data', 'check-proof', proof, '--root', root, '--record', row]);
    assert.equal(check.status, 0, check.stdout + check.stderr);
    const otherRoot = records.find((r) => r.path === shardName(shard - 1))!.setRoot;
    const wrong = await runCli(['data', 'check-proof', proof, '--root', otherRoot, '--record', row]);
    assert.equal(wrong.status, 1, wrong.stdout + wrong.stderr);
  });

  test('a copy with one row changed in one shard fails artifact.data', async () => {
    // Named like the certified directory, so that only the changed row can fail the check.
    const copy = join(work, 'changed', 'data');
    await mkdir(copy, { recursive: true });
    for (let s = 0; s < SHARDS; s++) {
      const texts = Array.from({ length: ROWS_PER_SHARD }, (_, i) => (s === 3 && i === 9 ? 'changed' : rowText(s, i)));
      const ids = Array.from({ length: ROWS_PER_SHARD }, (_, i) => BigInt(s * ROWS_PER_SHARD + i));
      const columnData = [
        { name: 'id', data: ids, type: 'INT64' as const },
        { name: 'text', data: texts, type: 'STRING' as const },
      ];
      await writeFile(join(copy, shardName(s)), Buffer.from(parquetWriteBuffer({ columnData, rowGroupSize: 100 })));
    }
    const { report } = await verifyCertificate(await readFile(certificatePath), certificatePath, {
      trust: anchors,
      allowUntrustedAk: false,
      data: [copy],
    });
    assert.notEqual(report.verdict, 'verified');
    assert.equal(report.checks.find((c) => c.id === 'artifact.data')?.status, 'failed');
  });
});
