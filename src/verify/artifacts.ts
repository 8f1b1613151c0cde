import { measureCodeArtifact, measureDatasetArtifact, measureModelArtifact } from '../protocol/artifacts.js';
import type { ArtifactEvent } from '../protocol/run-events.js';
import type { RunLog } from '../protocol/run-log.js';
import type { CheckResult } from './checklist.js';

export type ArtifactCheckId = 'artifact.model' | 'artifact.data' | 'artifact.code';

/** Local copies a verifier re-hashes and compares with what the certificate recorded. */
export interface ArtifactPaths {
  model?: string;
  data?: string[];
  code?: string;
}

/**
 * Re-measures each local copy given and compares its content digest with the verified event
 * log: `artifact.model` against the output, `artifact.data` against some dataset input,
 * `artifact.code` against the code input. Differences name the files that differ.
 */
export async function checkArtifacts(log: Pick<RunLog, 'inputs' | 'outputs'>, paths: ArtifactPaths): Promise<CheckResult<ArtifactCheckId>[]> {
  const artifacts = [...log.inputs, ...log.outputs];
  const results: CheckResult<ArtifactCheckId>[] = [];
  const compare = (id: ArtifactCheckId, local: ArtifactEvent, candidates: ArtifactEvent[], path: string) => {
    const match = candidates.find((c) => c.digest.sha256 === local.digest.sha256 && sameFileNames(c, local));
    if (match) {
      results.push({ id, status: 'ok', reason: `${path} has the certified content (sha256 ${local.digest.sha256}, ${local.files} files)` });
      return;
    }
    const differing = candidates.length === 1 ? describeDifference(candidates[0]!, local) : `none of the ${candidates.length} certified ${id.slice('artifact.'.length)} inputs match`;
    results.push({ id, status: 'failed', reason: `${path} is not the certified content (local sha256 ${local.digest.sha256}): ${differing}` });
  };
  const byRole = (role: string) => artifacts.filter((a) => a.role === role);

  if (paths.model) compare('artifact.model', await measureModelArtifact(paths.model, 'model', 'output'), byRole('model'), paths.model);
  else results.push({ id: 'artifact.model', status: 'skipped', reason: 'no --model given: the model files were not re-hashed' });
  if (paths.data?.length) {
    for (const d of paths.data) compare('artifact.data', await measureDatasetArtifact(d), byRole('dataset'), d);
  } else results.push({ id: 'artifact.data', status: 'skipped', reason: 'no --data given: the datasets were not re-hashed' });
  if (paths.code) compare('artifact.code', await measureCodeArtifact(paths.code), byRole('code'), paths.code);
  else results.push({ id: 'artifact.code', status: 'skipped', reason: 'no --code given: the code was not re-hashed' });
  return results;
}

/**
 * The manifest root covers the files' digests in name order, not their names: a file renamed
 * without changing that order keeps the root. So the names are compared too, whenever the
 * certified event lists its files (it does up to MAX_LISTED_FILES of them).
 */
function sameFileNames(certified: ArtifactEvent, local: ArtifactEvent): boolean {
  if (!certified.entries || !local.entries) return true;
  return certified.entries.length === local.entries.length && certified.entries.every((e, i) => e.name === local.entries![i]!.name);
}

/** Which files differ between the certified manifest and the local one, when both were listed. */
function describeDifference(certified: ArtifactEvent, local: ArtifactEvent): string {
  if (!certified.entries || !local.entries) return `certified sha256 ${certified.digest.sha256}`;
  const want = new Map(certified.entries.map((e) => [e.name, e.sha256]));
  const have = new Map(local.entries.map((e) => [e.name, e.sha256]));
  const changed = [...want].filter(([n, d]) => have.has(n) && have.get(n) !== d).map(([n]) => n);
  const missing = [...want.keys()].filter((n) => !have.has(n));
  const extra = [...have.keys()].filter((n) => !want.has(n));
  const parts = [
    changed.length && `changed: ${changed.slice(0, 5).join(', ')}`,
    missing.length && `missing: ${missing.slice(0, 5).join(', ')}`,
    extra.length && `not certified: ${extra.slice(0, 5).join(', ')}`,
  ].filter(Boolean);
  return parts.join('; ') || `certified sha256 ${certified.digest.sha256}`;
}
