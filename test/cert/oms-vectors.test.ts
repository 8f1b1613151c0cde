/**
 * Interoperability with the reference tool: every model.sig that model_signing v1.0.0–v1.1.0
 * produced in test/fixtures/oms/model-transparency verifies, and stops verifying when any
 * byte of a signed file, of the signature or of the payload changes.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { appendFile, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AicertError } from '../../src/errors.js';
import { HashPool } from '../../src/measure/hash-pool.js';
import { parseCertificatesPem } from '../../src/pki/x509-path.js';
import { verifyModelSignature, verifyOmsBundle } from '../../src/cert/oms/verify.js';
import {
  caTrust,
  copyVector,
  decodeBundle,
  encodeBundle,
  keyTrust,
  REFERENCE,
  REFERENCE_VECTORS,
  removeTree,
  type ReferenceVector,
} from './oms-fixtures.js';

const notVerified = (code?: string) => (err: unknown) =>
  err instanceof AicertError && err.exitStatus === 1 && (code === undefined || err.code === code);

// One pool for the whole file: starting worker threads per verification would dominate the run time.
const pool = new HashPool();
after(() => pool.close());

async function verifyVector(v: ReferenceVector, dirPath: string, bundle?: Buffer) {
  const signaturePath = join(dirPath, 'model.sig');
  return verifyModelSignature(join(dirPath, v.model), bundle ?? (await readFile(signaturePath)), v.trust, {
    signaturePath,
    ignorePaths: v.ignorePaths,
    pool,
  });
}

/**
 * Payload bytes checked per vector: about PAYLOAD_SAMPLES evenly spaced bytes, from an offset that
 * differs per vector, plus every other byte of the two digests a forger would aim at. Each check
 * is a full verification (5–20 ms with certificate parsing on a 2-core machine), so all ~4,500
 * payload bytes of the five vectors would take most of the suite's time budget.
 */
const PAYLOAD_SAMPLES = 120;

for (const v of REFERENCE_VECTORS) {
  test(`${v.dir}: the reference tool's signature verifies`, async () => {
    const result = await verifyVector(v, join(REFERENCE, v.dir));
    assert.equal(result.method, 'publicKey' in v.trust ? 'key' : 'certificate');
    assert.equal(result.manifest.rootDigest, result.signed.rootDigest);
    assert.deepEqual(
      result.manifest.entries.map((e) => [e.name, e.digest]),
      result.signed.resources.map((r) => [r.name, r.digest]),
    );
  });

  test(`${v.dir}: any changed byte of a signed file, or an added, removed or grown file, is refused`, async () => {
    const { root, path } = await copyVector(v.dir);
    try {
      const { signed } = await verifyVector(v, path);
      const files = signed.resources.map((r) => join(path, v.model === '.' ? r.name : v.model));
      for (const file of files) {
        const original = await readFile(file);
        for (let i = 0; i < original.length; i++) {
          const changed = Buffer.from(original);
          changed[i]! ^= 0x20;
          await writeFile(file, changed);
          await assert.rejects(verifyVector(v, path), notVerified('oms.model-mismatch'), `${file} byte ${i}`);
        }
        await writeFile(file, original);
        await appendFile(file, '\n');
        await assert.rejects(verifyVector(v, path), notVerified('oms.model-mismatch'), `${file} grown`);
        await writeFile(file, original.subarray(0, original.length - 1));
        await assert.rejects(verifyVector(v, path), notVerified('oms.model-mismatch'), `${file} truncated`);
        await writeFile(file, original);
      }
      await verifyVector(v, path);
      if (v.model === '.') {
        await writeFile(join(path, 'unsigned.bin'), 'x');
        await assert.rejects(verifyVector(v, path), notVerified('oms.model-mismatch'), 'extra file');
        await rm(join(path, 'unsigned.bin'));
        await rm(files[0]!);
        await assert.rejects(verifyVector(v, path), notVerified('oms.model-mismatch'), 'missing file');
      }
    } finally {
      await removeTree(root);
    }
  });

  test(`${v.dir}: any changed byte of the DSSE signature, and a sample of payload bytes, is refused`, async () => {
    const dirPath = join(REFERENCE, v.dir);
    const { json, payload, sig } = decodeBundle(await readFile(join(dirPath, 'model.sig')));
    for (let i = 0; i < sig.length; i++) {
      const changed = Buffer.from(sig);
      changed[i]! ^= 0x01;
      assert.throws(
        () => verifyOmsBundle(encodeBundle(json, { sig: changed }), v.trust),
        notVerified('oms.signature'),
        `sig byte ${i}`,
      );
    }
    const stride = Math.ceil(payload.length / PAYLOAD_SAMPLES);
    for (let i = REFERENCE_VECTORS.indexOf(v) % stride; i < payload.length; i += stride) {
      const changed = Buffer.from(payload);
      changed[i]! ^= 0x01;
      assert.throws(
        () => verifyOmsBundle(encodeBundle(json, { payload: changed }), v.trust),
        notVerified('oms.signature'),
        `payload byte ${i}`,
      );
    }
    // The signed root digest and the first resource digest, where a forger would aim.
    const text = payload.toString('latin1');
    const digests = [
      text.indexOf(JSON.parse(text).subject[0].digest.sha256),
      text.indexOf(JSON.parse(text).predicate.resources[0].digest),
    ];
    for (const start of digests) {
      for (let i = start; i < start + 64; i += 2) {
        const changed = Buffer.from(payload);
        changed[i] = changed[i] === 0x30 ? 0x31 : 0x30;
        assert.throws(
          () => verifyOmsBundle(encodeBundle(json, { payload: changed }), v.trust),
          notVerified('oms.signature'),
          `digest byte ${i}`,
        );
      }
    }
    assert.throws(
      () => verifyOmsBundle(encodeBundle(json, { sig: sig.subarray(0, -1) }), v.trust),
      notVerified('oms.signature'),
    );
    assert.throws(
      () => verifyOmsBundle(encodeBundle(json, { payload: Buffer.concat([payload, Buffer.from(' ')]) }), v.trust),
      notVerified('oms.signature'),
    );
    // The untouched bundle still verifies, so the refusals above are due to the edits.
    await verifyVector(v, dirPath);
  });
}

