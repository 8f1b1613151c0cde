import { createHash } from 'node:crypto';
import { canonicalize } from '../util/jcs.js';
import type { CelRecord } from '../protocol/event-log.js';
import type { ArtifactEvent, RunEvent } from '../protocol/run-events.js';
import { readRunLog } from '../protocol/run-log.js';
import type { ResourceDescriptor, Statement } from './intoto.js';
import { STATEMENT_V1_TYPE } from './intoto.js';
import { AICERT_BUILD_TYPE, AICERT_BUILDER_ID, SLSA_PROVENANCE_V1, type ProvenancePredicate } from './provenance.js';

/**
 * The statement of a run is a pure function of its event log: `aicert run` builds it from the
 * events it extended, and the verifier rebuilds it from the verified log and requires the
 * signed statement to be exactly that. So nothing in the statement can say more than, or other
 * than, what the TPM measured.
 */
export function eventLogDigest(records: readonly CelRecord<RunEvent>[]): string {
  return createHash('sha256').update(canonicalize(records), 'utf8').digest('hex');
}

function descriptor(e: ArtifactEvent): ResourceDescriptor {
  return {
    name: e.name,
    digest: { ...e.digest },
    annotations: {
      role: e.role,
      files: e.files,
      bytes: e.bytes,
      ...(e.git && { git: e.git }),
      ...(e.records && {
        records: e.records.map((r) => ({
          path: r.path,
          records: r.records,
          orderRoot: r.orderRoot,
          setRoot: r.setRoot,
        })),
      }),
    },
  };
}

export function buildRunStatement(records: readonly CelRecord<RunEvent>[]): Statement<ProvenancePredicate> {
  const {
    session,
    environment,
    inputs,
    command,
    exit,
    outputs: allOutputs,
  } = readRunLog(records.map((r) => r.content));
  const outputs = allOutputs.filter((e) => e.role === 'model');
  const transcript = allOutputs.find((e) => e.role === 'transcript');
  const exitRecord = records.find((r) => r.content === exit)!;
  const { type: _type, ...platform } = environment;
  return {
    _type: STATEMENT_V1_TYPE,
    // A failed run (--certify-failure) may have no output: the subject is then the run itself, named by its exit event.
    subject:
      outputs.length > 0
        ? outputs.map(descriptor)
        : [{ name: `${command.output} (failed run, no output)`, digest: { sha256: exitRecord.digests[0]!.digest } }],
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: {
        buildType: AICERT_BUILD_TYPE,
        externalParameters: {
          command: command.argv,
          output: command.output,
          ...(session.pcr !== undefined && { pcr: session.pcr }),
          ...(session.nvIndex !== undefined && { nvIndex: session.nvIndex }),
        },
        internalParameters: { platform },
        resolvedDependencies: inputs.map(descriptor),
      },
      runDetails: {
        builder: { id: AICERT_BUILDER_ID, version: { aicert: session.aicertVersion } },
        metadata: { invocationId: session.sessionId, startedOn: session.startedAt, finishedOn: exit.finishedAt },
        byproducts: [
          {
            name: 'aicert:event-log',
            digest: { sha256: eventLogDigest(records) },
            annotations: { events: records.length },
          },
          {
            name: 'aicert:exit',
            digest: { sha256: exitRecord.digests[0]!.digest },
            annotations: {
              success: exit.success,
              exitCode: exit.exitCode,
              signal: exit.signal,
              durationMs: exit.durationMs,
            },
          },
          ...(transcript
            ? [
                {
                  name: 'aicert:transcript',
                  digest: { sha256: transcript.digest.sha256 },
                  annotations: { files: transcript.files, bytes: transcript.bytes },
                },
              ]
            : []),
        ],
      },
    },
  };
}
