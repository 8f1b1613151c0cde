/**
 * The model files a user drops on the browser verifier (a folder through <input webkitdirectory>,
 * or files), measured into the artifact event `artifact.model` compares with the certified
 * output: the manifest code of the CLI (src/measure/manifest.ts: OMS entry order, default
 * ignores, root digest; src/protocol/artifacts.ts: the event's fields), with the files read
 * from the browser instead of the disk.
 */
import { createHash } from 'node:crypto';
import { InputError } from '../errors.js';
import { compareNames, manifestOfEntries, resolveMeasureOptions, type ManifestEntry } from '../measure/manifest.js';
import { manifestFields } from '../protocol/artifacts.js';
import type { ArtifactEvent } from '../protocol/run-events.js';
import { digest } from '../util/crypto-backend.js';

/** What the page needs of a browser File. */
export interface DroppedFile {
  /** The path under the dropped folder, with the folder itself first (File.webkitRelativePath), or ''. */
  webkitRelativePath: string;
  name: string;
  size: number;
  arrayBuffer(): Promise<ArrayBuffer>;
  slice(start: number, end: number): { arrayBuffer(): Promise<ArrayBuffer> };
}

/**
 * Files up to this size are digested by WebCrypto in one call; larger ones (multi-GB weights)
 * are streamed through the bundled incremental SHA-256, since WebCrypto has no incremental
 * digest and cannot be given a file larger than the page's memory in one buffer.
 */
export const WEBCRYPTO_MAX_BYTES = 256 * 1024 * 1024;
const CHUNK_BYTES = 16 * 1024 * 1024;

/** A dropped file's name in the manifest: its path under the dropped folder, or its own name. */
function manifestName(file: DroppedFile): string {
  const path = file.webkitRelativePath;
  return path.includes('/') ? path.slice(path.indexOf('/') + 1) : file.name;
}

/** The name of what was dropped, for the check's reason: the folder, or the file names. */
export function droppedModelName(files: readonly DroppedFile[]): string {
  const folder = files[0]?.webkitRelativePath.split('/')[0];
  if (folder) return `the dropped folder ${folder}`;
  return files.length === 1 ? `the dropped file ${files[0]!.name}` : `the ${files.length} dropped files`;
}

async function sha256Hex(file: DroppedFile, oneShotMaxBytes: number): Promise<string> {
  if (file.size <= oneShotMaxBytes)
    return (await digest('SHA-256', new Uint8Array(await file.arrayBuffer()))).toString('hex');
  const hash = createHash('sha256');
  for (let start = 0; start < file.size; start += CHUNK_BYTES)
    hash.update(new Uint8Array(await file.slice(start, Math.min(start + CHUNK_BYTES, file.size)).arrayBuffer()));
  return hash.digest('hex') as string;
}

/**
 * The artifact event of the dropped model, as `measureModelArtifact` makes it of a directory:
 * one entry per file (OMS `files` method, SHA-256), the default ignores (top-level .git,
 * .gitattributes, .github, .gitignore), entries in the reference tool's order.
 */
export async function measureDroppedModel(
  files: readonly DroppedFile[],
  oneShotMaxBytes = WEBCRYPTO_MAX_BYTES,
): Promise<ArtifactEvent> {
  const settings = resolveMeasureOptions({});
  const ignored = new Set(settings.ignorePaths);
  const isIgnored = (name: string) => {
    const parts = name.split('/');
    return parts.some((_, i) => ignored.has(parts.slice(0, i + 1).join('/')));
  };
  const kept = files
    .map((file) => ({ file, name: manifestName(file) }))
    .filter(({ name }) => !isIgnored(name))
    .sort((a, b) => compareNames(a.name, b.name));
  if (kept.length === 0)
    throw new InputError('measure.empty', `${droppedModelName(files)} holds no files to measure (after ignores)`);
  const entries: ManifestEntry[] = [];
  for (const { file, name } of kept)
    entries.push({ name, digest: await sha256Hex(file, oneShotMaxBytes), size: file.size });
  const manifest = manifestOfEntries(entries, settings);
  return { type: 'output', role: 'model', name: droppedModelName(files), ...manifestFields(manifest) };
}
