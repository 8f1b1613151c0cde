import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { assertProperty } from '../util/property.js';
import { parseAttest } from '../../src/tpm/attest.js';
import { TPM_ALG, TPM_GENERATED_VALUE } from '../../src/tpm/constants.js';
import { marshal } from '../../src/tpm/marshal.js';
import { parsePublic, parsePublic2b, publicKeyObject } from '../../src/tpm/public.js';
import { parseSignature, verifyTpmSignature } from '../../src/tpm/signature.js';
import { parseQuoteFile } from '../../src/evidence/quote-file.js';
import {
  akPublicFor,
  buildQuoteAttest,
  ekPublicFor,
  mutatedBytes,
  parsesOrRefuses,
  parsesOrRefusesAsync,
} from './helpers.js';

const fixtureText = (name: string) =>
  readFileSync(new URL(`../../../test/evidence/fixtures/${name}`, import.meta.url), 'utf8');
const quoteFiles = ['tpm2-quote-ecc.json', 'tpm2-quote-rsa.json'].map(
  (n) => JSON.parse(fixtureText(n)) as Record<string, string>,
);
const b64 = (s: string | undefined) => Buffer.from(s!, 'base64');
const attests = quoteFiles.map((f) => b64(f.attest));
const signatures = quoteFiles.map((f) => b64(f.signature));
const publics2b = [
  ...quoteFiles.map((f) => b64(f.akPublic)),
  readFileSync(new URL('../../../test/evidence/fixtures/swtpm-ek/ek-rsa.pub', import.meta.url)),
  readFileSync(new URL('../../../test/evidence/fixtures/swtpm-ek/ek-ecc-p384.pub', import.meta.url)),
];
const RUNS = { numRuns: 1500 };

test('TPMS_ATTEST: the swtpm quotes parse to their fields', () => {
  const a = parseAttest(attests[0]!);
  assert.equal(a.magic, TPM_GENERATED_VALUE);
  assert.equal(a.body, 'quote');
  assert.equal(a.extraData.toString('hex'), '0011223344556677');
  assert.equal(a.clockInfo.resetCount, 2);
  assert.equal(a.qualifiedSigner.length, 34);
  if (a.body !== 'quote') return;
  assert.deepEqual(a.quote.pcrSelect, [{ hashAlg: TPM_ALG.SHA256, pcrs: [0, 1, 2, 3, 4, 5, 6, 7, 23] }]);
  assert.equal(a.quote.pcrDigest.length, 32);
});

test('TPMS_ATTEST: other attestation types give the header and leave the body unread', () => {
  const certify = Buffer.from(attests[0]!);
  certify.writeUInt16BE(0x8017, 4);
  const a = parseAttest(certify);
  assert.equal(a.body, 'unsupported');
  assert.equal(a.type, 0x8017);
  assert.equal(a.clockInfo.clock, 0x1f32n);
});

test('TPMS_ATTEST: every truncation and any trailing byte is refused', () => {
  for (const bytes of attests) {
    for (let n = 0; n < bytes.length; n++)
      assert.throws(() => parseAttest(bytes.subarray(0, n)), { code: 'tpm.malformed' });
    assert.throws(() => parseAttest(Buffer.concat([bytes, Buffer.of(0)])), /trailing/);
  }
});

test('TPMS_ATTEST: oversized TPM2B fields and a non-boolean "safe" are refused', () => {
  const big = buildQuoteAttest({ extraData: Buffer.alloc(67), selection: [], pcrDigest: Buffer.alloc(32) });
  assert.throws(() => parseAttest(big), /extraData has size 67/);
  const unsafe = buildQuoteAttest({ extraData: Buffer.alloc(8), safe: 2, selection: [], pcrDigest: Buffer.alloc(32) });
  assert.throws(() => parseAttest(unsafe), /safe is 2/);
  const digest = buildQuoteAttest({ extraData: Buffer.alloc(8), selection: [], pcrDigest: Buffer.alloc(65) });
  assert.throws(() => parseAttest(digest), /pcrDigest has size 65/);
});

test('TPMS_ATTEST: mutated and random bytes give a result or an aicert error, never a crash', () => {
  assertProperty(
    fc.property(mutatedBytes(attests), (bytes) => parsesOrRefuses(() => parseAttest(bytes))),
    RUNS,
  );
});

