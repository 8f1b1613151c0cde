import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { QUOTE_CHECKS, verifyQuote, type QuoteCheck, type QuoteEvidence } from '../../src/evidence/quote.js';
import type { PcrValues } from '../../src/tpm/pcr-selection.js';
import { claimedSelection, parseQuoteFile } from '../../src/evidence/quote-file.js';
import { TPM_ALG, TPM_ST } from '../../src/tpm/constants.js';
import type { PcrSelection } from '../../src/tpm/pcr-selection.js';
import { parsePublic } from '../../src/tpm/public.js';
import { akPublicFor, buildQuoteAttest, signAsTpm } from '../tpm/helpers.js';

const SHA256 = TPM_ALG.SHA256;
const fixture = (name: string) =>
  parseQuoteFile(readFileSync(new URL(`../../../test/evidence/fixtures/${name}`, import.meta.url), 'utf8'));

/** Asserts that verification fails with exactly `code`, after reporting every earlier check as passed. */
async function assertFailsAt(
  evidence: QuoteEvidence,
  expected: { nonce: Buffer; selection: PcrSelection[] },
  code: QuoteCheck,
) {
  const passed: QuoteCheck[] = [];
  await assert.rejects(
    () => verifyQuote(evidence, expected, (c) => passed.push(c)),
    (err: Error & { code?: string; exitStatus?: number }) => {
      assert.equal(err.code, code, err.message);
      assert.equal(err.exitStatus, 1);
      return true;
    },
  );
  assert.deepEqual(passed, QUOTE_CHECKS.slice(0, QUOTE_CHECKS.indexOf(code)));
}

test('a quote made by tpm2_quote on swtpm (ECDSA P-256 AK) verifies, and the verifier reports its clock and counters', async () => {
  const q = fixture('tpm2-quote-ecc.json');
  const passed: QuoteCheck[] = [];
  const v = await verifyQuote(
    q,
    {
      nonce: Buffer.from('0011223344556677', 'hex'),
      selection: [{ hashAlg: SHA256, pcrs: [0, 1, 2, 3, 4, 5, 6, 7, 23] }],
    },
    (c) => passed.push(c),
  );
  assert.deepEqual(passed, [...QUOTE_CHECKS]);
  assert.equal(v.clock, 0x1f32n);
  assert.equal(v.resetCount, 2);
  assert.equal(v.restartCount, 0);
  assert.equal(v.safe, true);
  assert.equal(v.firmwareVersion, 0x2019102300163636n);
  assert.deepEqual(v.akName, q.akName);
  assert.equal(
    v.pcrs.get(SHA256)?.get(23)?.toString('hex'),
    '9851312028952521510e8eaab5be94e7dc24b5fc292b2e9781173cf11ffa9878',
  );
});

test('a quote made by tpm2_quote with an RSASSA AK verifies', async () => {
  const q = fixture('tpm2-quote-rsa.json');
  const v = await verifyQuote(q, {
    nonce: Buffer.from('aabbccddeeff00112233445566778899', 'hex'),
    selection: [{ hashAlg: SHA256, pcrs: [0, 16, 23] }],
  });
  assert.deepEqual([...v.pcrs.get(SHA256)!.keys()], [0, 16, 23]);
});

test('the tpm2_quote quotes fail with their own reason: wrong nonce, flipped attest byte, changed PCR, other selection', async () => {
  for (const name of ['tpm2-quote-ecc.json', 'tpm2-quote-rsa.json']) {
    const q = fixture(name);
    const expected = { nonce: q.nonce, selection: claimedSelection(q.pcrs) };
    await verifyQuote(q, expected);

    await assertFailsAt(q, { ...expected, nonce: Buffer.from('0011223344556678', 'hex') }, 'quote.nonce');
    await assertFailsAt(q, { ...expected, nonce: Buffer.alloc(0) }, 'quote.nonce');

    for (const offset of [0, 6, 20, q.attest.length - 1]) {
      const attest = Buffer.from(q.attest);
      attest[offset]! ^= 0x01;
      await assertFailsAt({ ...q, attest }, expected, 'quote.signature');
    }

    const pcrs = clonePcrs(q.pcrs);
    pcrs.get(SHA256)!.get(23)![5]! ^= 0x80;
    await assertFailsAt({ ...q, pcrs }, expected, 'pcr.digest');

    const [bank] = expected.selection;
    await assertFailsAt(
      q,
      { ...expected, selection: [{ hashAlg: SHA256, pcrs: bank!.pcrs.slice(1) }] },
      'quote.selection',
    );
    await assertFailsAt(
      q,
      { ...expected, selection: [{ hashAlg: TPM_ALG.SHA1, pcrs: bank!.pcrs }] },
      'quote.selection',
    );
  }
});

