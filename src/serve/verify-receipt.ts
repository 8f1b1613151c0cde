import type { TrustAnchors } from '../evidence/ak-trust.js';
import type { Policy } from '../evidence/policy.js';
import { Checklist, type CheckResult } from '../verify/checklist.js';
import { checkExchange } from './exchange.js';
import { checkReceiptSignature, parseReceipt } from './receipt.js';
import { verifyTrainingCertificate } from './training-certificate.js';
import { verifyAttestation } from './verify-attestation.js';

export const RECEIPT_CHECKS = [
  'attestation',
  'receipt.schema',
  'receipt.session',
  'receipt.signature',
  'receipt.request',
  'receipt.response',
] as const;
export type ReceiptCheckId = (typeof RECEIPT_CHECKS)[number];

export interface ReceiptReport {
  verdict: 'valid' | 'not valid' | 'unusable';
  exitStatus: 0 | 1 | 2;
  checks: CheckResult<ReceiptCheckId>[];
}

/**
 * `aicert receipt verify`: a receipt checked offline against the stored attestation of its
 * session. The attestation must verify as evidence of its session (verifyAttestation without a
 * live channel), then the receipt must name that session and carry a signature by its attested
 * receipt key; given the bodies, it must be for them.
 */
export async function verifyReceipt(
  receiptText: string,
  attestation: Uint8Array,
  o: {
    certificate: Uint8Array;
    certificateName: string;
    trust: TrustAnchors;
    allowUntrustedAk: boolean;
    /** Met by the training certificate; its pinnedAks and minAkTrust apply to the serving AK too. */
    policy?: Policy | undefined;
    request?: Uint8Array;
    response?: Uint8Array;
  },
): Promise<ReceiptReport> {
  const list = new Checklist(RECEIPT_CHECKS);
  await list.run(async () => {
    const training = await verifyTrainingCertificate(o.certificate, o.certificateName, o);
    const { report, attestation: session } = await verifyAttestation(attestation, 'stored attestation', {
      training,
      trust: o.trust,
      allowUntrustedAk: o.allowUntrustedAk,
      policy: o.policy,
    });
    if (!session) {
      const failed = report.checks.find((c) => c.status === 'failed');
      return list.fail('attestation', `the attestation does not verify: ${failed?.id}: ${failed?.reason}`);
    }
    list.ok('attestation', `serving session ${session.sessionId} of model ${session.log.model.digest.sha256}`);
    const receipt = await list.step(
      'receipt.schema',
      () => parseReceipt(receiptText),
      (r) => `receipt ${r.seq} of ${r.time}`,
    );
    await list.step(
      'receipt.session',
      () => checkReceiptSignature(receipt, session),
      () => 'names the attested session',
    );
    list.ok('receipt.signature', "signed by the session's attested receipt key");
    if (o.request === undefined) list.skipped('receipt.request', 'no --request given');
    else
      await list.step(
        'receipt.request',
        () => checkExchange(receipt, { body: o.request! }),
        () => 'for this request body',
      );
    if (o.response === undefined) list.skipped('receipt.response', 'no --response given');
    else
      await list.step(
        'receipt.response',
        () => checkExchange(receipt, { answer: o.response! }),
        () => 'for this response body',
      );
  });
  const failure = list.failure?.result;
  const unusable = failure?.id === 'receipt.schema';
  return {
    verdict: failure ? (unusable ? 'unusable' : 'not valid') : 'valid',
    exitStatus: failure ? (unusable ? 2 : 1) : 0,
    checks: list.results,
  };
}
