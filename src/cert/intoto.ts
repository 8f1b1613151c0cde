import { z } from 'zod';
import { InputError } from '../errors.js';
import { describeSchemaError } from '../util/schema-error.js';

/**
 * in-toto Attestation Framework v1 Statement (in-toto/attestation spec/v1/statement.md): the
 * payload type every aicert DSSE envelope carries. The predicate is left to the caller's own
 * schema; this layer fixes only what the in-toto spec fixes.
 */

export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const STATEMENT_V1_TYPE = 'https://in-toto.io/Statement/v1';

/** DigestSet: algorithm name to encoded digest, e.g. { sha256: '<hex>' }. At least one entry. */
export const digestSetSchema = z
  .record(z.string().min(1), z.string().min(1))
  .refine((set) => Object.keys(set).length > 0, { message: 'a digest set needs at least one digest' });

/** ResourceDescriptor v1 (spec/v1/resource_descriptor.md): at least one of uri, digest, content. */
export const resourceDescriptorSchema = z
  .strictObject({
    name: z.string().min(1).optional(),
    uri: z.string().min(1).optional(),
    digest: digestSetSchema.optional(),
    content: z.string().optional(),
    downloadLocation: z.string().min(1).optional(),
    mediaType: z.string().min(1).optional(),
    annotations: z.record(z.string(), z.unknown()).optional(),
  })
  .refine((rd) => rd.uri !== undefined || rd.digest !== undefined || rd.content !== undefined, {
    message: 'a resource descriptor needs a uri, a digest or content',
  });
export type ResourceDescriptor = z.infer<typeof resourceDescriptorSchema>;

/** Statement v1. The predicate is optional in in-toto; its shape belongs to its predicate type. */
export const statementSchema = z.strictObject({
  _type: z.literal(STATEMENT_V1_TYPE),
  subject: z.array(resourceDescriptorSchema).min(1),
  predicateType: z.string().min(1),
  predicate: z.record(z.string(), z.unknown()).optional(),
});

export interface Statement<P = Record<string, unknown>> {
  _type: typeof STATEMENT_V1_TYPE;
  subject: ResourceDescriptor[];
  predicateType: string;
  predicate?: P;
}

/** Statement bytes as signed: UTF-8 JSON, two-space indented, so a decoded payload reads easily. */
export function serializeStatement<P>(statement: Statement<P>): Buffer {
  return Buffer.from(JSON.stringify(statement, null, 2), 'utf8');
}

/**
 * Parses statement bytes (a verified DSSE payload) and then its predicate, once the predicate
 * type is the expected one. Errors carry `codePrefix` so each statement kind reports under its
 * own name: `<prefix>.not-json`, `<prefix>.shape`, `<prefix>.predicate-type`, `<prefix>.predicate`.
 */
export function parseStatement<P extends z.ZodType>(
  bytes: Uint8Array,
  expected: { predicateType: string; predicate: P },
  codePrefix: string,
): Statement<z.infer<P>> & { predicate: z.infer<P> } {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw new InputError(`${codePrefix}.not-json`, 'the signed statement is not UTF-8 JSON', { cause: err });
  }
  const statement = statementSchema.safeParse(json);
  if (!statement.success) {
    throw new InputError(
      `${codePrefix}.shape`,
      `the signed statement is not an in-toto Statement v1: ${describeSchemaError(statement.error)}`,
    );
  }
  if (statement.data.predicateType !== expected.predicateType) {
    throw new InputError(
      `${codePrefix}.predicate-type`,
      `the signed statement has predicate type ${JSON.stringify(statement.data.predicateType)}, ` +
        `expected ${expected.predicateType}`,
    );
  }
  const predicate = expected.predicate.safeParse(statement.data.predicate);
  if (!predicate.success) {
    throw new InputError(
      `${codePrefix}.predicate`,
      `the signed ${expected.predicateType} predicate is malformed: ${describeSchemaError(predicate.error)}`,
    );
  }
  return { ...statement.data, predicate: predicate.data };
}
