/**
 * The two example inference servers behind `aicert serve`, each serving a model really trained
 * (quick settings) by its example trainer in a certified run on swtpm: the TF.js example's
 * examples/fashion-mnist/serve.js and the PyTorch example's examples/pytorch-fashion-mnist/serve.py
 * (Debian's /usr/bin/python3 with python3-torch; skipped, saying so, when torch is missing).
 * A client with `AttestedClient` attests the connection, sends test images and gets predictions,
 * each with a verified receipt; the predictions are the trained model's (far better than chance).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTrustAnchors, type TrustAnchors } from '../../src/evidence/ak-trust.js';
import { certifiedRun } from '../../src/run/certified-run.js';
import { AttestedClient } from '../../src/serve/client.js';
import { startServe } from '../../src/serve/serve.js';
import { startSimulator, type Simulator } from '../../src/tpm/simulator.js';
import { enrollWithNewCa } from '../fixtures/enrolled-ak.js';
import { freePort } from '../util/free-port.js';

const repo = fileURLToPath(new URL('../../..', import.meta.url));
const DATA = join(repo, 'examples/fashion-mnist/data');
const PYTHON = '/usr/bin/python3';
/** Quick training: one epoch over the first 600 records gives well above chance (about 65 %). */
const QUICK = ['--epochs', '1', '--limit', '600'];
const IMAGES = 30;

const torchProbe = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
const noTorch =
  torchProbe.status === 0
    ? false
    : `${PYTHON} cannot import torch (apt-get install python3-torch): ${torchProbe.stderr}`;

describe('the example inference servers behind aicert serve, with really trained models', () => {
  let work: string;
  let sim: Simulator;
  let anchors: TrustAnchors;
  let images: { label: number; pixels: number[] }[];
  const previousHome = process.env.AICERT_HOME;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'aicert-serve-examples-'));
    process.env.AICERT_HOME = join(work, 'home');
    sim = await startSimulator();
    await enrollWithNewCa(sim, join(work, 'ca'));
    anchors = await loadTrustAnchors(join(work, 'ca', 'ca.pem'));
    const lines = (await readFile(join(DATA, 'test.jsonl'), 'utf8')).split('\n').slice(0, IMAGES);
    images = lines.map((line) => {
      const r = JSON.parse(line) as { label: number; pixels: string };
      return { label: r.label, pixels: [...Buffer.from(r.pixels, 'base64')] };
    });
  });

  after(async () => {
    await sim?.stop();
    if (previousHome === undefined) delete process.env.AICERT_HOME;
    else process.env.AICERT_HOME = previousHome;
    if (work) await rm(work, { recursive: true, force: true });
  });

  /**
   * Trains in a certified run, serves the output with `aicert serve` (the serving code measured
   * with --code), and asks for a prediction of every test image over one attested connection.
   */
  async function trainServeAndAsk(o: {
    name: string;
    code: string;
    train: (output: string) => string[];
    server: (output: string, port: number) => string[];
  }): Promise<void> {
    const output = join(work, o.name, 'model');
    const { certificatePath } = await certifiedRun({
      code: o.code,
      data: [DATA],
      output,
      certificatePath: `${output}.aicert.json`,
      tpm: sim.address,
      command: o.train(output),
      certifyFailure: false,
      log: () => undefined,
    });
    assert.ok(certificatePath, `the ${o.name} run is certified`);
    const certificateSha256 = createHash('sha256')
      .update(await readFile(certificatePath))
      .digest('hex');
    const port = await freePort();
    const command = o.server(output, port);
    const serving = await startServe({
      certificate: certificatePath,
      model: output,
      code: o.code,
      tpm: sim.address,
      host: '127.0.0.1',
      port: 0,
      upstream: `http://127.0.0.1:${port}`,
      command,
      verify: { trust: anchors, allowUntrustedAk: false },
      log: () => undefined,
    });
    const client = await AttestedClient.create({ certificate: certificatePath, trust: anchors });
    try {
      let correct = 0;
      for (const [i, image] of images.entries()) {
        const response = await client.fetch(`https://127.0.0.1:${serving.port}/predict`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ pixels: image.pixels }),
        });
        assert.equal(response.status, 200);
        // fetch returns only when the receipt verified: signed by the attested key, for this exchange.
        assert.equal(response.receipt.seq, i + 1);
        assert.equal(response.attestation.trainingCertificateSha256, certificateSha256, 'attested: this certificate');
        assert.ok(response.attestation.log.code, 'the serving code was measured into the session');
        assert.deepEqual(response.attestation.log.command.argv, command);
        const answer = (await response.json()) as { class: number; label: string; probabilities: number[] };
        assert.equal(answer.probabilities.length, 10);
        assert.ok(Math.abs(answer.probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-4, 'probabilities sum to 1');
        if (answer.class === image.label) correct++;
      }
      // Chance is 10 %: a third right means the trained model answered, not an untrained or other one.
      assert.ok(correct >= IMAGES / 3, `${correct} of ${IMAGES} test images classified right`);
    } finally {
      client.close();
      await serving.stop();
    }
  }

  test('TF.js: examples/fashion-mnist/serve.js serves the model train.js wrote, attested', async () => {
    await trainServeAndAsk({
      name: 'tfjs',
      code: join(repo, 'examples/fashion-mnist'),
      train: (output) => [
        process.execPath,
        join(repo, 'dist/examples/fashion-mnist/train.js'),
        ...['--data', DATA, '--out', output, ...QUICK],
      ],
      server: (output, port) => [process.execPath, join(repo, 'examples/fashion-mnist/serve.js'), output, String(port)],
    });
  });

  test('PyTorch: examples/pytorch-fashion-mnist/serve.py serves the model train.py wrote, attested', {
    skip: noTorch,
  }, async () => {
    // The code directory as the example's README certifies it: the script, the SDK beside it, the server.
    const code = join(work, 'pytorch-code');
    await mkdir(code);
    for (const file of ['train.py', 'serve.py'])
      await copyFile(join(repo, 'examples/pytorch-fashion-mnist', file), join(code, file));
    await copyFile(join(repo, 'python/aicert_trainer.py'), join(code, 'aicert_trainer.py'));
    await trainServeAndAsk({
      name: 'pytorch',
      code,
      train: (output) => [PYTHON, join(code, 'train.py'), ...['--data', DATA, '--out', output, ...QUICK]],
      server: (output, port) => [PYTHON, join(code, 'serve.py'), output, String(port)],
    });
  });
});
