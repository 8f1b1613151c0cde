/**
 * Content manifests by the OpenSSF model-signing (OMS) v1.0 rules (spec §6): one digest per file
 * (`files`) or per fixed-size byte range (`shards`, named `path:start:end`), sorted, and a root
 * digest = SHA-256 over the concatenated raw digests — SHA-256 whatever the per-file algorithm.
 *
 * Sort order: the spec says "lexicographically by name"; the reference tool (model_signing) sorts
 * by path components and, for shards, by numeric offsets. The two differ only for names with a
 * character below '/' (e.g. `a-b/x` vs `a/y`) or shard offsets of different digit counts (files
 * over 10 GB), and it is the reference order that produced the root digests in circulation, so
 * we follow it. Verifiers recompute the root over the listed order, so either order verifies.
 */
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { InputError } from '../errors.js';
import { fileVersionOf } from './file-version.js';
import { mayReferToOtherFiles } from './formats/model-file-names.js';
import { HashPool, HASH_ALGORITHMS, type HashAlgorithm, type HashTask } from './hash-pool.js';
import { listModelFiles, type FileRecord } from './walker.js';

export interface ManifestEntry {
  /** POSIX path relative to the root ('.' for a single-file model), or `path:start:end` for a shard. */
  name: string;
  /** Lowercase hex. */
  digest: string;
  /** Bytes covered: the file size, or end − start for a shard. */
  size: number;
}

export interface Manifest {
  method: 'files' | 'shards';
  hashAlgorithm: HashAlgorithm;
  /** Present for `shards`. */
  shardSize?: number;
  /** Sorted as described at the top of this file. */
  entries: ManifestEntry[];
  /** Lowercase hex SHA-256 over the concatenated raw entry digests. */
  rootDigest: string;
  /** Relative paths left out (defaults and user ignores), sorted; recorded as OMS `ignore_paths`. */
  ignorePaths: string[];
  allowSymlinks: boolean;
}

export interface MeasureOptions {
  /** Per-file hash; default sha256 (the OMS default; equals the Hugging Face LFS oid). */
  algorithm?: HashAlgorithm;
  /** Selects the `shards` method with this many bytes per shard. */
  shardSize?: number;
  /** Exact relative POSIX paths (from the model root) to leave out, each with its subtree. */
  ignore?: string[];
  /** Follow symbolic links (never outside the root) instead of refusing them. Default false. */
  allowSymlinks?: boolean;
  /** Leave out top-level .git, .gitattributes, .github and .gitignore. Default true. */
  ignoreGitPaths?: boolean;
  /** Pool to hash with; default a pool of its own, closed before returning. */
  pool?: HashPool;
  /** Called with bytes hashed so far and the total. */
  onProgress?: (done: number, total: number) => void;
}

/** OMS §6.3.2: "Implementations SHOULD default to 1,000,000,000 bytes". */
export const DEFAULT_SHARD_SIZE = 1_000_000_000;

/** OMS §6.2: excluded by default, matched as top-level components only. */
export const DEFAULT_IGNORED_GIT_PATHS: readonly string[] = ['.git', '.gitattributes', '.github', '.gitignore'];

/** Options after defaults and validation. */
export interface MeasureSettings {
  algorithm: HashAlgorithm;
  shardSize: number | undefined;
  ignorePaths: string[];
  allowSymlinks: boolean;
  pool: HashPool | undefined;
  onProgress: ((done: number, total: number) => void) | undefined;
}

/**
 * Manifest of a model directory or single model file. A listed model file that names other files
 * (a safetensors index, ONNX external data) is parsed first: each file it names must be in the
 * listing, else `measure.reference-not-measured` (formats/describe.ts).
 */
export async function measurePath(path: string, options: MeasureOptions = {}): Promise<Manifest> {
  const settings = resolveMeasureOptions(options);
  return withPool(settings, async (pool) => {
    const files = await listMeasuredFiles(path, settings);
    await requireReferencedFilesMeasured(path, files, settings.allowSymlinks);
    return manifestOfFiles(files, settings, pool);
  });
}

/** The format parsers are loaded only for a listing that holds a model file naming others. */
async function requireReferencedFilesMeasured(
  path: string,
  files: readonly FileRecord[],
  allowSymlinks: boolean,
): Promise<void> {
  if (!files.some(({ name }) => mayReferToOtherFiles(name === '.' ? basename(path) : name))) return;
  const describe = await import('./formats/describe.js');
  describe.requireReferencedFilesMeasured(path, files, allowSymlinks);
}

/** The files a manifest of `path` names: listed by the OMS rules after ignores, at least one. */
export async function listMeasuredFiles(path: string, settings: MeasureSettings): Promise<FileRecord[]> {
  const files = await listModelFiles(path, {
    ignore: new Set(settings.ignorePaths),
    allowSymlinks: settings.allowSymlinks,
  });
  if (files.length === 0) {
    throw new InputError(
      'measure.empty',
      `${path} holds no files to measure (after ignores); an empty model cannot be measured`,
    );
  }
  return files;
}

/**
 * Runs `work` with the caller's pool, or with a pool of its own, closed afterwards. The pool is
 * made before the directory is listed so that its workers start up meanwhile.
 */
export async function withPool<T>(settings: MeasureSettings, work: (pool: HashPool) => Promise<T>): Promise<T> {
  if (settings.pool) return work(settings.pool);
  const pool = new HashPool();
  try {
    return await work(pool);
  } finally {
    await pool.close();
  }
}

