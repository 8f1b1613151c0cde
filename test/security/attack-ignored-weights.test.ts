import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { AicertError } from '../../src/errors.js';
import { createOmsBundle } from '../../src/cert/oms/sign.js';
import { HashPool } from '../../src/measure/hash-pool.js';
import { listMeasuredFiles, manifestOfFiles, measurePath, resolveMeasureOptions } from '../../src/measure/manifest.js';
import { measureModelArtifact } from '../../src/protocol/artifacts.js';
import { onnxModel, safetensorsOf } from '../measure/formats/builders.js';
import { runCli, scratchDir, writeTree } from '../measure/helpers.js';

/**
 * Issue 16, item 4: an ONNX model whose external-data file sits under `.github/`, a path OMS
 * manifests leave out by default. The weights were never measured: after the file was replaced,
 * `verify --model` (which re-measures the model as `run` recorded it) and `verify-signature`
 * still passed. Now every file a listed model refers to must be in the measured listing, or
 * measuring fails with `measure.reference-not-measured` (src/measure/formats/describe.ts).
 */

const REFUSED = 'measure.reference-not-measured';
const pool = new HashPool({ workers: 1 });
after(() => pool.close());

const weights = (fill: number) => Buffer.alloc(16, fill); // FLOAT[4]

/** model.onnx whose tensor "w" lives in the external file `location`. */
function onnxDir(label: string, location: string): string {
  const dir = scratchDir(label);
  writeTree(dir, {
    'model.onnx': onnxModel([{ name: 'w', dims: [4], dataType: 1, external: [['location', location]] }]),
    [location]: weights(1),
    'config.json': '{"arch":"tiny"}\n',
  });
  return dir;
}

async function refused(promise: Promise<unknown>): Promise<AicertError> {
  let caught: unknown;
  await assert.rejects(promise, (err: unknown) => {
    caught = err;
    return true;
  });
  assert.ok(caught instanceof AicertError, `expected an AicertError, got ${String(caught)}`);
  assert.equal(caught.code, REFUSED, caught.message);
  return caught;
}

describe('attack: model weights in a path the manifest leaves out', () => {
  it('ONNX external data under .github/: the model measurement (run --output, verify --model) refuses', async () => {
    const dir = onnxDir('attack-onnx', '.github/weights.bin');
    const err = await refused(measureModelArtifact(dir, 'model', 'output', pool));
    assert.match(err.message, /model\.onnx refers to \.github\/weights\.bin/);
    assert.match(err.message, /\.github is one of the git paths left out by default/);
    await refused(measureModelArtifact(dir, 'base-model', 'input', pool));
  });

  it('aicert measure and aicert sign refuse it (exit 2), naming the file', async () => {
    const dir = onnxDir('attack-onnx-cli', '.github/weights.bin');
    const measured = await runCli(['measure', dir]);
    assert.equal(measured.status, 2, measured.stderr);
    assert.match(measured.stderr, /\.github\/weights\.bin.*\[measure\.reference-not-measured\]/);
    assert.equal(measured.stdout, '');
    const key = join(scratchDir('attack-key'), 'key.pem');
    writeFileSync(
      key,
      generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }),
    );
    const signed = await runCli(['sign', dir, '--key', key, '--signature', join(dir, '..', 'model.sig')]);
    assert.equal(signed.status, 2, signed.stderr);
    assert.match(signed.stderr, /\[measure\.reference-not-measured\]/);
  });

  it('verify-signature of a signature that leaves the weights out (as a tool blind to ONNX makes it) refuses, before and after the swap', async () => {
    const dir = onnxDir('attack-onnx-sig', '.github/weights.bin');
    // What the OMS reference tool signs: the listing, with no idea what model.onnx refers to.
    const settings = resolveMeasureOptions({ pool });
    const blind = await manifestOfFiles(await listMeasuredFiles(dir, settings), settings, pool);
    assert.ok(!blind.entries.some((e) => e.name.startsWith('.github/')), 'the weights are not in the signed manifest');
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const keys = scratchDir('attack-sig');
    const signature = join(keys, 'model.sig');
    writeFileSync(signature, createOmsBundle(blind, 'model', { privateKey }));
    writeFileSync(join(keys, 'pub.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
    const verify = () => runCli(['verify-signature', dir, '--signature', signature, '--key', join(keys, 'pub.pem')]);
    for (const when of ['as signed', 'after the weights were replaced']) {
      const result = await verify();
      assert.equal(result.status, 2, `${when}: ${result.stdout}${result.stderr}`);
      assert.match(result.stderr, /\[measure\.reference-not-measured\]/, when);
      writeFileSync(join(dir, '.github', 'weights.bin'), weights(9));
    }
  });

  it('safetensors shards left out by an ignore path: refused', async () => {
    const dir = scratchDir('attack-shards');
    const shard = (name: string) => safetensorsOf([{ name, dtype: 'F32', shape: [1], data: Buffer.alloc(4) }]);
    writeTree(dir, {
      'model.safetensors.index.json': JSON.stringify({
        weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' },
      }),
      'model-00001-of-00002.safetensors': shard('a'),
      'model-00002-of-00002.safetensors': shard('b'),
    });
    await measurePath(dir, { pool }); // all measured: fine
    const err = await refused(measurePath(dir, { pool, ignore: ['model-00002-of-00002.safetensors'] }));
    assert.match(err.message, /model-00002-of-00002\.safetensors/);
  });

  it('a model file measured alone while its weights sit beside it: refused, "measure the directory"', async () => {
    const dir = onnxDir('attack-single', 'weights.bin');
    const err = await refused(measurePath(join(dir, 'model.onnx'), { pool }));
    assert.match(err.message, /measure the directory/);
    const shards = scratchDir('attack-single-index');
    writeTree(shards, {
      'model.safetensors.index.json': JSON.stringify({ weight_map: { a: 'model.safetensors' } }),
      'model.safetensors': safetensorsOf([{ name: 'a', dtype: 'F32', shape: [1], data: Buffer.alloc(4) }]),
    });
    await refused(measurePath(join(shards, 'model.safetensors.index.json'), { pool }));
  });

  it('external data inside the measured directory is measured, and replacing it is caught', async () => {
    const dir = onnxDir('onnx-measured', 'data/weights.bin');
    const before = await measureModelArtifact(dir, 'model', 'output', pool);
    assert.ok(before.entries!.some((e) => e.name === 'data/weights.bin'));
    writeFileSync(join(dir, 'data', 'weights.bin'), weights(9));
    const after = await measureModelArtifact(dir, 'model', 'output', pool);
    assert.notEqual(after.digest.sha256, before.digest.sha256);
  });
});
