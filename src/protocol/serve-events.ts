import { z } from 'zod';
import { VerificationError } from '../errors.js';
import { describeSchemaError } from '../util/schema-error.js';
import { celRecordSchemaFor, type CelRecord } from './event-log.js';
import { artifactEventSchema, environmentEventSchema } from './run-events.js';

/**
 * The events of a serving session (`aicert serve`, docs/serving.md), in the order they are
 * extended into the session's NV extend index: the session, the environment, the training
 * certificate served, the served model, the serving code (when given), the command, and the
 * public keys of the session's TLS and receipt keys. Nothing is extended after the keys: an
 * attestation certifies the register's value at that point, so the log a client replays is
 * always the same, whatever number of requests was served.
 */

const hex = (bytes: number) =>
  z.string().regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`), `expected ${bytes * 2} lower-case hex digits`);
const sha256Hex = hex(32);
const text = z.string().max(4096);
/** DER SubjectPublicKeyInfo, base64: a P-256 or Ed25519 key is well under 200 bytes. */
const spkiBase64 = z
  .string()
  .max(1024)
  .regex(/^[A-Za-z0-9+/]+={0,2}$/);

export const serveSessionEventSchema = z.strictObject({
  type: z.literal('serve-session'),
  sessionId: hex(16),
  /** 32 bytes of TPM randomness: no two sessions' logs are alike. */
  nonce: hex(32),
  startedAt: text,
  nvIndex: z.number().int().min(0x01000000).max(0x01ffffff),
  /** The index's Name once written (nameAlg ‖ H(TPMS_NV_PUBLIC)), hex. */
  nvName: z.string().regex(/^[0-9a-f]{4,132}$/),
  akName: z.string().regex(/^[0-9a-f]{4,132}$/),
  aicertVersion: text,
});

/** The training certificate the session serves the output of, named by the SHA-256 of its file. */
export const trainingCertificateEventSchema = z.strictObject({
  type: z.literal('training-certificate'),
  sha256: sha256Hex,
  /** The training run's session id, for people reading the log. */
  trainingSession: hex(16),
});

/** The model directory served, measured like a run's output (same fields, role `model`). */
export const servedModelEventSchema = artifactEventSchema.extend({ type: z.literal('served-model') });
/** The serving code (`--code`), measured like a run's code input. */
export const servingCodeEventSchema = artifactEventSchema.extend({ type: z.literal('serving-code') });

export const serveCommandEventSchema = z.strictObject({
  type: z.literal('serve-command'),
  /** The inference server's argv; empty when `aicert serve` fronts an upstream it did not start. */
  argv: z.array(z.string().max(4096)).max(1024),
  /** The upstream URL the session forwards to (loopback). */
  upstream: text,
});

/** The keys generated in memory for this session; their private halves never leave the process. */
export const serveKeysEventSchema = z.strictObject({
  type: z.literal('serve-keys'),
  tls: z.strictObject({ algorithm: z.literal('ECDSA-P256'), spki: spkiBase64, spkiSha256: sha256Hex }),
  receipt: z.strictObject({ algorithm: z.literal('Ed25519'), spki: spkiBase64 }),
});

export type ServeSessionEvent = z.infer<typeof serveSessionEventSchema>;
export type TrainingCertificateEvent = z.infer<typeof trainingCertificateEventSchema>;
export type ServedModelEvent = z.infer<typeof servedModelEventSchema>;
export type ServingCodeEvent = z.infer<typeof servingCodeEventSchema>;
export type ServeCommandEvent = z.infer<typeof serveCommandEventSchema>;
export type ServeKeysEvent = z.infer<typeof serveKeysEventSchema>;
export type ServeEvent =
  | ServeSessionEvent
  | z.infer<typeof environmentEventSchema>
  | TrainingCertificateEvent
  | ServedModelEvent
  | ServingCodeEvent
  | ServeCommandEvent
  | ServeKeysEvent;
export type ServeEventType = ServeEvent['type'];

export const SERVE_EVENT_TYPES = [
  'serve-session',
  'environment',
  'training-certificate',
  'served-model',
  'serving-code',
  'serve-command',
  'serve-keys',
] as const satisfies readonly ServeEventType[];

const SCHEMAS: Record<ServeEventType, z.ZodType<ServeEvent>> = {
  'serve-session': serveSessionEventSchema,
  environment: environmentEventSchema,
  'training-certificate': trainingCertificateEventSchema,
  'served-model': servedModelEventSchema,
  'serving-code': servingCodeEventSchema,
  'serve-command': serveCommandEventSchema,
  'serve-keys': serveKeysEventSchema,
};

const MAX_SERVE_RECORDS = 16;
export const serveLogSchema = z.array(celRecordSchemaFor(SERVE_EVENT_TYPES)).max(MAX_SERVE_RECORDS);
export type UntrustedServeRecord = CelRecord<{ type: ServeEventType; [field: string]: unknown }>;

/** A serving log's events by role, once every record was checked and typed. */
export interface ServeLog {
  session: ServeSessionEvent;
  environment: z.infer<typeof environmentEventSchema>;
  trainingCertificate: TrainingCertificateEvent;
  model: ServedModelEvent;
  code?: ServingCodeEvent;
  command: ServeCommandEvent;
  keys: ServeKeysEvent;
}

/**
 * Types each event (whose digest was already checked) and requires the one valid order:
 * serve-session, environment, training-certificate, served-model, [serving-code], serve-command,
 * serve-keys. Anything else is `eventlog.content`.
 */
export function readServeLog(records: readonly UntrustedServeRecord[]): ServeLog {
  const events = records.map((r, i) => {
    const parsed = SCHEMAS[r.content.type].safeParse(r.content);
    if (!parsed.success)
      throw new VerificationError(
        'eventlog.content',
        `event ${i} (${r.content.type}) is malformed ${describeSchemaError(parsed.error)}`,
      );
    return parsed.data;
  });
  const kinds = events.map((e) => e.type).join(',');
  const withCode = 'serve-session,environment,training-certificate,served-model,serving-code,serve-command,serve-keys';
  const withoutCode = 'serve-session,environment,training-certificate,served-model,serve-command,serve-keys';
  if (kinds !== withCode && kinds !== withoutCode)
    throw new VerificationError(
      'eventlog.content',
      `the serving log's events are [${kinds}], not session, environment, training certificate, model, [code], command, keys`,
    );
  const of = <T extends ServeEventType>(type: T) =>
    events.find((e) => e.type === type) as Extract<ServeEvent, { type: T }> | undefined;
  const code = of('serving-code');
  return {
    session: of('serve-session')!,
    environment: of('environment')!,
    trainingCertificate: of('training-certificate')!,
    model: of('served-model')!,
    ...(code && { code }),
    command: of('serve-command')!,
    keys: of('serve-keys')!,
  };
}
