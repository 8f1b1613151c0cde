/**
 * The schema test vectors of ossf/model-signing-spec (test-vectors/v1.0): valid ones pass the JSON
 * Schemas and aicert's bundle parser; invalid ones fail both, the parser naming the reason.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AicertError } from '../../src/errors.js';
import { HashPool } from '../../src/measure/hash-pool.js';
import { parseOmsBundle } from '../../src/cert/oms/bundle.js';
import { parseOmsStatement } from '../../src/cert/oms/statement.js';
import { verifyModelSignature, verifyOmsBundle } from '../../src/cert/oms/verify.js';
import { caTrust, keyTrust, REFERENCE, SPEC } from './oms-fixtures.js';
import { omsSchemas } from './oms-schemas.js';

const vector = (path: string) => readFileSync(join(SPEC, 'test-vectors/v1.0', path));
const payloadOf = (bytes: Buffer) => Buffer.from(JSON.parse(bytes.toString()).dsseEnvelope.payload, 'base64');

const pool = new HashPool();
after(() => pool.close());

test('valid vectors pass the bundle and statement schemas and the bundle parser', () => {
  for (const [name, method] of [
    ['key', 'key'],
    ['certificate', 'certificate'],
    ['sigstore', 'sigstore'],
  ] as const) {
    const bytes = vector(`valid/${name}.bundle.json`);
    assert.deepEqual(omsSchemas.validateBundle(JSON.parse(bytes.toString())), [], name);
    assert.deepEqual(omsSchemas.validateStatement(JSON.parse(payloadOf(bytes).toString())), [], name);
    assert.equal(parseOmsBundle(bytes).material.method, method);
    assert.equal(parseOmsStatement(payloadOf(bytes)).serialization.method, 'files');
  }
});

test('the valid key and certificate vectors are signed by the reference test key and verify against its model', async () => {
  // Their resources are the two files of model-transparency's v1.1.0-elliptic-key model.
  const modelDir = join(REFERENCE, 'v1.1.0-elliptic-key');
  for (const [name, trust] of [
    ['key', keyTrust],
    ['certificate', caTrust],
  ] as const) {
    const check = await verifyModelSignature(modelDir, vector(`valid/${name}.bundle.json`), trust, {
      signaturePath: join(modelDir, 'model.sig'),
      pool,
    });
    assert.equal(check.signed.rootDigest, '92745110b1ab4368471cbe31664e10174e954b113a3df333db860317b2c6dec4');
  }
});

test('the valid sigstore vector is recognised and refused as unsupported (exit 2), not as forged', () => {
  assert.throws(
    () => verifyOmsBundle(vector('valid/sigstore.bundle.json'), keyTrust),
    (e: AicertError) => e.code === 'oms.sigstore-unsupported' && e.exitStatus === 2,
  );
});

test('invalid vectors fail the bundle schema and the bundle parser, each for its own reason', () => {
  const expected: Record<string, string> = {
    'empty.bundle.json': 'oms.bundle.not-json',
    'missing-envelope.bundle.json': 'oms.bundle.missing-envelope',
    'missing-tlog-entries.bundle.json': 'oms.bundle.sigstore-without-tlog-entries',
    'missing-verification-material.bundle.json': 'oms.bundle.missing-verification-material',
  };
  for (const [file, code] of Object.entries(expected)) {
    const bytes = vector(`invalid/${file}`);
    if (bytes.length > 0)
      assert.notDeepEqual(omsSchemas.validateBundle(JSON.parse(bytes.toString())), [], `${file}: schema`);
    assert.throws(
      () => parseOmsBundle(bytes),
      (e: AicertError) => e.code === code && e.exitStatus === 2,
      file,
    );
  }
});

test('the invalid-payload vector passes the bundle schema but not the statement schema; aicert names the predicate type', () => {
  const bytes = vector('invalid-payload/wrong-predicate.bundle.json');
  assert.deepEqual(omsSchemas.validateBundle(JSON.parse(bytes.toString())), []);
  assert.notDeepEqual(omsSchemas.validateStatement(JSON.parse(payloadOf(bytes).toString())), []);
  const bundle = parseOmsBundle(bytes);
  assert.throws(
    () => parseOmsStatement(bundle.envelope.payload),
    (e: AicertError) => e.code === 'oms.payload.predicate-type' && /example\.com\/wrong-predicate/.test(e.message),
  );
  // Its payload was edited without re-signing, so verification stops at the signature.
  assert.throws(
    () => verifyOmsBundle(bytes, keyTrust),
    (e: AicertError) => e.code === 'oms.signature' && e.exitStatus === 1,
  );
});

test('the schemas are not vacuous: they refuse edits the OMS spec forbids', () => {
  const good = JSON.parse(vector('valid/key.bundle.json').toString());
  const statement = JSON.parse(payloadOf(vector('valid/key.bundle.json')).toString());
  assert.notDeepEqual(omsSchemas.validateBundle({ ...good, extra: 1 }), []);
  assert.notDeepEqual(
    omsSchemas.validateBundle({ ...good, dsseEnvelope: { ...good.dsseEnvelope, payloadType: 'text/plain' } }),
    [],
  );
  assert.notDeepEqual(omsSchemas.validateStatement({ ...statement, subject: [] }), []);
  const shardsWithoutSize = { ...statement.predicate.serialization, method: 'shards' };
  assert.notDeepEqual(
    omsSchemas.validateStatement({
      ...statement,
      predicate: { ...statement.predicate, serialization: shardsWithoutSize },
    }),
    [],
  );
});
