import { sign, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { InputError, VerificationError } from '../errors.js';
import { describeSchemaError } from '../util/schema-error.js';
import { parseJsonObject } from '../util/strict-json.js';

/**
 * A receipt: the serving session's statement that it answered one request with one response,
 * signed by the session's receipt key (Ed25519, generated in memory, its public key in the
 * attested `serve-keys` event). With the session's attestation it is offline evidence a third
 * party can check later (`aicert receipt verify`). Sent as the `aicert-receipt` header: base64url
 * of the receipt's canonical JSON.
 */
export const RECEIPT_HEADER = 'aicert-receipt';
const MAX_RECEIPT_HEADER = 4096;
/** Domain separation: a receipt signature can never be read as a signature over anything else. */
const RECEIPT_CONTEXT = 'aicert receipt v1\n';

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lower-case hex digits');
export const receiptSchema = z.strictObject({
  v: z.literal(1),
  sessionId: z.string().regex(/^[0-9a-f]{32}$/),
  /** 1, 2, 3… in the order the session answered: a receipt is never issued twice with one number. */
  seq: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  time: z.string().max(64),
  request: z.strictObject({ method: z.string().max(32), target: z.string().max(2048), sha256: sha256Hex }),
  response: z.strictObject({ status: z.number().int().min(100).max(599), sha256: sha256Hex }),
  /** Ed25519 over RECEIPT_CONTEXT ‖ JCS(receipt without this field), base64. */
  signature: z.string().regex(/^[A-Za-z0-9+/]{86}==$/),
});
export type Receipt = z.infer<typeof receiptSchema>;
export type UnsignedReceipt = Omit<Receipt, 'signature'>;

/**
 * RFC 8785 JCS of a receipt (with or without its signature), written out for its one shape: the
 * members in JCS order, each value by JSON.stringify as `canonicalize` does; byte for byte the
 * same as `canonicalize` (test/serve/receipt.test.ts), at a fraction of its cost per answer.
 */
export function receiptJcs(r: UnsignedReceipt & { signature?: string }): string {
  const j = JSON.stringify;
  const { request: q, response: a } = r;
  const signature = r.signature === undefined ? '' : `"signature":${j(r.signature)},`;
  return (
    `{"request":{"method":${j(q.method)},"sha256":${j(q.sha256)},"target":${j(q.target)}},` +
    `"response":{"sha256":${j(a.sha256)},"status":${j(a.status)}},"seq":${j(r.seq)},` +
    `"sessionId":${j(r.sessionId)},${signature}"time":${j(r.time)},"v":${j(r.v)}}`
  );
}

function signedBytes(r: UnsignedReceipt): Buffer {
  return Buffer.from(RECEIPT_CONTEXT + receiptJcs({ ...r, signature: undefined }), 'utf8');
}

export function signReceipt(r: UnsignedReceipt, key: KeyObject): Receipt {
  return { ...r, signature: sign(null, signedBytes(r), key).toString('base64') };
}

export function encodeReceipt(r: Receipt): string {
  return Buffer.from(receiptJcs(r), 'utf8').toString('base64url');
}

/** A receipt's JSON (a file) or header value (base64url of it), parsed; `receipt.schema` otherwise. */
export function parseReceipt(text: string): Receipt {
  const fail = (detail: string) => new InputError('receipt.schema', `not an aicert receipt: ${detail}`);
  const trimmed = text.trim();
  if (trimmed.length > MAX_RECEIPT_HEADER * 2) throw fail(`it is ${trimmed.length} characters long`);
  const bytes = trimmed.startsWith('{') ? Buffer.from(trimmed, 'utf8') : Buffer.from(trimmed, 'base64url');
  const json = parseJsonObject(bytes, (_p, detail) => fail(detail));
  const parsed = receiptSchema.safeParse(json);
  if (!parsed.success) throw fail(describeSchemaError(parsed.error));
  return parsed.data;
}

/**
 * The receipt is the named session's and its signature is the session's receipt key's
 * (`receipt.session`, `receipt.signature`). Whether it is for a given exchange is the caller's
 * check (`receipt.request`, `receipt.response`).
 */
export function checkReceiptSignature(r: Receipt, session: { sessionId: string; receiptKey: KeyObject }): void {
  if (r.sessionId !== session.sessionId)
    throw new VerificationError(
      'receipt.session',
      `the receipt names serving session ${r.sessionId}, the attestation is of session ${session.sessionId}`,
    );
  if (!verify(null, signedBytes(r), session.receiptKey, Buffer.from(r.signature, 'base64')))
    throw new VerificationError(
      'receipt.signature',
      `receipt ${r.seq} is not signed by the session's attested receipt key: a field was edited or another key signed it`,
    );
}
