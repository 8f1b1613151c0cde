/**
 * End-to-end on a swtpm: a certified run over two datasets, a folder of files (a record per file)
 * and a directory holding a WebDataset tar, records the roots `aicert data root` gives for each;
 * the certificate verifies with --data; a file's proof made by `aicert data prove --file` checks
 * against the folder's root in the certificate; a copy with one file renamed fails artifact.data.
 */
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import tar from 'tar-stream';
import { loadTrustAnchors, type TrustAnchors } from '../../src/evidence/ak-trust.js';
import { certifiedRun } from '../../src/run/certified-run.js';
import { startSimulator, type Simulator } from '../../src/tpm/simulator.js';
import { verifyCertificate } from '../../src/verify/verify-certificate.js';
import { enrollWithNewCa } from '../fixtures/enrolled-ak.js';
import { runCli } from '../measure/helpers.js';

const TRAIN = `const fs=require('fs');const o=process.argv[1];fs.mkdirSync(o,{recursive:true});fs.writeFileSync(o+'/weights.bin','w');`;

interface RecordCommitment {
  path: string;
  format: string;
  records: number;
  orderRoot: string;
  setRoot: string;
}

/** The record commitments of the dataset input named `name`. */
function recordsOf(certificate: unknown, name: string): RecordCommitment[] {
  let found: RecordCommitment[] | undefined;
  const walk = (value: unknown) => {
    if (Array.isArray(value)) return value.forEach(walk);
    if (value === null || typeof value !== 'object') return;
    const object = value as Record<string, unknown>;
    if (object.role === 'dataset' && object.name === name) found = (object.records as RecordCommitment[]) ?? [];
    else Object.values(object).forEach(walk);
  };
  walk(certificate);
  assert.ok(found, `no dataset input ${name}`);
  return found;
}

async function writeWebDataset(path: string): Promise<void> {
  const pack = tar.pack();
  for (let i = 0; i < 12; i++) {
    pack.entry({ name: `s/${String(i).padStart(4, '0')}.txt` }, `caption ${i}`);
    pack.entry({ name: `s/${String(i).padStart(4, '0')}.cls` }, String(i % 3));
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(Buffer.from(chunk as Uint8Array));
  await writeFile(path, Buffer.concat(chunks));
}

describe('a certified run over a folder of files and a WebDataset tar', () => {
  let work: string;
  let sim: Simulator;
  let anchors: TrustAnchors;
  let images: string;
  let shards: string;
  let certificatePath: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'aicert-folder-run-'));
    process.env.AICERT_HOME = join(work, 'home');
    sim = await startSimulator();
    images = join(work, 'images');
    for (const label of ['cats', 'dogs']) {
      await mkdir(join(images, label), { recursive: true });
      for (let i = 0; i < 5; i++) await writeFile(join(images, label, `${i}.jpg`), `${label} picture ${i}`);
    }
    shards = join(work, 'shards');
    await mkdir(shards);
    await writeWebDataset(join(shards, 'train-0.tar'));
    const code = join(work, 'code');
    await mkdir(code);
    await writeFile(join(code, 'train.js'), TRAIN);
    await enrollWithNewCa(sim, join(work, 'ca'));
    anchors = await loadTrustAnchors(join(work, 'ca', 'ca.pem'));
    const output = join(work, 'model');
    const run = await certifiedRun({
      code,
      data: [images, shards],
      output,
      certificatePath: `${output}.aicert.json`,
      tpm: sim.address,
      pcr: 23,
      command: [process.execPath, '-e', TRAIN, output],
      certifyFailure: false,
      log: () => undefined,
    });
    certificatePath = run.certificatePath!;
  });
  after(async () => {
    await sim?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('the certificate records the roots `data root` gives, and verifies with --data', async () => {
    const certificate = JSON.parse(await readFile(certificatePath, 'utf8'));
    const root = async (dataset: string) => {
      const out = await runCli(['data', 'root', '--dataset', dataset, '--json']);
      assert.equal(out.status, 0, out.stderr);
      const { format, records, orderRoot, setRoot } = JSON.parse(out.stdout);
      return { format, records, orderRoot, setRoot };
    };
    const pick = ({ format, records, orderRoot, setRoot }: RecordCommitment) => ({
      format,
      records,
      orderRoot,
      setRoot,
    });
    const folder = recordsOf(certificate, 'images');
    assert.deepEqual(
      folder.map((r) => r.path),
      ['.'],
    );
    assert.deepEqual(pick(folder[0]!), await root(images));
    assert.equal(folder[0]!.format, 'files');
    const tars = recordsOf(certificate, 'shards');
    assert.deepEqual(
      tars.map((r) => r.path),
      ['train-0.tar'],
    );
    assert.deepEqual(pick(tars[0]!), await root(join(shards, 'train-0.tar')));
    assert.equal(tars[0]!.records, 12);
    const { report } = await verifyCertificate(await readFile(certificatePath), certificatePath, {
      trust: anchors,
      allowUntrustedAk: false,
      data: [images, shards],
    });
    assert.equal(report.verdict, 'verified', JSON.stringify(report.checks.filter((c) => c.status === 'failed')));
    assert.equal(report.checks.find((c) => c.id === 'artifact.data')?.status, 'ok');
  });

  test("a file's proof checks against the folder's root in the certificate", async () => {
    const [folder] = recordsOf(JSON.parse(await readFile(certificatePath, 'utf8')), 'images');
    const proof = join(work, 'cat.proof.json');
    const prove = await runCli(['data', 'prove', '--dataset', images, '--file', 'cats/3.jpg', '--out', proof]);
    assert.equal(prove.status, 0, prove.stderr);
    assert.match(prove.stderr, /inclusion proof/);
    const check = await runCli(['data', 'check-proof', proof, '--root', folder!.setRoot]);
    assert.equal(check.status, 0, check.stdout + check.stderr);
  });

  test('a copy with one file moved to another label fails artifact.data', async () => {
    const copy = join(work, 'moved', 'images');
    await cp(images, copy, { recursive: true });
    await rename(join(copy, 'cats', '3.jpg'), join(copy, 'dogs', '3-cat.jpg'));
    const { report } = await verifyCertificate(await readFile(certificatePath), certificatePath, {
      trust: anchors,
      allowUntrustedAk: false,
      data: [copy, shards],
    });
    assert.notEqual(report.verdict, 'verified');
    assert.equal(report.checks.find((c) => c.id === 'artifact.data')?.status, 'failed');
  });
});
