import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { InputError, VerificationError } from '../errors.js';
import { dsseEnvelopeToJson, parseDsseEnvelope, signDsse, verifyDsseSignature, type DsseEnvelopeJson } from './dsse.js';
import {
  IN_TOTO_PAYLOAD_TYPE,
  STATEMENT_V1_TYPE,
  parseStatement,
  serializeStatement,
  type ResourceDescriptor,
  type Statement,
} from './intoto.js';
import { findDuplicateKey } from '../util/strict-json.js';

/**
 * An auditor's endorsement of a certificate: a SLSA Verification Summary Attestation
 * (https://slsa.dev/spec/v1.0/verification_summary) in a DSSE envelope signed by the auditor.
 * It names the certified model (the certificate's subject), the certificate file and the audit
 * report by digest, and says PASSED only for an audit that passed.
 */
export const VSA_PREDICATE_TYPE = 'https://slsa.dev/verification_summary/v1';
export const AICERT_AUDIT_LEVEL = 'AICERT_TRAINING_AUDIT_PASSED';
export const AICERT_AUDITOR_ID_PREFIX = 'https://aicert.dev/auditor/';

const descriptor = z.strictObject({
  uri: z.string().min(1).max(4096),
  digest: z.record(z.string(), z.string().regex(/^[0-9a-f]{64}$/)),
});

export const vsaPredicateSchema = z.strictObject({
  verifier: z.strictObject({ id: z.string().min(1).max(4096), version: z.record(z.string(), z.string()).optional() }),
  timeVerified: z.iso.datetime({ offset: true }),
  resourceUri: z.string().min(1).max(4096),
  policy: z.strictObject({ uri: z.string().min(1).max(4096), digest: z.record(z.string(), z.string()).optional() }),
  inputAttestations: z.array(descriptor).min(1).max(16),
  verificationResult: z.enum(['PASSED', 'FAILED']),
  verifiedLevels: z.array(z.string().min(1)).max(16),
  slsaVersion: z.string().optional(),
});
export type VsaPredicate = z.infer<typeof vsaPredicateSchema>;

export const MAX_ENDORSEMENT_BYTES = 1024 * 1024;

/** keyid of a public key: SHA-256 of its SubjectPublicKeyInfo DER, hex. */
export function keyIdOf(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256')
    .update(pub.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export interface EndorsementInput {
  /** The certified model(s): the certificate statement's subject, unchanged. */
  subject: ResourceDescriptor[];
  certificateBytes: Uint8Array;
  auditReportBytes: Uint8Array;
  auditPassed: boolean;
  auditorKey: KeyObject;
  time: Date;
  aicertVersion: string;
}

export function endorse(input: EndorsementInput): DsseEnvelopeJson {
  const statement: Statement<VsaPredicate> = {
    _type: STATEMENT_V1_TYPE,
    subject: input.subject,
    predicateType: VSA_PREDICATE_TYPE,
    predicate: {
      verifier: {
        id: `${AICERT_AUDITOR_ID_PREFIX}${keyIdOf(input.auditorKey)}`,
        version: { aicert: input.aicertVersion },
      },
      timeVerified: input.time.toISOString(),
      resourceUri: input.subject[0]?.name ?? 'model',
      policy: { uri: 'https://aicert.dev/policy/training-audit/v1' },
      inputAttestations: [
        { uri: 'aicert-certificate', digest: { sha256: sha256Hex(input.certificateBytes) } },
        { uri: 'aicert-audit-report', digest: { sha256: sha256Hex(input.auditReportBytes) } },
      ],
      verificationResult: input.auditPassed ? 'PASSED' : 'FAILED',
      verifiedLevels: input.auditPassed ? [AICERT_AUDIT_LEVEL] : [],
    },
  };
  return dsseEnvelopeToJson(
    signDsse(IN_TOTO_PAYLOAD_TYPE, serializeStatement(statement), [
      { privateKey: input.auditorKey, keyid: keyIdOf(input.auditorKey) },
    ]),
  );
}

export interface CheckedEndorsement {
  auditor: string;
  timeVerified: string;
  result: 'PASSED' | 'FAILED';
  levels: string[];
}

/**
 * Checks an endorsement of `certificateBytes` against the trusted auditor keys: signed by one
 * of them (`audit.endorsement.signature`), a VSA for this certificate and its subject
 * (`audit.endorsement.subject`), and PASSED (`audit.endorsement.result`).
 */
export function checkEndorsement(
  bytes: Uint8Array,
  certificateBytes: Uint8Array,
  subject: ResourceDescriptor[],
  trustedAuditors: readonly KeyObject[],
): CheckedEndorsement {
  const text = Buffer.from(bytes).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new InputError('audit.endorsement.shape', 'the endorsement is not JSON');
  }
  if (findDuplicateKey(text) !== undefined)
    throw new InputError('audit.endorsement.shape', 'the endorsement repeats a JSON key');
  const envelope = parseDsseEnvelope(json);
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE)
    throw new VerificationError('audit.endorsement.shape', `the endorsement's payload type is ${envelope.payloadType}`);
  const signer = trustedAuditors.find((key) =>
    envelope.signatures.some((sig) => verifyDsseSignature(envelope, sig, key)),
  );
  if (!signer) {
    throw new VerificationError(
      'audit.endorsement.signature',
      'the endorsement is not signed by a trusted auditor (altered, or signed by a key not given with --trust-auditor)',
    );
  }
  const statement = parseStatement(
    envelope.payload,
    { predicateType: VSA_PREDICATE_TYPE, predicate: vsaPredicateSchema },
    'audit.endorsement',
  );
  const vsa = statement.predicate;
  const certDigest = sha256Hex(certificateBytes);
  if (!vsa.inputAttestations.some((a) => a.digest.sha256 === certDigest)) {
    throw new VerificationError(
      'audit.endorsement.subject',
      'the endorsement is about another certificate (its inputAttestations do not name this file)',
    );
  }
  const same = (a: ResourceDescriptor[], b: ResourceDescriptor[]) =>
    JSON.stringify(a.map((d) => d.digest)) === JSON.stringify(b.map((d) => d.digest));
  if (!same(statement.subject, subject))
    throw new VerificationError(
      'audit.endorsement.subject',
      "the endorsement's subject is not this certificate's model",
    );
  if (vsa.verificationResult !== 'PASSED')
    throw new VerificationError('audit.endorsement.result', `the auditor ${vsa.verifier.id} recorded a FAILED audit`);
  return {
    auditor: `${vsa.verifier.id} (key ${keyIdOf(signer).slice(0, 16)}…)`,
    timeVerified: vsa.timeVerified,
    result: vsa.verificationResult,
    levels: vsa.verifiedLevels,
  };
}