export function resolveMeasureOptions(options: MeasureOptions): MeasureSettings {
  const algorithm = options.algorithm ?? 'sha256';
  if (!HASH_ALGORITHMS.includes(algorithm)) {
    throw new InputError('measure.bad-algorithm', `unknown hash algorithm ${String(algorithm)}`);
  }
  const { shardSize } = options;
  if (shardSize !== undefined && (!Number.isSafeInteger(shardSize) || shardSize < 1)) {
    throw new InputError(
      'measure.bad-shard-size',
      `shard size must be a positive whole number of bytes, got ${shardSize}`,
    );
  }
  const ignore = (options.ignore ?? []).map(normalizeIgnorePath);
  const defaults = options.ignoreGitPaths === false ? [] : DEFAULT_IGNORED_GIT_PATHS;
  return {
    algorithm,
    shardSize,
    ignorePaths: [...new Set([...defaults, ...ignore])].sort(compareNames),
    allowSymlinks: options.allowSymlinks ?? false,
    pool: options.pool,
    onProgress: options.onProgress,
  };
}

/**
 * An ignore path in canonical form (OMS §6.1.2, §6.2.1): relative, '/'-separated, no '.'/'..'
 * components, no glob characters, no trailing '/'.
 */
export function normalizeIgnorePath(raw: string): string {
  const bad = (why: string) => new InputError('measure.bad-ignore-path', `ignore path ${JSON.stringify(raw)} ${why}`);
  if (raw.startsWith('/')) throw bad('must be relative to the model root');
  if (/[*?[]/.test(raw)) throw bad('must not contain glob characters (* ? [); name exact paths');
  const parts = raw.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) throw bad('must not contain ".." components');
  if (parts.length === 0) throw bad('names no path');
  return parts.join('/');
}

/**
 * Entries are hashed this many at a time: a model of 100,000 small files then never holds
 * 100,000 task objects and digest buffers at once (peak memory), while any model of fewer files
 * is one call and keeps the pool's largest-first scheduling over all of it.
 */
const ENTRIES_PER_CALL = 4096;

/** Hashes `files` (from the walker) into a sorted manifest. */
export async function manifestOfFiles(
  files: readonly FileRecord[],
  settings: MeasureSettings,
  pool: HashPool,
): Promise<Manifest> {
  return manifestOfEntries(await hashEntries(files, settings, pool), settings);
}

/** Hashes `files` (from the walker) into manifest entries, in manifest order. */
export async function hashEntries(
  files: readonly FileRecord[],
  settings: MeasureSettings,
  pool: HashPool,
): Promise<ManifestEntry[]> {
  const planned = planEntries(files, settings.shardSize);
  const total = planned.reduce((sum, { start, end }) => sum + end - start, 0);
  const entries: ManifestEntry[] = [];
  const { onProgress } = settings;
  onProgress?.(0, total);
  let bytesBefore = 0;
  for (let first = 0; first < planned.length; first += ENTRIES_PER_CALL) {
    const slice = planned.slice(first, first + ENTRIES_PER_CALL);
    const tasks = slice.map(
      ({ file, start, end }): HashTask => ({
        path: file.path,
        start,
        end,
        algorithm: settings.algorithm,
        expectedVersion: fileVersionOf(file),
      }),
    );
    const base = bytesBefore;
    const digests = await pool.hashAll(tasks, onProgress && ((done) => onProgress(base + done, total)));
    for (const [i, { name, start, end }] of slice.entries()) {
      entries.push({ name, digest: digests[i]!.toString('hex'), size: end - start });
    }
    bytesBefore += tasks.reduce((sum, task) => sum + task.end - task.start, 0);
  }
  return entries;
}

/** The manifest of `entries`, digested under `settings` and already in manifest order. */
export function manifestOfEntries(entries: ManifestEntry[], settings: MeasureSettings): Manifest {
  return {
    method: settings.shardSize === undefined ? 'files' : 'shards',
    hashAlgorithm: settings.algorithm,
    ...(settings.shardSize === undefined ? {} : { shardSize: settings.shardSize }),
    entries,
    rootDigest: rootDigestOf(entries),
    ignorePaths: settings.ignorePaths,
    allowSymlinks: settings.allowSymlinks,
  };
}

/** One manifest entry to be: a whole file, or one shard of it. */
interface PlannedEntry {
  name: string;
  file: FileRecord;
  start: number;
  end: number;
}

/** One entry per file (or per shard; empty files have none then), in manifest order. */
function planEntries(files: readonly FileRecord[], shardSize: number | undefined): PlannedEntry[] {
  const sorted = [...files].sort((a, b) => compareNames(a.name, b.name));
  if (shardSize === undefined) return sorted.map((file) => ({ name: file.name, file, start: 0, end: file.size }));
  const entries: PlannedEntry[] = [];
  for (const file of sorted) {
    for (let start = 0; start < file.size; start += shardSize) {
      const end = Math.min(start + shardSize, file.size);
      entries.push({ name: `${file.name}:${start}:${end}`, file, start, end });
    }
  }
  return entries;
}

/**
 * The reference tool's order of relative POSIX paths: component by component, each compared by
 * Unicode code points — i.e. code-point order with '/' ranked below every character.
 */
export function compareNames(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

/**
 * Rank of a UTF-16 code unit such that ranks order strings by code point: surrogates (which
 * encode code points above U+FFFF) move above U+E000–U+FFFF; '/' goes below everything.
 */
function codePointRank(unit: number): number {
  if (unit === 0x2f) return -1;
  if (unit < 0xd800) return unit;
  return unit < 0xe000 ? unit + 0x2000 : unit - 0x800;
}

/** SHA-256 over the concatenated raw digests of `entries`, in the order given (OMS §6.5.1). */
export function rootDigestOf(entries: ReadonlyArray<Pick<ManifestEntry, 'digest'>>): string {
  const root = createHash('sha256');
  for (const entry of entries) root.update(Buffer.from(entry.digest, 'hex'));
  return root.digest('hex');
}
