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
  /**
   * Measures the model copy `model` names: by default the files under that path
   * (`measureModelArtifact`); the browser verifier measures the files the user dropped
   * (src/web/dropped-model.ts) with the same manifest code.
   */
  measureModel?: (model: string) => Promise<ArtifactEvent>;
}

const measureModelFiles = (path: string) => measureModelArtifact(path, 'model', 'output');

/**
 * Re-measures each local copy given and compares its content digest with the verified event
 * log: `artifact.model` against the output, `artifact.data` against some dataset input (its
 * record trees too), `artifact.code` against the code input. Differences name the files that
 * differ.
 */
export async function checkArtifacts(
  log: Pick<RunLog, 'inputs' | 'outputs'>,
  paths: ArtifactPaths,
): Promise<CheckResult<ArtifactCheckId>[]> {
  const artifacts = [...log.inputs, ...log.outputs];
  const results: CheckResult<ArtifactCheckId>[] = [];
  const compare = (id: ArtifactCheckId, local: ArtifactEvent, candidates: ArtifactEvent[], path: string) => {
    const sameFiles = candidates.filter((c) => c.digest.sha256 === local.digest.sha256 && sameFileNames(c, local));
    // Every input certified with these files must carry the trees they give, not only one of them.
    const otherTrees = sameFiles.find((c) => !sameRecordTrees(c, local));
    if (otherTrees) {
      results.push({
        id,
        status: 'failed',
        reason: `${path} has the certified files but not the certified record trees: ${describeRecordDifference(otherTrees, local)}`,
      });
      return;
    }
    if (sameFiles.length > 0) {
      const trees = local.records?.length ? `, ${local.records.length} record trees` : '';
      results.push({
        id,
        status: 'ok',
        reason: `${path} has the certified content (sha256 ${local.digest.sha256}, ${local.files} files${trees})`,
      });
      return;
    }
    const differing =
      candidates.length === 1
        ? describeDifference(candidates[0]!, local)
        : `none of the ${candidates.length} certified ${id.slice('artifact.'.length)} inputs match`;
    results.push({
      id,
      status: 'failed',
      reason: `${path} is not the certified content (local sha256 ${local.digest.sha256}): ${differing}`,
    });
  };
  const byRole = (role: string) => artifacts.filter((a) => a.role === role);

  if (paths.model)
    compare(
      'artifact.model',
      await (paths.measureModel ?? measureModelFiles)(paths.model),
      byRole('model'),
      paths.model,
    );
  else
    results.push({
      id: 'artifact.model',
      status: 'skipped',
      reason: 'no --model given: the model files were not re-hashed',
    });
  if (paths.data?.length) {
    for (const d of paths.data) compare('artifact.data', await measureDatasetArtifact(d), byRole('dataset'), d);
  } else
    results.push({
      id: 'artifact.data',
      status: 'skipped',
      reason: 'no --data given: the datasets were not re-hashed',
    });
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
  return (
    certified.entries.length === local.entries.length &&
    certified.entries.every((e, i) => e.name === local.entries![i]!.name)
  );
}

/** What a record tree is compared by: everything recorded about it. */
const RECORD_TREE_FIELDS = [
  'path',
  'format',
  'records',
  'distinctRecords',
  'orderRoot',
  'setRoot',
  'headerSha256',
  'leafHash',
] as const;
type RecordTree = NonNullable<ArtifactEvent['records']>[number];

/**
 * The record trees (dataset roots) must be the ones the verifier computes from the same files:
 * the file digests alone do not vouch for roots that were recorded beside them. The same files
 * always give the same trees, in manifest order, so any difference (a tree missing, added, or
 * with another root or count) is a failure.
 */
function sameRecordTrees(certified: ArtifactEvent, local: ArtifactEvent): boolean {
  const want = certified.records ?? [];
  const have = local.records ?? [];
  return want.length === have.length && want.every((tree, i) => sameRecordTree(tree, have[i]!));
}

function sameRecordTree(a: RecordTree, b: RecordTree): boolean {
  return RECORD_TREE_FIELDS.every((field) => a[field] === b[field]);
}

function describeRecordDifference(certified: ArtifactEvent, local: ArtifactEvent): string {
  const want = new Map((certified.records ?? []).map((tree) => [tree.path, tree]));
  const have = new Map((local.records ?? []).map((tree) => [tree.path, tree]));
  const parts: string[] = [];
  for (const [name, tree] of want) {
    const mine = have.get(name);
    if (!mine) parts.push(`${name}: certified with a record tree, none computed`);
    else if (!sameRecordTree(tree, mine)) {
      const fields = RECORD_TREE_FIELDS.filter((field) => tree[field] !== mine[field]);
      parts.push(
        `${name}: ${fields.map((f) => `${f} certified ${String(tree[f])}, computed ${String(mine[f])}`).join('; ')}`,
      );
    }
  }
  for (const name of have.keys()) if (!want.has(name)) parts.push(`${name}: a record tree computed, none certified`);
  return parts.slice(0, 5).join('; ') || 'the record trees are listed in another order';
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