test('TPMT_SIGNATURE: ECDSA and RSASSA parse; unsupported schemes, truncation and trailing bytes are refused', () => {
  const ecdsa = parseSignature(signatures[0]!);
  assert.equal(ecdsa.scheme, TPM_ALG.ECDSA);
  const rsa = parseSignature(signatures[1]!);
  assert.equal(rsa.scheme, TPM_ALG.RSASSA);
  assert.equal('sig' in rsa && rsa.sig.length, 256);
  for (const sig of signatures) {
    for (let n = 0; n < sig.length; n++)
      assert.throws(() => parseSignature(sig.subarray(0, n)), { code: 'tpm.malformed' });
    assert.throws(() => parseSignature(Buffer.concat([sig, Buffer.of(0)])), /trailing/);
  }
  for (const scheme of [TPM_ALG.HMAC, TPM_ALG.NULL, 0x001a /* ECDAA */, 0x001b /* SM2 */]) {
    assert.throws(
      () => parseSignature(marshal((w) => w.u16(scheme).u16(TPM_ALG.SHA256).u16(0).u16(0))),
      /not supported/,
    );
  }
  assert.throws(
    () => parseSignature(marshal((w) => w.u16(TPM_ALG.ECDSA).u16(TPM_ALG.SHA256).tpm2b(Buffer.alloc(67)).u16(0))),
    /signatureR has size 67/,
  );
});

test('TPMT_SIGNATURE: mutated signatures parse or refuse, and verifying them never crashes', async () => {
  const keys = [
    akPublicFor('ecc').area,
    akPublicFor('rsa').area,
    ...quoteFiles.map((f) => parsePublic2b(b64(f.akPublic))),
  ];
  await assertProperty(
    fc.asyncProperty(mutatedBytes(signatures), fc.constantFrom(...keys), (bytes, key) =>
      parsesOrRefusesAsync(async () => {
        const sig = parseSignature(bytes);
        const result = await verifyTpmSignature(key, attests[0]!, sig);
        assert.equal(typeof result.ok, 'boolean');
      }),
    ),
    RUNS,
  );
});

test('TPMT_PUBLIC / TPM2B_PUBLIC: real areas round-trip; mutated and random bytes parse or refuse, keys included', () => {
  for (const p of publics2b) assert.deepEqual(parsePublic2b(p).bytes, p.subarray(2));
  const seeds = [
    ...publics2b,
    ...publics2b.map((p) => p.subarray(2)),
    akPublicFor('ecc').area.bytes,
    ekPublicFor('rsa').area.bytes,
  ];
  assertProperty(
    fc.property(mutatedBytes(seeds), (bytes) =>
      parsesOrRefuses(() => {
        const area =
          bytes.length > 2 && bytes.readUInt16BE(0) === bytes.length - 2 ? parsePublic2b(bytes) : parsePublic(bytes);
        publicKeyObject(area.public);
      }),
    ),
    RUNS,
  );
});

test('quote files: mutated text, mutated fields and random JSON parse or refuse, never crash', () => {
  const texts = quoteFiles.map((f) => JSON.stringify(f));
  const textMutations = fc
    .tuple(fc.constantFrom(...texts), fc.nat(), fc.string({ maxLength: 4 }), fc.nat(4))
    .map(([t, at, insert, drop]) => t.slice(0, at % (t.length + 1)) + insert + t.slice((at % (t.length + 1)) + drop));
  const field = fc.constantFrom(
    'version',
    'attest',
    'signature',
    'akPublic',
    'akPublicPem',
    'akName',
    'nonce',
    'pcrs',
    'extra',
  );
  const fieldMutations = fc
    .tuple(fc.constantFrom(...quoteFiles), field, fc.jsonValue())
    .map(([f, k, v]) => JSON.stringify({ ...f, [k]: v }));
  const byteMutations = fc
    .tuple(
      fc.constantFrom(...quoteFiles),
      fc.constantFrom('attest', 'signature', 'akPublic'),
      mutatedBytes(attests.concat(signatures, publics2b)),
    )
    .map(([f, k, bytes]) => JSON.stringify({ ...f, [k]: bytes.toString('base64') }));
  assertProperty(
    fc.property(fc.oneof(textMutations, fieldMutations, byteMutations, fc.json()), (text) =>
      parsesOrRefuses(() => parseQuoteFile(text)),
    ),
    RUNS,
  );
});
