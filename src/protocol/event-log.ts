import { createHash } from 'node:crypto';
import { z } from 'zod';
import { InputError, VerificationError } from '../errors.js';
import { canonicalize, isCanonicalizable, MAX_JCS_DEPTH } from '../util/jcs.js';
import { digest } from '../util/crypto-backend.js';
import { describeRegister, type MeasurementRegister } from '../tpm/measurement-register.js';
import { parseRunEvent, RUN_EVENT_TYPES, type RunEvent, type RunEventType } from './run-events.js';

/**
 * The aicert event log: TCG Canonical Event Log (CEL) records in the JSON encoding. Each
 * record's SHA-256 digest is SHA-256 of the RFC 8785 canonical JSON of its content, and the
 * records extend one application PCR in order. The log is untrusted input: `verifyEventLog`
 * recomputes every digest from its content, replays the register and parses each content into
 * its RunEvent type, and only then are the events returned as verified. A record names its
 * register as CEL does: `pcr` for a PCR, `nv_index` for an NV extend index (the default).
 */
export const EVENT_CONTENT_TYPE = 'aicert';

/** An event's content as a certificate carries it: typed by its kind, its fields unchecked. */
export interface UntrustedEvent {
  type: RunEventType;
  [field: string]: unknown;
}

/** One CEL record: untrusted content as parsed from a certificate, or a RunEvent as a run writes it. */
export interface CelRecord<Content extends { type: string } = UntrustedEvent> {
  recnum: number;
  /** Exactly one of `pcr` and `nv_index`. */
  pcr?: number;
  nv_index?: number;
  digests: Array<{ hashAlg: 'sha256'; digest: string }>;
  content_type: typeof EVENT_CONTENT_TYPE;
  content: Content;
}

const MAX_RECORDS = 100_000;

/** NV index handles: TPM_HT_NV_INDEX (0x01) in the top byte. */
export const nvIndexSchema = z.number().int().min(0x01000000).max(0x01ffffff);

/**
 * The JSON shape of a record whose content is one of `types`: the run's events (`celRecordSchema`),
 * or a serving session's (protocol/serve-events.ts), which share the record format but not the kinds.
 */
export function celRecordSchemaFor<const Types extends readonly [string, ...string[]]>(types: Types) {
  return z
    .strictObject({
      recnum: z.number().int().nonnegative(),
      pcr: z.number().int().min(0).max(23).optional(),
      nv_index: nvIndexSchema.optional(),
      digests: z
        .array(
          z.strictObject({
            hashAlg: z.literal('sha256'),
            digest: z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lower-case hex digits'),
          }),
        )
        .length(1),
      content_type: z.literal(EVENT_CONTENT_TYPE),
      // Its digest is recomputed over its RFC 8785 encoding, so content without one is malformed.
      content: z
        .looseObject({ type: z.enum(types) })
        .refine(
          isCanonicalizable,
          `content must be canonical-JSON encodable (finite numbers, nesting at most ${MAX_JCS_DEPTH} levels)`,
        ),
    })
    .refine(
      (r) => (r.pcr === undefined) !== (r.nv_index === undefined),
      'a record names exactly one of pcr and nv_index',
    );
}
export const celRecordSchema = celRecordSchemaFor(RUN_EVENT_TYPES);
export const eventLogSchema = z.array(celRecordSchema).max(MAX_RECORDS);

/** What an event's digest is taken over: the UTF-8 of its content's canonical JSON (RFC 8785). */
function eventDigestInput(content: { type: string }): Buffer {
  return Buffer.from(canonicalize(content), 'utf8');
}

/** An event's digest, synchronously: what the run extends (makeRecord). */
export function eventDigest(content: { type: string }): Buffer {
  return createHash('sha256').update(eventDigestInput(content)).digest();
}

/** The same digest by the crypto backend (WebCrypto in the browser): what the verifier recomputes. */
export function verifiedEventDigest(content: { type: string }): Promise<Buffer> {
  return digest('SHA-256', eventDigestInput(content));
}

