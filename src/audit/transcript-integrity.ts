import { UsageError, VerificationError } from '../errors.js';
import { readSafetensorsHeader } from '../measure/formats/safetensors.js';
import { uncheckableDtype } from '../protocol/checkpoint-dtypes.js';
import { measurePath, type Manifest } from '../measure/manifest.js';
import type { HashPool } from '../measure/hash-pool.js';
import { checkpointFileName, checkpointPath, TRANSCRIPT_CHECKPOINTS } from '../protocol/transcript-layout.js';
import { measureCheckpointWeights } from '../protocol/model-tensors.js';
import type { ArtifactEvent } from '../protocol/run-events.js';
import type { CheckpointEvent } from '../protocol/run-events.js';

const CHECKPOINT_FILE = /^checkpoints\/(\d{6,})\.safetensors$/;

/**
 * Hashes the transcript directory once and holds it against the certificate: every checkpoint
 * file must have the digest and size extended into the PCR the moment it appeared (a checkpoint
 * swapped later, even during the run, fails here), no unmeasured checkpoint may sit beside them,
 * the whole directory (meta.json and batches.jsonl included) must be the transcript measured
 * after the run, and the last checkpoint's weights must have the digest the output model was
 * compared with. A checkpoint holding a tensor of a dtype the audit cannot compare makes the run
 * unauditable (a usage error, exit 2): `aicert run` refuses such runs, older versions did not.
 */
export async function checkTranscriptIntegrity(
  transcript: string,
  checkpoints: readonly CheckpointEvent[],
  measured: ArtifactEvent | undefined,
  pool: HashPool,
): Promise<Manifest> {
  const manifest = await measurePath(transcript, { pool });
  const files = new Map(manifest.entries.map((e) => [e.name, e]));
  for (const c of checkpoints) {
    const name = `${TRANSCRIPT_CHECKPOINTS}/${checkpointFileName(c.index)}`;
    const file = files.get(name);
    if (!file)
      throw new VerificationError(
        'audit.transcript',
        `${name} is missing from the transcript, but checkpoint ${c.index} was measured during the run`,
      );
    if (file.digest !== c.sha256 || file.size !== c.bytes) {
      throw new VerificationError(
        'audit.transcript',
        `${name} is not the checkpoint measured during the run: sha256 ${file.digest} (${file.size} bytes), but the TPM recorded ${c.sha256} (${c.bytes} bytes). It was replaced after it was written.`,
      );
    }
  }
  const extra = manifest.entries
    .map((e) => CHECKPOINT_FILE.exec(e.name))
    .find((m) => m && Number(m[1]) >= checkpoints.length);
  if (extra)
    throw new VerificationError(
      'audit.transcript',
      `${extra[0]} was never measured during the run (the run measured ${checkpoints.length} checkpoints)`,
    );
  if (!measured)
    throw new VerificationError(
      'audit.transcript',
      'the certificate records no transcript output: the run did not measure its transcript at the end',
    );
  if (manifest.rootDigest !== measured.digest.sha256) {
    throw new VerificationError(
      'audit.transcript',
      `the transcript directory (sha256 ${manifest.rootDigest}) is not the one measured at the end of the run (${measured.digest.sha256}): ${describeChange(manifest, measured)}`,
    );
  }
  await checkLastWeights(transcript, checkpoints.at(-1), pool);
  for (const c of checkpoints) {
    const problem = uncheckableDtype(readSafetensorsHeader(checkpointPath(transcript, c.index)).tensors);
    if (problem)
      throw new UsageError(
        'usage.checkpoint-dtype',
        `checkpoint ${c.index} cannot be audited: ${problem}; this run cannot be audited (docs/audit.md, "Checkpoint dtypes")`,
      );
  }
  return manifest;
}

/**
 * `trainer.final` held the output model against the weights digest recorded for the last
 * checkpoint; this holds that digest against the checkpoint file the audit replays towards, so a
 * digest measured from other bytes than the file's (a file rewritten while it was measured)
 * cannot tie the model to a training that never ended in it.
 */
async function checkLastWeights(transcript: string, last: CheckpointEvent | undefined, pool: HashPool): Promise<void> {
  if (!last?.weights) return; // verification already failed such a certificate at trainer.final
  const weights = await measureCheckpointWeights(checkpointPath(transcript, last.index), last.bytes, pool);
  if (weights.sha256 !== last.weights.sha256 || weights.tensors !== last.weights.tensors) {
    throw new VerificationError(
      'audit.transcript',
      `the weights of checkpoint ${last.index} (${weights.tensors} tensors, digest ${weights.sha256.slice(0, 16)}…) are not the ones the run recorded (${last.weights.tensors} tensors, ${last.weights.sha256.slice(0, 16)}…), which the output model was held against`,
    );
  }
}

/** The files whose name or content differs between the two manifests. */
function describeChange(manifest: Manifest, measured: ArtifactEvent): string {
  if (!measured.entries) return 'its files differ';
  const certified = new Set(measured.entries.map((e) => `${e.name}\0${e.sha256}`));
  const local = new Set(manifest.entries.map((e) => `${e.name}\0${e.digest}`));
  const differing = new Set(
    [...certified]
      .filter((x) => !local.has(x))
      .concat([...local].filter((x) => !certified.has(x)))
      .map((x) => x.split('\0')[0]!),
  );
  return `${[...differing].slice(0, 5).join(', ')} differ`;
}