test('a quote is not accepted with another AK: the signature check fails', async () => {
  const q = fixture('tpm2-quote-ecc.json');
  const other = fixture('tpm2-quote-rsa.json');
  const expected = { nonce: q.nonce, selection: claimedSelection(q.pcrs) };
  await assertFailsAt({ ...q, akPublic: other.akPublic }, expected, 'quote.signature');
  await assertFailsAt({ ...q, akPublic: akPublicFor('ecc').area }, expected, 'quote.signature');
});

/** A validly signed quote from a software AK, so each check can be made to fail on its own. */
function softwareQuote(
  o: {
    kind?: 'ecc' | 'rsa';
    magic?: number;
    type?: number;
    nonce?: Buffer;
    selection?: PcrSelection[];
    digestOf?: PcrValues;
    scheme?: { algorithm: number; hashAlg: number };
  } = {},
) {
  const ak = akPublicFor(o.kind ?? 'ecc', undefined, o.scheme);
  const pcrs: PcrValues = new Map([
    [
      SHA256,
      new Map([
        [0, Buffer.alloc(32)],
        [23, createHash('sha256').update('x').digest()],
      ]),
    ],
  ]);
  const selection = o.selection ?? claimedSelection(pcrs);
  const hashAlg = o.scheme?.hashAlg ?? SHA256;
  const hashName = hashAlg === TPM_ALG.SHA384 ? 'sha384' : 'sha256';
  const digest = createHash(hashName);
  for (const s of selection)
    for (const p of s.pcrs) digest.update((o.digestOf ?? pcrs).get(s.hashAlg)?.get(p) ?? Buffer.alloc(0));
  const nonce = Buffer.from('c0ffee', 'hex');
  const attest = buildQuoteAttest({
    magic: o.magic,
    type: o.type,
    extraData: o.nonce ?? nonce,
    selection,
    pcrDigest: digest.digest(),
  });
  const evidence: QuoteEvidence = { attest, signature: signAsTpm(ak, attest, hashAlg), akPublic: ak.area, pcrs };
  return { evidence, expected: { nonce, selection: claimedSelection(pcrs) }, ak };
}

test('software-signed quotes verify with ECDSA, RSASSA and RSAPSS AKs (the digest uses the scheme hash)', async () => {
  for (const [kind, scheme] of [
    ['ecc', undefined],
    ['rsa', undefined],
    ['rsa', { algorithm: TPM_ALG.RSAPSS, hashAlg: SHA256 }],
    ['rsa', { algorithm: TPM_ALG.RSAPSS, hashAlg: TPM_ALG.SHA384 }],
    ['ecc', { algorithm: TPM_ALG.ECDSA, hashAlg: TPM_ALG.SHA384 }],
  ] as const) {
    const { evidence, expected } = softwareQuote({ kind, scheme });
    const v = await verifyQuote(evidence, expected);
    assert.equal(v.resetCount, 3);
    assert.equal(v.restartCount, 1);
    assert.equal(v.clock, 123456n);
  }
});

test('a validly signed structure without the TPM magic fails quote.magic', async () => {
  const { evidence, expected } = softwareQuote({ magic: 0xff544348 });
  await assertFailsAt(evidence, expected, 'quote.magic');
});

test('a validly signed attestation of another type fails quote.type', async () => {
  const { evidence, expected } = softwareQuote({ type: 0x8017 /* certify */ });
  await assertFailsAt(evidence, expected, 'quote.type');
  const { evidence: creation, expected: e2 } = softwareQuote({ type: TPM_ST.ATTEST_CREATION });
  await assertFailsAt(creation, e2, 'quote.type');
});

