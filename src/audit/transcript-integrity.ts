import { VerificationError } from '../errors.js';
import { measurePath, type Manifest } from '../measure/manifest.js';
import type { HashPool } from '../measure/hash-pool.js';
import { checkpointFileName, TRANSCRIPT_CHECKPOINTS } from '../protocol/transcript-layout.js';
import type { ArtifactEvent } from '../protocol/run-events.js';
import type { CheckpointEvent } from '../protocol/run-events.js';

const CHECKPOINT_FILE = /^checkpoints\/(\d{6,})\.safetensors$/;

/**
 * Hashes the transcript directory once and holds it against the certificate: every checkpoint
 * file must have the digest and size extended into the PCR the moment it appeared (a checkpoint
 * swapped later, even during the run, fails here), no unmeasured checkpoint may sit beside them,
 * and the whole directory (meta.json and batches.jsonl included) must be the transcript measured
 * after the run.
 */
export async function checkTranscriptIntegrity(transcript: string, checkpoints: readonly CheckpointEvent[], measured: ArtifactEvent | undefined, pool?: HashPool): Promise<Manifest> {
  const manifest = await measurePath(transcript, { pool });
  const files = new Map(manifest.entries.map((e) => [e.name, e]));
  for (const c of checkpoints) {
    const name = `${TRANSCRIPT_CHECKPOINTS}/${checkpointFileName(c.index)}`;
    const file = files.get(name);
    if (!file) throw new VerificationError('audit.transcript', `${name} is missing from the transcript, but checkpoint ${c.index} was measured during the run`);
    if (file.digest !== c.sha256 || file.size !== c.bytes) {
      throw new VerificationError(
        'audit.transcript',
        `${name} is not the checkpoint measured during the run: sha256 ${file.digest} (${file.size} bytes), but the TPM recorded ${c.sha256} (${c.bytes} bytes). It was replaced after it was written.`,
      );
    }
  }
  const extra = manifest.entries.map((e) => CHECKPOINT_FILE.exec(e.name)).find((m) => m && Number(m[1]) >= checkpoints.length);
  if (extra) throw new VerificationError('audit.transcript', `${extra[0]} was never measured during the run (the run measured ${checkpoints.length} checkpoints)`);
  if (!measured) throw new VerificationError('audit.transcript', 'the certificate records no transcript output: the run did not measure its transcript at the end');
  if (manifest.rootDigest !== measured.digest.sha256) {
    throw new VerificationError('audit.transcript', `the transcript directory (sha256 ${manifest.rootDigest}) is not the one measured at the end of the run (${measured.digest.sha256}): ${describeChange(manifest, measured)}`);
  }
  return manifest;
}

/** The files whose name or content differs between the two manifests. */
function describeChange(manifest: Manifest, measured: ArtifactEvent): string {
  if (!measured.entries) return 'its files differ';
  const certified = new Set(measured.entries.map((e) => `${e.name}\0${e.sha256}`));
  const local = new Set(manifest.entries.map((e) => `${e.name}\0${e.digest}`));
  const differing = new Set([...certified].filter((x) => !local.has(x)).concat([...local].filter((x) => !certified.has(x))).map((x) => x.split('\0')[0]!));
  return `${[...differing].slice(0, 5).join(', ')} differ`;
}
