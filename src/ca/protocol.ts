import { z } from 'zod';

/**
 * The enrollment protocol's messages (JSON over HTTP, or passed in-process). Binary fields are
 * standard base64. Two round trips:
 *   POST /v1/enroll/start   EnrollStart  → EnrollChallenge  (a credential only the TPM can open)
 *   POST /v1/enroll/finish  EnrollFinish → EnrollResult     (the AK certificate chain, PEM)
 * Errors: HTTP 4xx/5xx with { error: { code, message } }.
 */
export const ENROLL_START_PATH = '/v1/enroll/start';
export const ENROLL_FINISH_PATH = '/v1/enroll/finish';

/** Largest request body the CA reads; real requests are about 3 KiB. */
export const MAX_REQUEST_BYTES = 64 * 1024;

const base64 = (maxChars: number) => z.string().min(1).max(maxChars);

export const enrollStartSchema = z.strictObject({
  /** EK certificate, DER (or the NV bytes it was read from). */
  ekCertificate: base64(16 * 1024),
  /** TPM2B_PUBLIC of the EK. */
  ekPublic: base64(2048),
  /** TPM2B_PUBLIC of the attestation key. */
  akPublic: base64(2048),
  /** Untrusted EK intermediate CA certificates (DER) that help chain the EK certificate. */
  ekIntermediates: z
    .array(base64(16 * 1024))
    .max(4)
    .optional(),
});
export type EnrollStart = z.infer<typeof enrollStartSchema>;

export const enrollFinishSchema = z.strictObject({
  session: z.string().regex(/^[0-9a-f]{64}$/, 'a session id: 64 lower-case hex digits'),
  /** The secret ActivateCredential released. */
  secret: base64(128),
});
export type EnrollFinish = z.infer<typeof enrollFinishSchema>;

export const enrollChallengeSchema = z.strictObject({
  session: z.string().regex(/^[0-9a-f]{64}$/),
  /** TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET contents, for ActivateCredential. */
  credentialBlob: base64(4096),
  encryptedSecret: base64(4096),
  expiresAt: z.string().max(64),
});
export type EnrollChallenge = z.infer<typeof enrollChallengeSchema>;

export const enrollResultSchema = z.strictObject({
  akName: z.string().regex(/^[0-9a-f]{4,132}$/),
  /** PEM: the AK certificate, then the CA certificate. */
  certificateChain: z
    .string()
    .min(1)
    .max(64 * 1024),
});
export type EnrollResult = z.infer<typeof enrollResultSchema>;

export const errorBodySchema = z.object({
  error: z.object({ code: z.string().max(100), message: z.string().max(2000) }),
});