/** Builds the next record of a log: its digest is computed from its content. */
export function makeRecord<Content extends { type: string } = RunEvent>(
  recnum: number,
  register: MeasurementRegister,
  content: Content,
): CelRecord<Content> {
  return {
    recnum,
    ...(register.kind === 'pcr' ? { pcr: register.pcr } : { nv_index: register.index }),
    digests: [{ hashAlg: 'sha256', digest: eventDigest(content).toString('hex') }],
    content_type: EVENT_CONTENT_TYPE,
    content,
  };
}

/** The register a record names; undefined unless it names exactly one. */
export function recordRegister(r: CelRecord<{ type: string }>): MeasurementRegister | undefined {
  if (r.pcr !== undefined && r.nv_index === undefined) return { kind: 'pcr', pcr: r.pcr };
  if (r.nv_index !== undefined && r.pcr === undefined) return { kind: 'nv', index: r.nv_index };
  return undefined;
}

function sameRegister(a: MeasurementRegister | undefined, b: MeasurementRegister): boolean {
  if (a?.kind === 'pcr' && b.kind === 'pcr') return a.pcr === b.pcr;
  if (a?.kind === 'nv' && b.kind === 'nv') return a.index === b.index;
  return false;
}

/** PCR_Extend (and NV_Extend of a SHA-256 extend index) in software: SHA-256(old ‖ digest). */
export function extendPcr(value: Buffer, eventDigest: Buffer): Promise<Buffer> {
  return digest('SHA-256', Buffer.concat([value, eventDigest]));
}

/** Replays records onto a register that starts at zero (a reset PCR, a fresh boot, a new NV index). */
export async function replayEventLog(records: readonly CelRecord<{ type: string }>[]): Promise<Buffer> {
  let value: Buffer = Buffer.alloc(32);
  for (const r of records) value = await extendPcr(value, Buffer.from(r.digests[0]!.digest, 'hex'));
  return value;
}

/** Parses the JSON shape of an event log; the records stay untrusted. */
export function parseEventLog(json: unknown): CelRecord[] {
  const parsed = eventLogSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InputError(
      'eventlog.shape',
      `event log is malformed at ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`,
    );
  }
  return parsed.data;
}

/**
 * Verifies the log against a register value that a verified quote or NV certification vouches
 * for: records numbered 0, 1, 2… on the expected register (`eventlog.sequence`), each digest
 * equal to the digest of its content (`eventlog.content`), and the replay equal to the attested
 * value (`eventlog.replay`). Returns the events, now verified and typed (run-events.ts).
 */
export async function verifyEventLog(
  records: readonly CelRecord[],
  register: MeasurementRegister,
  quotedValue: Buffer,
): Promise<RunEvent[]> {
  await checkRecords(records, register, quotedValue);
  return records.map((r, i) => parseRunEvent(r.content, i));
}

/**
 * The checks of `verifyEventLog` that do not depend on the kinds of events: numbering, register,
 * digests and replay. A serving session's log (serve-events.ts) goes through the same checks.
 */
export async function checkRecords(
  records: readonly CelRecord<{ type: string }>[],
  register: MeasurementRegister,
  quotedValue: Buffer,
): Promise<void> {
  for (const [i, r] of records.entries()) {
    if (r.recnum !== i)
      throw new VerificationError(
        'eventlog.sequence',
        `event ${i} has record number ${r.recnum}; records must be numbered 0, 1, 2, … without gaps`,
      );
    const on = recordRegister(r);
    if (!sameRegister(on, register))
      throw new VerificationError(
        'eventlog.sequence',
        `event ${i} (${r.content.type}) is on ${on ? describeRegister(on) : 'no single register'}, the run used ${describeRegister(register)}`,
      );
    const recomputed = (await verifiedEventDigest(r.content)).toString('hex');
    if (recomputed !== r.digests[0]!.digest) {
      throw new VerificationError(
        'eventlog.content',
        `event ${i} (${r.content.type}): its content hashes to ${recomputed}, the log records ${r.digests[0]!.digest}`,
      );
    }
  }
  const replayed = await replayEventLog(records);
  if (!replayed.equals(quotedValue)) {
    throw new VerificationError(
      'eventlog.replay',
      `replaying ${records.length} events gives ${describeRegister(register)} = ${replayed.toString('hex')}, the TPM attested ${quotedValue.toString('hex')}`,
    );
  }
}
