import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { assertProperty } from '../util/property.js';
import { initCa } from '../../src/ca/ca-directory.js';
import { EnrollmentAuthority } from '../../src/ca/enrollment.js';
import type { EnrollStart } from '../../src/ca/protocol.js';
import { encodeBase64 } from '../../src/util/base64.js';
import { AicertError } from '../../src/errors.js';
import { public2b } from '../../src/tpm/public.js';
import { akPublicFor } from '../tpm/helpers.js';

/**
 * The CA parses untrusted requests: random and mutated ones must be refused with an aicert
 * error (a 4xx answer), never crash it. Uses the captured swtpm EK (no TPM needed); the EK
 * certificate chains to the captured root through the captured intermediate.
 */
const FIXTURES = new URL('../../../test/evidence/fixtures/swtpm-ek/', import.meta.url).pathname;
const EK_CERT = readFileSync(join(FIXTURES, 'ek-rsa-cert.der'));
const EK_PUBLIC = readFileSync(join(FIXTURES, 'ek-rsa.pub'));
const AK_PUBLIC = public2b(akPublicFor('ecc').area.bytes);

let work: string;
let authority: EnrollmentAuthority;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'aicert-ca-fuzz-'));
  authority = new EnrollmentAuthority(
    await initCa(join(work, 'ca'), [join(FIXTURES, 'root.pem')], {
      ekIntermediatePemFiles: [join(FIXTURES, 'intermediate.pem')],
    }),
  );
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

const request = (
  ekCertificate: Uint8Array = EK_CERT,
  ekPublic: Uint8Array = EK_PUBLIC,
  akPublic: Uint8Array = AK_PUBLIC,
): EnrollStart => ({
  ekCertificate: encodeBase64(ekCertificate),
  ekPublic: encodeBase64(ekPublic),
  akPublic: encodeBase64(akPublic),
});

async function refusedCleanly(message: unknown): Promise<void> {
  try {
    await authority.start(message);
  } catch (err) {
    assert.ok(err instanceof AicertError, `not an aicert error: ${String(err)}`);
    assert.ok(err.exitStatus === 1 || err.exitStatus === 2, err.message);
  }
}

test('a well-formed request with a certified EK gets a credential challenge', async () => {
  const challenge = await authority.start(request());
  assert.match(challenge.session, /^[0-9a-f]{64}$/);
  assert.ok(Buffer.from(challenge.encryptedSecret, 'base64').length === 256, 'RSA-2048 OAEP ciphertext');
});

test('mutated EK certificates, EK publics and AK publics are refused with an aicert error, never a crash', async () => {
  const mutate = (bytes: Buffer) =>
    fc
      .array(fc.tuple(fc.nat(bytes.length - 1), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 })
      .map((flips) => {
        const copy = Buffer.from(bytes);
        for (const [i, x] of flips) copy[i] = copy[i]! ^ x;
        return copy;
      });
  const truncate = (bytes: Buffer) => fc.nat(bytes.length - 1).map((n) => bytes.subarray(0, n));
  await assertProperty(
    fc.asyncProperty(
      fc.oneof(
        fc.oneof(mutate(EK_CERT), truncate(EK_CERT)).map((c) => request(c)),
        fc.oneof(mutate(EK_PUBLIC), truncate(EK_PUBLIC)).map((p) => request(undefined, p)),
        fc.oneof(mutate(AK_PUBLIC), truncate(AK_PUBLIC)).map((p) => request(undefined, undefined, p)),
      ),
      refusedCleanly,
    ),
    { numRuns: 300 },
  );
});

test('random JSON and random field values are refused with an aicert error', async () => {
  await assertProperty(
    fc.asyncProperty(
      fc.oneof(
        fc.jsonValue({ maxDepth: 3 }),
        fc.record({ ekCertificate: fc.string(), ekPublic: fc.string(), akPublic: fc.string() }),
        fc.record({ ekCertificate: fc.base64String(), ekPublic: fc.base64String(), akPublic: fc.base64String() }),
        fc.uint8Array({ maxLength: 300 }).map((b) => request(Buffer.from(b))),
      ),
      refusedCleanly,
    ),
    { numRuns: 300 },
  );
  await refusedCleanly({ ...request(), ekIntermediates: ['AAAA', 'AAAA', 'AAAA', 'AAAA', 'AAAA'] });
  await refusedCleanly({ ...request(), ekIntermediates: [encodeBase64(Buffer.from('junk'))] });
});
