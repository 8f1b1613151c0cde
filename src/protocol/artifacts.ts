import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { measurePath, type Manifest } from '../measure/manifest.js';
import { measureCode } from '../measure/code.js';
import { measureDatasetContent } from '../measure/dataset/dataset-content.js';
import type { HashPool } from '../measure/hash-pool.js';
import type { ArtifactEvent } from './run-events.js';

/**
 * Measures the inputs and outputs of a run into the events it records (run-events.ts): each is
 * named by content, the OMS manifest root of its files (SHA-256), never by a path or commit alone.
 */

/** Manifests longer than this are recorded by root and file count only, to bound the log. */
export const MAX_LISTED_FILES = 10_000;

/** What an artifact event records of a manifest (also used by the browser verifier for dropped model files). */
export function manifestFields(m: Manifest): Pick<ArtifactEvent, 'digest' | 'files' | 'bytes' | 'entries'> {
  return {
    digest: { sha256: m.rootDigest },
    files: m.entries.length,
    bytes: m.entries.reduce((sum, e) => sum + e.size, 0),
    ...(m.entries.length <= MAX_LISTED_FILES && {
      entries: m.entries.map((e) => ({ name: e.name, sha256: e.digest, size: e.size })),
    }),
  };
}

/** A model or base model directory (or single file). */
export async function measureModelArtifact(
  path: string,
  role: 'model' | 'base-model',
  type: 'input' | 'output',
  pool?: HashPool,
): Promise<ArtifactEvent> {
  const manifest = await measurePath(path, { pool });
  return { type, role, name: basename(resolve(path)), ...manifestFields(manifest) };
}

/** Training code: a clean git checkout is also named by commit and tree. */
export async function measureCodeArtifact(path: string, pool?: HashPool): Promise<ArtifactEvent> {
  const code = await measureCode(path, { pool });
  const event: ArtifactEvent = {
    type: 'input',
    role: 'code',
    name: basename(resolve(path)),
    ...manifestFields(code.manifest),
  };
  if (code.kind === 'git') {
    event.git = code.dirty
      ? { ...(code.commit && { commit: code.commit }), dirty: true }
      : { commit: code.commit, tree: code.tree, dirty: false };
    if (!code.dirty) event.digest.gitCommit = code.commit;
  }
  return event;
}

/**
 * A dataset: file manifest, plus Merkle roots over the records of its record files (JSONL, CSV,
 * text, Parquet, WebDataset tar; dataset-content.ts). A
 * record file's digest and roots come from one read of one descriptor (dataset-content.ts).
 */
export async function measureDatasetArtifact(path: string, pool?: HashPool): Promise<ArtifactEvent> {
  const { manifest, recordFiles } = await measureDatasetContent(path, { pool });
  const records: ArtifactEvent['records'] = recordFiles.map(({ name, commitment }) => ({ path: name, ...commitment }));
  return {
    type: 'input',
    role: 'dataset',
    name: basename(resolve(path)),
    ...manifestFields(manifest),
    ...(records.length > 0 && { records }),
  };
}

/** The run configuration file (aicert.yaml), by SHA-256 of its bytes. */
export async function measureConfigArtifact(path: string): Promise<ArtifactEvent> {
  const bytes = await readFile(path);
  return {
    type: 'input',
    role: 'config',
    name: basename(path),
    digest: { sha256: createHash('sha256').update(bytes).digest('hex') },
    files: 1,
    bytes: bytes.length,
  };
}

/** A trainer's transcript (checkpoints, batch log, meta), measured after the run. */
export async function measureTranscriptArtifact(path: string, pool?: HashPool): Promise<ArtifactEvent> {
  const manifest = await measurePath(path, { pool });
  return { type: 'output', role: 'transcript', name: basename(resolve(path)), ...manifestFields(manifest) };
}
