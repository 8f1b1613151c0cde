import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sign } from 'node:crypto';
import { TPM_ALG } from '../../src/tpm/constants.js';
import { marshalSignature, parseSignature, verifyTpmSignature, type SignatureCheck } from '../../src/tpm/signature.js';
import { akPublicFor, signAsTpm } from './helpers.js';

const message = Buffer.from('TPMS_ATTEST stand-in');

test('ECDSA r and s sent without leading zeros are left-padded to the field size', async () => {
  const ak = akPublicFor('ecc');
  // Find a signature whose r or s starts with a zero byte (about 1 in 128 signatures).
  for (let i = 0; ; i++) {
    const raw = sign('sha256', Buffer.concat([message, Buffer.from(String(i))]), {
      key: ak.privateKey,
      dsaEncoding: 'ieee-p1363',
    });
    if (raw[0] !== 0 && raw[32] !== 0) continue;
    const stripped = marshalSignature({
      scheme: TPM_ALG.ECDSA,
      hashAlg: TPM_ALG.SHA256,
      r: raw.subarray(raw[0] === 0 ? 1 : 0, 32),
      s: raw.subarray(raw[32] === 0 ? 33 : 32),
    });
    assert.ok(stripped.length < 4 + 2 * 34, 'a shortened coordinate was sent');
    assert.deepEqual(
      await verifyTpmSignature(ak.area, Buffer.concat([message, Buffer.from(String(i))]), parseSignature(stripped)),
      { ok: true },
    );
    return;
  }
});

test('ECDSA coordinates longer than the field are reported, not thrown', async () => {
  const ak = akPublicFor('ecc');
  const sig = parseSignature(
    marshalSignature({
      scheme: TPM_ALG.ECDSA,
      hashAlg: TPM_ALG.SHA256,
      r: Buffer.alloc(33, 1),
      s: Buffer.alloc(32, 1),
    }),
  );
  const result = await verifyTpmSignature(ak.area, message, sig);
  assert.equal(result.ok, false);
  assert.match(!result.ok ? result.reason : '', /longer than the P-256 field/);
});

test("a signature must use the key's own scheme and hash, and a key type it can come from", async () => {
  const ecc = akPublicFor('ecc');
  const rsa = akPublicFor('rsa');
  const reason = async (r: Promise<SignatureCheck>) => {
    const check = await r;
    return check.ok ? 'ok' : check.reason;
  };
  assert.equal(await reason(verifyTpmSignature(ecc.area, message, parseSignature(signAsTpm(ecc, message)))), 'ok');
  assert.match(
    await reason(verifyTpmSignature(ecc.area, message, parseSignature(signAsTpm(ecc, message, TPM_ALG.SHA384)))),
    /only signs with ECDSA-sha256/,
  );
  assert.match(
    await reason(verifyTpmSignature(rsa.area, message, parseSignature(signAsTpm(ecc, message)))),
    /ECDSA-sha256 but the key only signs with RSASSA-sha256/,
  );
  assert.match(
    await reason(verifyTpmSignature(ecc.area, Buffer.from('other message'), parseSignature(signAsTpm(ecc, message)))),
    /does not verify/,
  );
});

test('a key without a fixed scheme accepts RSASSA and RSAPSS over SHA-256+, never SHA-1 or ECDSA', async () => {
  const nullScheme = akPublicFor('rsa', undefined, { algorithm: TPM_ALG.NULL, hashAlg: TPM_ALG.NULL });
  const pssKey = akPublicFor('rsa', undefined, { algorithm: TPM_ALG.RSAPSS, hashAlg: TPM_ALG.SHA256 });
  const reason = async (r: Promise<SignatureCheck>) => {
    const check = await r;
    return check.ok ? 'ok' : check.reason;
  };
  const rsassa = parseSignature(signAsTpm(akPublicFor('rsa'), message));
  const rsapss = parseSignature(signAsTpm(pssKey, message));
  assert.equal(await reason(verifyTpmSignature(nullScheme.area, message, rsassa)), 'ok');
  assert.equal(await reason(verifyTpmSignature(nullScheme.area, message, rsapss)), 'ok');
  const sha1 = parseSignature(signAsTpm(akPublicFor('rsa'), message, TPM_ALG.SHA1));
  assert.match(await reason(verifyTpmSignature(nullScheme.area, message, sha1)), /sha1 is not accepted/);
  const ecdsa = parseSignature(signAsTpm(akPublicFor('ecc'), message));
  assert.match(await reason(verifyTpmSignature(nullScheme.area, message, ecdsa)), /cannot come from an RSA key/);
});
