import { z } from 'zod';
import { resourceDescriptorSchema, type ResourceDescriptor } from './intoto.js';

/**
 * SLSA Provenance v1 (https://slsa.dev/spec/v1.0/provenance): the predicate of every aicert
 * statement. aicert fills it as follows (docs/certificate.md has every field):
 * - subject: the output model(s), by manifest root digest;
 * - buildDefinition.resolvedDependencies: code, datasets, base model, config, by content digest;
 * - runDetails: builder, session id, times, and byproducts binding the event log and the exit.
 */
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
export const AICERT_BUILD_TYPE = 'https://aicert.dev/training-run/v1';
export const AICERT_BUILDER_ID = 'https://aicert.dev/builder/tpm/v1';

const timestamp = z.iso.datetime({ offset: true });

export const provenancePredicateSchema = z.strictObject({
  buildDefinition: z.strictObject({
    buildType: z.string().min(1),
    externalParameters: z.record(z.string(), z.unknown()),
    internalParameters: z.record(z.string(), z.unknown()).optional(),
    resolvedDependencies: z.array(resourceDescriptorSchema).optional(),
  }),
  runDetails: z.strictObject({
    builder: z.strictObject({
      id: z.string().min(1),
      version: z.record(z.string(), z.string()).optional(),
      builderDependencies: z.array(resourceDescriptorSchema).optional(),
    }),
    metadata: z
      .strictObject({
        invocationId: z.string().optional(),
        startedOn: timestamp.optional(),
        finishedOn: timestamp.optional(),
      })
      .optional(),
    byproducts: z.array(resourceDescriptorSchema).optional(),
  }),
});
export type ProvenancePredicate = z.infer<typeof provenancePredicateSchema>;

/** The roles aicert gives its resolved dependencies (annotation `role`). */
export type DependencyRole = 'code' | 'dataset' | 'base-model' | 'config';

export function dependenciesWithRole(p: ProvenancePredicate, role: DependencyRole): ResourceDescriptor[] {
  return (p.buildDefinition.resolvedDependencies ?? []).filter((d) => d.annotations?.role === role);
}
