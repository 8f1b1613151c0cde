import { z } from 'zod';
import { VerificationError } from '../errors.js';
import { RECORD_FORMATS } from '../measure/dataset/record-format.js';
import { describeSchemaError } from '../util/schema-error.js';
import { trainerCommitmentSchema } from './trainer-commitment.js';
import { groupBindingSchema } from './group-commitment.js';

/**
 * The events of a certified run, in the order `aicert run` extends them into the application PCR
 * (docs/certificate.md, "Event log"): session, environment, inputs, command, commitment,
 * checkpoints (protocol trainers only), exit, outputs. `aicert run` writes them, the verifier
 * parses the verified log into them, the statement is derived from them: one definition each.
 */

/** Boot PCRs every quote also covers, so a policy can pin the boot chain (docs/security.md). */
export const BOOT_PCRS = [0, 1, 2, 3, 4, 5, 6, 7] as const;

const hex = (bytes: number) =>
  z.string().regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`), `expected ${bytes * 2} lower-case hex digits`);
const sha256Hex = hex(32);
const text = z.string().max(4096);
const count = z.number().int().nonnegative();

export const sessionEventSchema = z.strictObject({
  type: z.literal('session'),
  sessionId: hex(16),
  /** 32 bytes of TPM randomness: no two runs' logs are alike. */
  nonce: hex(32),
  startedAt: text,
  /**
   * The register the run extends: an NV extend index (its handle, and its Name once written,
   * hex: nameAlg ‖ H(TPMS_NV_PUBLIC)), or an application PCR (`--register pcr23`, and every
   * certificate made before NV registers). The verifier requires exactly one.
   */
  pcr: z.number().int().min(0).max(23).optional(),
  nvIndex: z.number().int().min(0x01000000).max(0x01ffffff).optional(),
  nvName: z
    .string()
    .regex(/^[0-9a-f]{4,132}$/)
    .optional(),
  /** TPM Name of the attestation key (nameAlg ‖ digest), hex. */
  akName: z.string().regex(/^[0-9a-f]{4,132}$/),
  aicertVersion: text,
});

/** The platform as the host reports it: no secrets (no environment variables, no host name). */
export const environmentEventSchema = z.strictObject({
  type: z.literal('environment'),
  os: z.strictObject({ platform: text, release: text, arch: text }),
  node: text,
  cpu: z.strictObject({ model: text, count }),
  memoryBytes: count,
  tpm: z.strictObject({ manufacturer: text, vendor: text, firmware: text }),
});

/** What an input or output is to the run; the statement's dependencies carry the input roles. */
export const INPUT_ROLES = ['code', 'dataset', 'base-model', 'config'] as const;
export const ARTIFACT_ROLES = [...INPUT_ROLES, 'model', 'transcript'] as const;
export type InputRole = (typeof INPUT_ROLES)[number];
export type ArtifactRole = (typeof ARTIFACT_ROLES)[number];

const datasetRecordsSchema = z.strictObject({
  path: text,
  format: z.enum(RECORD_FORMATS),
  records: count,
  distinctRecords: count,
  orderRoot: sha256Hex,
  setRoot: sha256Hex,
  headerSha256: sha256Hex.optional(),
  leafHash: z.literal('sha256(0x00 || record)'),
});

/** More tensors than this and a model output's tensors are not listed (docs/certificate.md). */
export const MAX_LISTED_TENSORS = 100_000;

/**
 * A tensor of a protocol trainer's output model: the file holding it (relative to the output),
 * its name, dtype and shape as the safetensors header gives them, and the SHA-256 of its bytes.
 */
export const modelTensorSchema = z.strictObject({
  file: text,
  name: text,
  dtype: z.string().max(32),
  shape: z.array(count).max(64),
  sha256: sha256Hex,
});
export type ModelTensor = z.infer<typeof modelTensorSchema>;

/**
 * An input or output, named by content: the OMS manifest root of its files (SHA-256), never by
 * a path or a commit id alone (protocol/artifacts.ts measures them).
 */
export const artifactEventSchema = z.strictObject({
  type: z.enum(['input', 'output']),
  role: z.enum(ARTIFACT_ROLES),
  name: text,
  digest: z.strictObject({
    sha256: sha256Hex,
    gitCommit: z
      .string()
      .regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/)
      .optional(),
  }),
  files: count,
  bytes: count,
  entries: z.array(z.strictObject({ name: text, sha256: sha256Hex, size: count })).optional(),
  git: z
    .strictObject({
      commit: z
        .string()
        .regex(/^[0-9a-f]{40,64}$/)
        .optional(),
      tree: z
        .string()
        .regex(/^[0-9a-f]{40,64}$/)
        .optional(),
      dirty: z.boolean(),
    })
    .optional(),
  records: z.array(datasetRecordsSchema).optional(),
  /** The model output of a trainer run: every tensor of its safetensors files (protocol/model-tensors.ts). */
  tensors: z.array(modelTensorSchema).max(MAX_LISTED_TENSORS).optional(),
});

/** How the training command was confined (run/isolation.ts, docs/security.md). */
export const commandIsolationSchema = z.discriminatedUnion('mode', [
  /** Not confined: `--isolation none`, or a certificate made before aicert confined commands. */
  z.strictObject({ mode: z.literal('none') }),
  z.strictObject({
    mode: z.literal('namespaces'),
    namespaces: z.array(z.enum(['user', 'mount', 'network'])),
    /** What the command could not reach. */
    hidden: z.array(z.enum(['tpm-device', 'tpm-socket', 'tpm-simulator-directory', 'aicert-state', 'tpm-locks'])),
    capabilities: z.literal('none'),
    /**
     * `none`: a network namespace of its own, no interface (the default). `host`: the host's
     * network (`--network host`, for a distributed trainer that talks to its peers); the mount
     * namespace still hides the TPM, and a TPM reachable over TCP is refused (run/isolation.ts).
     */
    network: z.enum(['none', 'host']),
  }),
]);
export type CommandIsolation = z.infer<typeof commandIsolationSchema>;

export const commandEventSchema = z.strictObject({
  type: z.literal('command'),
  argv: z.array(z.string()),
  /** The output directory's name. */
  output: text,
  /** Absent in certificates made before aicert confined commands: read as `{ mode: 'none' }`. */
  isolation: commandIsolationSchema.optional(),
});

export const commitmentEventSchema = z.strictObject({
  type: z.literal('commitment'),
  /** The digests of every event before this one: what the start quote commits to. */
  events: z.array(sha256Hex),
  trainer: trainerCommitmentSchema.optional(),
  /** A multi-node run: the group commitment's digest and this node's rank (docs/distributed.md). */
  group: groupBindingSchema.optional(),
});

/** A checkpoint of a protocol trainer, hashed the moment its file appeared. */
export const checkpointEventSchema = z.strictObject({
  type: z.literal('checkpoint'),
  index: count,
  sha256: sha256Hex,
  bytes: count,
  /**
   * The checkpoint's weights (tensors not under "optimizer/"): how many, and the digest of the set
   * (protocol/model-tensors.ts, tensorSetDigest). Absent in certificates made before aicert
   * recorded it; such a run fails `trainer.final`.
   */
  weights: z.strictObject({ tensors: count, sha256: sha256Hex }).optional(),
});

export const exitEventSchema = z.strictObject({
  type: z.literal('exit'),
  exitCode: z.number().int().nullable(),
  signal: text.nullable(),
  success: z.boolean(),
  durationMs: z.number().nonnegative(),
  finishedAt: text,
});

export type SessionEvent = z.infer<typeof sessionEventSchema>;
export type EnvironmentEvent = z.infer<typeof environmentEventSchema>;
export type ArtifactEvent = z.infer<typeof artifactEventSchema> & { role: ArtifactRole };
export type CommandEvent = z.infer<typeof commandEventSchema>;
export type CommitmentEvent = z.infer<typeof commitmentEventSchema>;
export type CheckpointEvent = z.infer<typeof checkpointEventSchema>;
export type ExitEvent = z.infer<typeof exitEventSchema>;

export type RunEvent =
  | SessionEvent
  | EnvironmentEvent
  | ArtifactEvent
  | CommandEvent
  | CommitmentEvent
  | CheckpointEvent
  | ExitEvent;
export type RunEventType = RunEvent['type'];

/** Kinds of events, in the order a run records them (inputs, checkpoints and outputs repeat). */
export const RUN_EVENT_TYPES = [
  'session',
  'environment',
  'input',
  'command',
  'commitment',
  'checkpoint',
  'exit',
  'output',
] as const satisfies readonly RunEventType[];

const SCHEMAS: Record<RunEventType, z.ZodType<RunEvent>> = {
  session: sessionEventSchema,
  environment: environmentEventSchema,
  input: artifactEventSchema,
  command: commandEventSchema,
  commitment: commitmentEventSchema,
  checkpoint: checkpointEventSchema,
  exit: exitEventSchema,
  output: artifactEventSchema,
};

/** The event if its content is well formed, else undefined: for showing claims (`aicert inspect`), never for verifying. */
export function readClaimedEvent(content: { type: RunEventType }): RunEvent | undefined {
  const parsed = SCHEMAS[content.type].safeParse(content);
  return parsed.success ? parsed.data : undefined;
}

/**
 * Reads one event's content, whose digest was already checked, into its type. A malformed trainer
 * commitment is reported as `trainer.commitment`, any other malformed event as `eventlog.content`.
 */
export function parseRunEvent(content: { type: RunEventType }, index: number): RunEvent {
  const parsed = SCHEMAS[content.type].safeParse(content);
  if (parsed.success) return parsed.data;
  const inTrainer = content.type === 'commitment' && parsed.error.issues[0]?.path[0] === 'trainer';
  throw new VerificationError(
    inTrainer ? 'trainer.commitment' : 'eventlog.content',
    `event ${index} (${content.type}) is malformed ${describeSchemaError(parsed.error)}`,
  );
}
