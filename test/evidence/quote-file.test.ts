import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { claimedSelection, parseQuoteFile, toQuoteFile } from '../../src/evidence/quote-file.js';
import { TPM_ALG } from '../../src/tpm/constants.js';
import { objectName, publicKeyPem } from '../../src/tpm/public.js';
import { akPublicFor } from '../tpm/helpers.js';

const text = readFileSync(new URL('../../../test/evidence/fixtures/tpm2-quote-ecc.json', import.meta.url), 'utf8');
const json = () => JSON.parse(text) as Record<string, unknown>;
const refuses = (value: unknown, code: string, pattern?: RegExp) =>
  assert.throws(
    () => parseQuoteFile(typeof value === 'string' ? value : JSON.stringify(value)),
    (err: Error & { code?: string; exitStatus?: number }) =>
      err.code === code && err.exitStatus === 2 && (!pattern || pattern.test(err.message)),
  );

test('a quote file round-trips: parse(to(quote)) gives back the same bytes, key, nonce and PCRs', () => {
  const parsed = parseQuoteFile(text);
  const again = toQuoteFile(parsed);
  assert.deepEqual(again, json());
  assert.deepEqual(parsed.akName, objectName(parsed.akPublic));
  assert.deepEqual(claimedSelection(parsed.pcrs), [{ hashAlg: TPM_ALG.SHA256, pcrs: [0, 1, 2, 3, 4, 5, 6, 7, 23] }]);
});

test('akPublicPem and akName must agree with akPublic', () => {
  refuses({ ...json(), akName: '000b' + '00'.repeat(32) }, 'quote-file.inconsistent', /akName/);
  refuses(
    { ...json(), akPublicPem: publicKeyPem(akPublicFor('ecc').area.public) },
    'quote-file.inconsistent',
    /akPublicPem/,
  );
  refuses({ ...json(), akPublicPem: 'not a key' }, 'quote-file.inconsistent');
});

test('the schema is strict: unknown fields, other versions, bad hex and bad base64 are refused', () => {
  refuses({ ...json(), note: 'hi' }, 'quote-file.malformed', /note/);
  refuses({ ...json(), version: 2 }, 'quote-file.malformed', /version/);
  refuses({ ...json(), nonce: 'ABCD' }, 'quote-file.malformed', /nonce/);
  refuses({ ...json(), nonce: 'abc' }, 'quote-file.malformed', /nonce/);
  refuses({ ...json(), nonce: '00'.repeat(65) }, 'quote-file.malformed', /nonce/);
  refuses({ ...json(), attest: 'not base64!' }, 'base64.invalid');
  const { attest } = json() as { attest: string };
  refuses({ ...json(), attest: attest.slice(0, -2) + 'R=' }, 'base64.invalid', /stray bits/);
  refuses('{"version": 1', 'quote-file.malformed', /not JSON/);
  refuses(' '.repeat(300 * 1024), 'quote-file.malformed', /limit/);
});

test('PCR entries must be known banks, indices 0-23 and values of the bank digest size', () => {
  const pcrs = (p: unknown) => ({ ...json(), pcrs: p });
  refuses(pcrs({ md5: { 0: '00'.repeat(16) } }), 'quote-file.malformed', /pcrs/);
  refuses(pcrs({ sha256: { 24: '00'.repeat(32) } }), 'quote-file.malformed', /pcrs\.sha256\.24/);
  refuses(pcrs({ sha256: { '07': '00'.repeat(32) } }), 'quote-file.malformed', /pcrs\.sha256\.07/);
  refuses(pcrs({ sha256: { 0: '00'.repeat(20) } }), 'quote-file.malformed', /has 20 bytes; a sha256 PCR has 32/);
  const two = parseQuoteFile(
    JSON.stringify(pcrs({ sha1: { 3: '11'.repeat(20) }, sha256: { 23: '22'.repeat(32), 1: '33'.repeat(32) } })),
  );
  // Banks keep file order; indices are ascending whatever the file order.
  assert.deepEqual(claimedSelection(two.pcrs), [
    { hashAlg: TPM_ALG.SHA1, pcrs: [3] },
    { hashAlg: TPM_ALG.SHA256, pcrs: [1, 23] },
  ]);
});
