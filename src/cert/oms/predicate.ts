import { z } from 'zod';

/**
 * The OMS v1.0 predicate (ossf/model-signing-spec spec/v1.0.md §5, schemas/v1.0/predicate.schema.json):
 * the model's file manifest plus the serialization parameters a verifier needs to re-measure it.
 */

export const OMS_PREDICATE_TYPE = 'https://model_signing/signature/v1.0';

/** Hash identifiers of the OMS algorithm registry. */
export const OMS_HASH_TYPES = ['sha256', 'blake2b', 'blake3'] as const;
export type OmsHashType = (typeof OMS_HASH_TYPES)[number];

/** Digest length in bytes per OMS hash identifier (registry: BLAKE2b is the 512-bit variant). */
export const OMS_DIGEST_SIZE: Readonly<Record<OmsHashType, number>> = { sha256: 32, blake2b: 64, blake3: 32 };

const lowerHex = z.string().regex(/^[0-9a-f]+$/, 'must be lowercase hex');

/**
 * A resource descriptor. Unknown in-toto fields are allowed (spec §5.2.1). `algorithm` is any
 * string here; `parseOmsStatement` checks it against `hash_type`, because the reference tool
 * names shard digests `<hash>-sharded-<size>` while the spec schema lists only plain names.
 */
export const omsResourceSchema = z.looseObject({
  name: z.string().min(1),
  digest: lowerHex,
  algorithm: z.string().min(1),
});
export type OmsResource = z.infer<typeof omsResourceSchema>;

export const omsSerializationSchema = z
  .strictObject({
    method: z.enum(['files', 'shards']),
    hash_type: z.enum(OMS_HASH_TYPES),
    allow_symlinks: z.boolean(),
    shard_size: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
    ignore_paths: z.array(z.string().min(1)).optional(),
  })
  .refine((s) => (s.method === 'shards') === (s.shard_size !== undefined), {
    message: 'shard_size is required for the shards method and must be absent for the files method',
  });
export type OmsSerialization = z.infer<typeof omsSerializationSchema>;

export const omsPredicateSchema = z.strictObject({
  resources: z.array(omsResourceSchema).min(1),
  serialization: omsSerializationSchema,
});
export type OmsPredicate = z.infer<typeof omsPredicateSchema>;