test('the nonce, selection and digest checks fail on validly signed quotes that differ only there', async () => {
  const wrongNonce = softwareQuote({ nonce: Buffer.from('c0fffe', 'hex') });
  await assertFailsAt(wrongNonce.evidence, wrongNonce.expected, 'quote.nonce');

  const extraPcr = softwareQuote({ selection: [{ hashAlg: SHA256, pcrs: [0, 7, 23] }] });
  await assertFailsAt(extraPcr.evidence, extraPcr.expected, 'quote.selection');

  const lied = softwareQuote({
    digestOf: new Map([
      [
        SHA256,
        new Map([
          [0, Buffer.alloc(32, 1)],
          [23, Buffer.alloc(32)],
        ]),
      ],
    ]),
  });
  await assertFailsAt(lied.evidence, lied.expected, 'pcr.digest');
});

test('claimed PCR values must cover exactly the quoted selection', async () => {
  const { evidence, expected } = softwareQuote();
  await verifyQuote(evidence, expected);

  const missing = clonePcrs(evidence.pcrs);
  missing.get(SHA256)!.delete(23);
  await assertFailsAt({ ...evidence, pcrs: missing }, expected, 'pcr.digest');

  const extra = clonePcrs(evidence.pcrs);
  extra.get(SHA256)!.set(9, Buffer.alloc(32));
  await assertFailsAt({ ...evidence, pcrs: extra }, expected, 'pcr.digest');

  const otherBank = clonePcrs(evidence.pcrs);
  otherBank.set(TPM_ALG.SHA1, new Map([[0, Buffer.alloc(20)]]));
  await assertFailsAt({ ...evidence, pcrs: otherBank }, expected, 'pcr.digest');

  const short = clonePcrs(evidence.pcrs);
  short.get(SHA256)!.set(0, Buffer.alloc(20));
  await assertFailsAt({ ...evidence, pcrs: short }, expected, 'pcr.digest');
});

test('the vouched-for PCR values are copies: later changes to the claimed map do not leak in', async () => {
  const { evidence, expected } = softwareQuote();
  const v = await verifyQuote(evidence, expected);
  evidence.pcrs.get(SHA256)!.get(0)!.fill(0xee);
  assert.deepEqual(v.pcrs.get(SHA256)!.get(0), Buffer.alloc(32));
});

test('keys that are not restricted signing keys bound to their TPM are refused before anything else', async () => {
  const { evidence, expected } = softwareQuote();
  const attrs = evidence.akPublic.public.objectAttributes;
  for (const mask of [
    ~0x00010000 /* restricted */,
    ~0x00040000 /* sign */,
    ~0x00000002 /* fixedTPM */,
    ~0x00000010 /* fixedParent */,
  ]) {
    await assertFailsAt(
      { ...evidence, akPublic: withAttributes(evidence.akPublic.bytes, attrs & mask) },
      expected,
      'ak.attributes',
    );
  }
  await assertFailsAt(
    { ...evidence, akPublic: withAttributes(evidence.akPublic.bytes, attrs | 0x00020000) },
    expected,
    'ak.attributes',
  );
});

test('a signature whose scheme or hash differs from the AK scheme fails quote.signature', async () => {
  const { evidence, expected, ak } = softwareQuote();
  const sha384 = signAsTpm(ak, Buffer.from(evidence.attest), TPM_ALG.SHA384);
  await assertFailsAt({ ...evidence, signature: sha384 }, expected, 'quote.signature');
  const rsa = softwareQuote({ kind: 'rsa' });
  await assertFailsAt({ ...rsa.evidence, signature: evidence.signature }, rsa.expected, 'quote.signature');
});

test('unreadable signatures and attestations are input errors (exit 2), not verification failures', async () => {
  const { evidence, expected } = softwareQuote();
  await assert.rejects(
    () => verifyQuote({ ...evidence, signature: Buffer.from(evidence.signature).subarray(0, 10) }, expected),
    { code: 'tpm.malformed', exitStatus: 2 },
  );
  await assert.rejects(() => verifyQuote({ ...evidence, signature: Buffer.of(0x00, 0x05, 0x00, 0x0b) }, expected), {
    code: 'tpm.malformed',
  });
});

function clonePcrs(pcrs: PcrValues): PcrValues {
  return new Map([...pcrs].map(([bank, values]) => [bank, new Map([...values].map(([i, v]) => [i, Buffer.from(v)]))]));
}

function withAttributes(publicBytes: Buffer, attrs: number) {
  const bytes = Buffer.from(publicBytes);
  bytes.writeUInt32BE(attrs >>> 0, 4);
  return parsePublic(bytes);
}
