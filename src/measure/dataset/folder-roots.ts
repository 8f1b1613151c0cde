import { createHash, type Hash } from 'node:crypto';
import { InputError } from '../../errors.js';
import { compareNames, listMeasuredFiles, resolveMeasureOptions } from '../manifest.js';
import type { FileRecord } from '../walker.js';
import { LeafBatcher } from './leaf-batcher.js';
import type { LeafTreeHashes } from './leaf-trees.js';
import { LeafTrees } from './leaf-trees.js';
import type { RecordRootsTuning } from './parallel-record-roots.js';
import { checkReadWhole, versionBeforeRead } from './record-file-version.js';
import { RecordPool } from './record-pool.js';
import { openRecordFile } from './records.js';

/**
 * Folders of files as datasets (docs/datasets.md, "Folders of files"): a record is a file, its
 * bytes the canonical encoding `fileRecord` gives (its path in the folder and its contents), and
 * the order tree follows the files in manifest name order. Each file is read once, streamed into
 * its leaf hash (and, for a certificate, its manifest digest), never held whole in memory: so a
 * file's size is not limited here (as in `aicert measure`), only what `data prove --file` reads.
 * Symbolic links, and files that are not regular, are refused by the listing (walker.ts); a file
 * that changes while it is read is `dataset.changed`.
 */

/** Files one folder dataset may hold: the listing keeps each one's name and version in memory. */
export const MAX_FOLDER_FILES = 1_000_000;
const READ_BYTES = 1024 * 1024;
/**
 * Files read at once. A small file costs a few system calls (open, stat, read, close) that wait on
 * the file system more than they use the CPU; overlapping them keeps libuv's threads busy. Each read
 * in flight holds one READ_BYTES buffer.
 */
const FILES_IN_FLIGHT = 8;

export interface FolderRootsOptions {
  pool?: RecordPool;
  tuning?: RecordRootsTuning;
  /** Sees the leaves in file order as they are made. */
  onLeaves?: (leaves: Buffer) => Promise<void>;
  /** Sees each file's SHA-256 (lowercase hex) and size, from the same read as its leaf. */
  onFile?: (file: FileRecord, sha256: string, size: number) => void;
}

export interface FolderRoots extends LeafTreeHashes {
  format: 'files';
  /** The files, in name order: the records. */
  files: number;
}

/**
 * A file's record: the compact JSON `{"path":…,"content":…}` of its path in the folder (the
 * manifest name: '/'-separated, relative, no `.` or `..` segments) and its contents in base64
 * (RFC 4648, padded). Renaming or moving a file changes its record; so do its bytes.
 */
export function fileRecord(name: string, content: Uint8Array): Buffer {
  return Buffer.from(`${recordPrefix(name)}${Buffer.from(content).toString('base64')}"}`, 'utf8');
}

function recordPrefix(name: string): string {
  return `{"path":${JSON.stringify(name)},"content":"`;
}

/** `--format files` given a file. */
export function notAFolder(path: string): InputError {
  return new InputError('dataset.files-not-folder', `${path} is a file; --format files takes a directory`);
}

/** The folder's files, in name order (compareNames), bounded in number; symbolic links refused. */
export async function folderFiles(path: string): Promise<FileRecord[]> {
  const files = await listMeasuredFiles(path, resolveMeasureOptions({}));
  if (files.length > MAX_FOLDER_FILES) {
    throw new InputError(
      'dataset.files-limit',
      `${path} holds ${files.length} files; a folder dataset may hold ${MAX_FOLDER_FILES}`,
    );
  }
  return files.sort((a, b) => compareNames(a.name, b.name));
}

/** Both trees of the folder at `path`, a record per file; `listed`: its files as folderFiles gives them. */
export async function folderRootsOf(
  path: string,
  options: FolderRootsOptions = {},
  listed?: FileRecord[],
): Promise<FolderRoots> {
  const files = listed ?? (await folderFiles(path));
  if (files.length === 1 && files[0]!.name === '.') throw notAFolder(path);
  const pool = options.pool ?? new RecordPool();
  const trees = new LeafTrees(pool, options.tuning);
  const batcher = new LeafBatcher(async (leaves) => {
    await trees.push(leaves);
    await options.onLeaves?.(leaves);
  });
  // Leaves (and onFile) go on in name order, whichever read ends first.
  const reading: Array<Promise<FileLeaf>> = [];
  const takeFirst = async () => {
    const { file, leaf, sha256, size } = await reading.shift()!;
    if (sha256 !== undefined) options.onFile?.(file, sha256, size);
    await batcher.add(leaf);
  };
  try {
    for (const file of files) {
      const read = fileLeaf(file, options.onFile !== undefined);
      read.catch(() => {}); // seen when its turn comes; until then, not an unhandled rejection
      reading.push(read);
      if (reading.length >= FILES_IN_FLIGHT) await takeFirst();
    }
    while (reading.length > 0) await takeFirst();
    await batcher.flush();
    return { format: 'files', files: files.length, ...(await trees.finish()) };
  } finally {
    await Promise.allSettled(reading); // a failed read leaves others in flight: let them close their files
    await trees.dispose();
    if (!options.pool) await pool.close();
  }
}

interface FileLeaf {
  file: FileRecord;
  leaf: Buffer;
  /** The file's SHA-256 (lowercase hex), when asked for. */
  sha256?: string;
  size: number;
}

/**
 * SHA-256(0x00 ‖ fileRecord(name, contents)), streamed: the contents are read once, in chunks,
 * and base64-encoded three bytes at a time as they come; the same bytes feed the file's digest.
 */
async function fileLeaf(file: FileRecord, withDigest: boolean): Promise<FileLeaf> {
  const handle = await openRecordFile(file.path);
  try {
    const before = await versionBeforeRead(handle, file.path, file);
    const leaf = createHash('sha256').update(Buffer.of(0)).update(recordPrefix(file.name), 'utf8');
    const digest: Hash | undefined = withDigest ? createHash('sha256') : undefined;
    const chunk = Buffer.allocUnsafe(READ_BYTES);
    let carry = Buffer.alloc(0);
    let position = 0;
    for (;;) {
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, position);
      if (bytesRead === 0) break;
      const bytes = chunk.subarray(0, bytesRead);
      digest?.update(bytes);
      position += bytesRead;
      const pending = carry.length > 0 ? Buffer.concat([carry, bytes]) : bytes;
      const whole = pending.length - (pending.length % 3);
      leaf.update(pending.subarray(0, whole).toString('base64'), 'latin1');
      carry = Buffer.from(pending.subarray(whole));
    }
    leaf.update(`${carry.toString('base64')}"}`, 'latin1');
    await checkReadWhole(handle, file.path, before, position);
    return { file, leaf: leaf.digest(), size: position, ...(digest && { sha256: digest.digest('hex') }) };
  } finally {
    await handle.close();
  }
}
