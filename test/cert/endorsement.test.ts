import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { checkEndorsement, endorse, VSA_PREDICATE_TYPE } from '../../src/cert/endorsement.js';
import { AicertError } from '../../src/errors.js';

const auditor = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const auditorPublic = createPublicKey(auditor);
const stranger = createPublicKey(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
const subject = [{ name: 'model', digest: { sha256: 'ab'.repeat(32) } }];
const certificate = Buffer.from('{"certificate":"bytes"}');

function make(passed = true) {
  return Buffer.from(
    JSON.stringify(
      endorse({
        subject,
        certificateBytes: certificate,
        auditReportBytes: Buffer.from('{}'),
        auditPassed: passed,
        auditorKey: auditor,
        time: new Date('2026-11-27T00:00:00Z'),
        aicertVersion: '0.1.0',
      }),
    ),
  );
}

function failsWith(bytes: Buffer, code: string, cert = certificate, keys = [auditorPublic]): void {
  assert.throws(
    () => checkEndorsement(bytes, cert, subject, keys),
    (err: unknown) => err instanceof AicertError && err.code === code,
    code,
  );
}

test('an endorsement by a trusted auditor is a SLSA VSA that names the auditor and verifies', () => {
  const bytes = make();
  const envelope = JSON.parse(bytes.toString());
  const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString());
  assert.equal(statement.predicateType, VSA_PREDICATE_TYPE);
  assert.equal(statement.predicate.verificationResult, 'PASSED');
  const checked = checkEndorsement(bytes, certificate, subject, [stranger, auditorPublic]);
  assert.equal(checked.result, 'PASSED');
  assert.match(checked.auditor, /^https:\/\/aicert\.dev\/auditor\/[0-9a-f]{64} \(key [0-9a-f]{16}…\)$/);
});

test('an untrusted auditor, an altered endorsement, another certificate or a FAILED audit are rejected', () => {
  failsWith(make(), 'audit.endorsement.signature', certificate, [stranger]);
  const altered = JSON.parse(make().toString());
  const statement = JSON.parse(Buffer.from(altered.payload, 'base64').toString());
  statement.predicate.verificationResult = 'PASSED';
  statement.predicate.timeVerified = '2030-01-01T00:00:00Z';
  altered.payload = Buffer.from(JSON.stringify(statement)).toString('base64');
  failsWith(Buffer.from(JSON.stringify(altered)), 'audit.endorsement.signature');
  failsWith(make(), 'audit.endorsement.subject', Buffer.from('another certificate'));
  failsWith(make(false), 'audit.endorsement.result');
  failsWith(Buffer.from('not json'), 'audit.endorsement.shape');
});
