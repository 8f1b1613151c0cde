import type { TrustAnchors } from '../evidence/ak-trust.js';
import type { Policy } from '../evidence/policy.js';
import { verifyCertificate } from '../verify/verify-certificate.js';
import { sha256Hex, type TrainingCertificate } from './verify-attestation.js';

/** Verifies the training certificate a client holds, once for all the connections it attests. */
export async function verifyTrainingCertificate(
  bytes: Uint8Array,
  name: string,
  o: { trust: TrustAnchors; allowUntrustedAk: boolean; policy?: Policy | undefined; now?: Date },
): Promise<TrainingCertificate> {
  const { report, run } = await verifyCertificate(bytes, name, {
    trust: o.trust,
    allowUntrustedAk: o.allowUntrustedAk,
    ...(o.policy && { policy: o.policy }),
    ...(o.now && { now: o.now }),
  });
  return { sha256: sha256Hex(bytes), report, ...(run && { run }) };
}