test('v1.0.x bundles do not record ignore paths: without --ignore-paths the unsigned ignore-me fails verification', async () => {
  for (const v of REFERENCE_VECTORS.filter((x) => x.dir.startsWith('v1.0.1'))) {
    await assert.rejects(
      verifyVector({ ...v, ignorePaths: [] }, join(REFERENCE, v.dir)),
      (err: AicertError) =>
        notVerified('oms.model-mismatch')(err) && /not in the signature: "ignore-me"/.test(err.message),
    );
  }
  // v1.1.0 records them in the signed predicate, so nothing needs repeating.
  for (const v of REFERENCE_VECTORS.filter((x) => x.dir.startsWith('v1.1.0'))) {
    await verifyVector({ ...v, ignorePaths: [] }, join(REFERENCE, v.dir));
  }
});

test('the signature file itself is left out only when the verifier is told where it is', async () => {
  const v = REFERENCE_VECTORS[1]!;
  const dirPath = join(REFERENCE, v.dir);
  await assert.rejects(
    verifyModelSignature(dirPath, await readFile(join(dirPath, 'model.sig')), v.trust, {
      ignorePaths: v.ignorePaths,
      pool,
    }),
    (err: AicertError) => notVerified('oms.model-mismatch')(err) && /"model.sig"/.test(err.message),
  );
});

test('another key, another CA, or the wrong kind of trust is refused before the model is read', async () => {
  const otherKey = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey;
  const intermediate = parseCertificatesPem(await readFile(join(REFERENCE, 'keys/int-ca-cert.pem'), 'utf8'), 'int');
  for (const v of REFERENCE_VECTORS) {
    const bundle = await readFile(join(REFERENCE, v.dir, 'model.sig'));
    if ('publicKey' in v.trust) {
      // v1.1.0 names the key by hint; v1.0.x embeds it (rawBytes): both must name the key given.
      assert.throws(() => verifyOmsBundle(bundle, { publicKey: otherKey }), notVerified('oms.key-mismatch'), v.dir);
      assert.throws(() => verifyOmsBundle(bundle, caTrust), notVerified('oms.method-mismatch'), v.dir);
    } else {
      assert.throws(() => verifyOmsBundle(bundle, keyTrust), notVerified('oms.method-mismatch'), v.dir);
      // The leaf certificate doubles as the "intermediate-ca" name; trusting the real intermediate works too.
      assert.equal(verifyOmsBundle(bundle, { certificateAuthorities: intermediate }).method, 'certificate');
      // Trusting the leaf itself is an explicit pin and accepted.
      const leafPin = parseCertificatesPem(
        await readFile(join(REFERENCE, 'keys/signing-key-cert.pem'), 'utf8'),
        'leaf',
      );
      assert.equal(verifyOmsBundle(bundle, { certificateAuthorities: leafPin }).method, 'certificate');
    }
  }
});

test('certificate vectors: any changed byte of the signing certificate is refused', () => {
  for (const v of REFERENCE_VECTORS.filter((x) => 'certificateAuthorities' in x.trust)) {
    const bundleText = decodeBundle(readFileSync(join(REFERENCE, v.dir, 'model.sig')));
    const leaf = Buffer.from(
      bundleText.json.verificationMaterial.x509CertificateChain!.certificates[0]!.rawBytes,
      'base64',
    );
    // Every 5th byte (~160 per certificate); each check parses and validates the whole chain.
    for (let i = REFERENCE_VECTORS.indexOf(v) % 5; i < leaf.length; i += 5) {
      const changed = Buffer.from(leaf);
      changed[i]! ^= 0x01;
      const json = structuredClone(bundleText.json);
      json.verificationMaterial.x509CertificateChain!.certificates[0]!.rawBytes = changed.toString('base64');
      assert.throws(
        () => verifyOmsBundle(Buffer.from(JSON.stringify(json)), v.trust),
        (err: unknown) => err instanceof AicertError,
        `${v.dir} leaf byte ${i}`,
      );
    }
  }
});
