/**
 * Bundles aicert signs: P-256/384/521, key and certificate methods, files and shards. Each passes
 * the OMS v1.0 JSON Schemas of ossf/model-signing-spec and verifies with aicert's verifier.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdir, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AicertError } from '../../src/errors.js';
import { HashPool } from '../../src/measure/hash-pool.js';
import { measurePath } from '../../src/measure/manifest.js';
import { signDsse } from '../../src/cert/dsse.js';
import { IN_TOTO_PAYLOAD_TYPE } from '../../src/cert/intoto.js';
import { parseOmsBundle, serializeOmsBundle } from '../../src/cert/oms/bundle.js';
import { publicKeyHint } from '../../src/cert/oms/keys.js';
import { createOmsBundle, signModel, type OmsSigner } from '../../src/cert/oms/sign.js';
import { parseOmsStatement } from '../../src/cert/oms/statement.js';
import { verifyModelSignature, verifyOmsBundle, type OmsTrust } from '../../src/cert/oms/verify.js';
import { REFERENCE, removeTree } from './oms-fixtures.js';
import { omsSchemas } from './oms-schemas.js';
import { CA_USAGE, CODE_SIGNING, issue, SIGNING_USAGE, threeLevelChain, type Curve } from './pki.js';

const pool = new HashPool();
let dir: string;
let model: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aicert-oms-sign-'));
  model = join(dir, 'my-model');
  await mkdir(join(model, 'sub'), { recursive: true });
  await mkdir(join(model, '.git'));
  await writeFile(join(model, 'config.json'), '{"layers": 2}\n');
  await writeFile(join(model, 'weights.bin'), Buffer.alloc(10_000, 7));
  await writeFile(join(model, 'sub', 'empty'), '');
  await writeFile(join(model, '.git', 'HEAD'), 'ref: refs/heads/main\n');
  await writeFile(join(model, 'README.md'), 'notes\n');
});

after(async () => {
  await pool.close();
  await removeTree(dir);
});

const CURVES: Curve[] = ['P-256', 'P-384', 'P-521'];

async function signersFor(curve: Curve): Promise<Array<{ name: string; signer: OmsSigner; trust: OmsTrust }>> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
  const { root, intermediate, leaf } = await threeLevelChain(curve);
  return [
    { name: `${curve} key`, signer: { privateKey }, trust: { publicKey } },
    {
      name: `${curve} certificate`,
      signer: { privateKey: leaf.privateKey, certificateChain: [leaf.certificate, intermediate.certificate] },
      trust: { certificateAuthorities: [root.certificate] },
    },
  ];
}

const signaturePath = () => join(model, 'model.sig');

for (const curve of CURVES) {
  test(`${curve}: key and certificate bundles pass the OMS schemas and verify`, async () => {
    for (const { name, signer, trust } of await signersFor(curve)) {
      const { bundle, manifest } = await signModel(model, signer, { signaturePath: signaturePath(), pool });
      const json = JSON.parse(bundle.toString('utf8'));
      assert.deepEqual(omsSchemas.validateBundle(json), [], `${name}: bundle schema`);
      const payload = JSON.parse(Buffer.from(json.dsseEnvelope.payload, 'base64').toString('utf8'));
      assert.deepEqual(omsSchemas.validateStatement(payload), [], `${name}: statement schema`);

      const check = await verifyModelSignature(model, bundle, trust, { signaturePath: signaturePath(), pool });
      assert.equal(check.method, 'certificateChain' in signer ? 'certificate' : 'key');
      assert.equal(check.signed.rootDigest, manifest.rootDigest);
      assert.equal(payload.subject[0].name, 'my-model');
      assert.deepEqual(
        payload.predicate.resources.map((r: { name: string }) => r.name),
        ['README.md', 'config.json', 'sub/empty', 'weights.bin'],
      );
      assert.deepEqual(payload.predicate.serialization, {
        method: 'files',
        hash_type: 'sha256',
        allow_symlinks: false,
        ignore_paths: ['.git', '.gitattributes', '.github', '.gitignore', 'model.sig'],
      });
    }
  });
}

test('key bundles name the key by the hint model_signing computes: SHA-256 of the PEM SubjectPublicKeyInfo', async () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { bundle } = await signModel(model, { privateKey }, { signaturePath: signaturePath(), pool });
  const pemText = publicKey.export({ type: 'spki', format: 'pem' });
  const expected = createHash('sha256').update(pemText).digest('hex');
  assert.equal(JSON.parse(bundle.toString()).verificationMaterial.publicKey.hint, expected);
  assert.equal(publicKeyHint(publicKey), expected);
  // The reference test key's hint, as recorded in its v1.1.0 bundle.
  const referencePem = await readFile(join(REFERENCE, 'keys/signing-key-pub.pem'));
  assert.equal(
    publicKeyHint(createPublicKey(referencePem)),
    'e8450dec4eb99dae995da9af1bc2cc9f76ed669ee2e744f57abba763df3e3f8e',
  );
});

test('shards and blake3 bundles pass the schemas and verify; the shard size is signed', async () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  for (const options of [
    { shardSize: 4096 },
    { algorithm: 'blake3' as const },
    { algorithm: 'blake3' as const, shardSize: 3000 },
  ]) {
    const { bundle, manifest } = await signModel(
      model,
      { privateKey },
      { signaturePath: signaturePath(), pool, ...options },
    );
    const json = JSON.parse(bundle.toString());
    assert.deepEqual(omsSchemas.validateBundle(json), []);
    const statement = parseOmsStatement(Buffer.from(json.dsseEnvelope.payload, 'base64'));
    assert.deepEqual(
      omsSchemas.validateStatement(JSON.parse(Buffer.from(json.dsseEnvelope.payload, 'base64').toString())),
      [],
    );
    assert.equal(statement.serialization.shard_size, options.shardSize);
    assert.equal(statement.serialization.hash_type, options.algorithm ?? 'sha256');
    if (options.shardSize === 4096) {
      assert.ok(statement.resources.some((r) => r.name === 'weights.bin:8192:10000'));
    }
    await verifyModelSignature(model, bundle, { publicKey }, { signaturePath: signaturePath(), pool });
    assert.equal(manifest.method, options.shardSize ? 'shards' : 'files');
  }
});

test('a signed model stops verifying when a file changes, appears or disappears, and the ignores hold', async () => {
  const work = join(dir, 'edit-me');
  await mkdir(work);
  await writeFile(join(work, 'a.bin'), 'aaaa');
  await writeFile(join(work, 'cache.tmp'), 'volatile');
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const sig = join(work, 'model.sig');
  const { bundle } = await signModel(work, { privateKey }, { signaturePath: sig, ignorePaths: ['cache.tmp'], pool });
  await writeFile(sig, bundle);
  const verify = () => verifyModelSignature(work, bundle, { publicKey }, { signaturePath: sig, pool });
  await verify();
  await writeFile(join(work, 'cache.tmp'), 'changed: ignored, its path is in the signed ignore_paths');
  await verify();
  await writeFile(join(work, 'a.bin'), 'aaab');
  await assert.rejects(
    verify(),
    (e: AicertError) => e.code === 'oms.model-mismatch' && /digest differs: "a.bin"/.test(e.message),
  );
  await writeFile(join(work, 'a.bin'), 'aaaa');
  await writeFile(join(work, 'b.bin'), 'new');
  await assert.rejects(
    verify(),
    (e: AicertError) => e.code === 'oms.model-mismatch' && /not in the signature: "b.bin"/.test(e.message),
  );
  await removeTree(join(work, 'b.bin'));
  await removeTree(join(work, 'a.bin'));
  await writeFile(join(work, 'other.bin'), 'x');
  await assert.rejects(
    verify(),
    (e: AicertError) => e.code === 'oms.model-mismatch' && /signed files missing: "a.bin"/.test(e.message),
  );
});

test('single-file models: the one resource is named "." as model_signing names it', async () => {
  const file = join(dir, 'model.gguf');
  await writeFile(file, 'GGUF....');
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-521' });
  const { bundle } = await signModel(file, { privateKey }, { signaturePath: `${file}.sig`, pool });
  const check = await verifyModelSignature(file, bundle, { publicKey }, { signaturePath: `${file}.sig`, pool });
  assert.deepEqual(
    check.signed.resources.map((r) => r.name),
    ['.'],
  );
  assert.equal(check.signed.modelName, 'model.gguf');
  await writeFile(file, 'GGUF...!');
  await assert.rejects(
    verifyModelSignature(file, bundle, { publicKey }, { pool }),
    (e: AicertError) => e.code === 'oms.model-mismatch',
  );
});

test('symbolic links are refused unless signed with allowSymlinks, which the verifier then applies', async () => {
  const work = join(dir, 'linked');
  await mkdir(work);
  await writeFile(join(work, 'real.bin'), 'data');
  await symlink('real.bin', join(work, 'alias.bin'));
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const sig = join(work, 'model.sig');
  await assert.rejects(
    signModel(work, { privateKey }, { signaturePath: sig, pool }),
    (e: AicertError) => e.code === 'measure.symlink',
  );
  const { bundle } = await signModel(work, { privateKey }, { signaturePath: sig, allowSymlinks: true, pool });
  const check = await verifyModelSignature(work, bundle, { publicKey }, { signaturePath: sig, pool });
  assert.equal(check.signed.serialization.allow_symlinks, true);
  assert.deepEqual(
    check.signed.resources.map((r) => r.name),
    ['alias.bin', 'real.bin'],
  );
});

test('signing refuses keys OMS does not allow and certificates that do not fit the key', async () => {
  const options = { signaturePath: signaturePath(), pool };
  const refuse = async (signer: OmsSigner, code: string) =>
    assert.rejects(signModel(model, signer, options), (e: AicertError) => e.code === code && e.exitStatus === 2, code);
  await refuse({ privateKey: generateKeyPairSync('ed25519').privateKey }, 'oms.unsupported-key');
  await refuse(
    { privateKey: generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey },
    'oms.unsupported-key',
  );
  await refuse({ privateKey: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey }, 'oms.unsupported-key');
  await refuse(
    { privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey as KeyObject },
    'oms.signing-key',
  );
  const { leaf, intermediate } = await threeLevelChain();
  const otherKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  await refuse({ privateKey: otherKey, certificateChain: [leaf.certificate] }, 'oms.signing-certificate');
  const root = await issue({ name: 'root', ca: true, keyUsage: CA_USAGE });
  const serverLeaf = await issue({ name: 'tls only', keyUsage: 0x04, extendedKeyUsage: ['1.3.6.1.5.5.7.3.1'] }, root);
  await refuse(
    { privateKey: serverLeaf.privateKey, certificateChain: [serverLeaf.certificate] },
    'oms.signing-certificate',
  );
  const manifest = await measurePath(model, { algorithm: 'sha512', pool });
  assert.throws(
    () =>
      createOmsBundle(manifest, 'm', {
        privateKey: leaf.privateKey,
        certificateChain: [leaf.certificate, intermediate.certificate],
      }),
    (e: AicertError) => e.code === 'oms.unsupported-hash',
  );
});

test('certificate bundles: the chain is validated at the leaf notBefore (as model_signing does), with leaf usage checked', async () => {
  const DAY = 86_400_000;
  const past = (days: number) => new Date(Date.now() - days * DAY);
  const root = await issue({ name: 'root', ca: true, keyUsage: CA_USAGE, notBefore: past(100), notAfter: past(10) });
  const leaf = await issue(
    {
      name: 'expired signer',
      keyUsage: SIGNING_USAGE,
      extendedKeyUsage: [CODE_SIGNING],
      notBefore: past(50),
      notAfter: past(20),
    },
    root,
  );
  const signer = { privateKey: leaf.privateKey, certificateChain: [leaf.certificate] };
  const manifest = await measurePath(model, { pool, ignore: ['model.sig'] });
  const bundle = createOmsBundle(manifest, 'my-model', signer);
  // Expired today, but valid when the leaf was issued: accepted, as by the reference verifier.
  assert.equal(verifyOmsBundle(bundle, { certificateAuthorities: [root.certificate] }).method, 'certificate');
  // A leaf issued before its CA existed is refused.
  const lateRoot = await issue({ name: 'late root', ca: true, keyUsage: CA_USAGE, notBefore: past(5) });
  const earlyLeaf = await issue({ name: 'early', keyUsage: SIGNING_USAGE, notBefore: past(30) }, lateRoot);
  const early = createOmsBundle(manifest, 'm', {
    privateKey: earlyLeaf.privateKey,
    certificateChain: [earlyLeaf.certificate],
  });
  assert.throws(
    () => verifyOmsBundle(early, { certificateAuthorities: [lateRoot.certificate] }),
    (e: AicertError) => e.code === 'x509.untrusted',
  );
  // A leaf with neither digitalSignature nor codeSigning cannot sign models. aicert's signer refuses
  // to make such a bundle, so it is assembled here from the parts.
  const tlsLeaf = await issue({ name: 'tls only', keyUsage: 0x04, extendedKeyUsage: ['1.3.6.1.5.5.7.3.1'] }, lateRoot);
  const payload = parseOmsBundle(bundle).envelope.payload;
  const handMade = serializeOmsBundle(
    { method: 'certificate', chain: [tlsLeaf.certificate.der] },
    signDsse(IN_TOTO_PAYLOAD_TYPE, payload, [{ privateKey: tlsLeaf.privateKey }]),
  );
  assert.throws(
    () => verifyOmsBundle(handMade, { certificateAuthorities: [lateRoot.certificate] }),
    (e: AicertError) => e.code === 'oms.certificate-usage',
  );
});

test('bundles are compact JSON in the v1.1.0 layout, with tlogEntries [] and an empty keyid', async () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { bundle } = await signModel(model, { privateKey }, { signaturePath: signaturePath(), pool });
  const text = bundle.toString('utf8');
  assert.ok(!text.includes('\n'));
  const json = JSON.parse(text);
  assert.deepEqual(Object.keys(json), ['mediaType', 'verificationMaterial', 'dsseEnvelope']);
  assert.equal(json.mediaType, 'application/vnd.dev.sigstore.bundle.v0.3+json');
  assert.deepEqual(json.verificationMaterial.tlogEntries, []);
  assert.equal(json.dsseEnvelope.payloadType, 'application/vnd.in-toto+json');
  assert.equal(json.dsseEnvelope.signatures[0].keyid, '');
});
