import type { FileHandle } from 'node:fs/promises';
import tar from 'tar-stream';
import { AicertError, InputError } from '../../errors.js';
import { fileVersionOf } from '../file-version.js';
import { checkReadWhole, versionBeforeRead } from './record-file-version.js';
import { LeafBatcher } from './leaf-batcher.js';
import { leafSinkFor } from './leaf-trees.js';
import { leafHash } from './merkle.js';
import type { LeavesOnly, RecordLeavesRead, RecordRoots, RecordRootsOptions } from './parallel-record-roots.js';
import { RecordPool } from './record-pool.js';
import { DEFAULT_MAX_RECORD_BYTES } from './records.js';

const READ_BYTES = 1024 * 1024;
/** Entries one tar may hold (files and directories): a WebDataset shard holds thousands. */
export const MAX_TAR_ENTRIES = 1_000_000;
/** Files one sample may hold. */
export const MAX_SAMPLE_FILES = 256;
/** A key (the path up to its first dot) this long is not a sample name. */
const MAX_KEY_LENGTH = 4096;

type FileOptions = Omit<RecordRootsOptions, 'format'>;

/**
 * Both record trees of the WebDataset tar open as `handle` (docs/datasets.md, "WebDataset"). A
 * record is a sample: the consecutive files whose paths share a key (the path up to the first
 * dot of its last segment); its bytes are the canonical encoding `sampleRecord` gives. The tar is
 * parsed by tar-stream as it is read, through this one descriptor; samples are hashed here and
 * the trees built by the record workers. Fails closed: an absolute path or a `..` segment, a link,
 * device or other non-file entry, a repeated key+extension or a key that comes back after another
 * one, an entry or sample over the record limit, or too many entries, is an InputError. With
 * `leavesOnly`, the leaves alone (parallel-record-roots.ts).
 */
export async function webdatasetRootsOf(
  handle: FileHandle,
  path: string,
  options: LeavesOnly<FileOptions>,
): Promise<RecordLeavesRead>;
export async function webdatasetRootsOf(handle: FileHandle, path: string, options: FileOptions): Promise<RecordRoots>;
export async function webdatasetRootsOf(
  handle: FileHandle,
  path: string,
  options: FileOptions | LeavesOnly<FileOptions>,
): Promise<RecordRoots | RecordLeavesRead> {
  const pool = options.pool ?? new RecordPool();
  const trees = leafSinkFor(pool, options);
  try {
    const before = await versionBeforeRead(handle, path, options.expectedVersion);
    const batcher = new LeafBatcher(async (leaves) => {
      await trees.push(leaves);
      await options.onLeaves?.(leaves);
    });
    const maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
    const size = await forEachSample(handle, path, maxRecordBytes, options.onBytes, async (record) => {
      await batcher.add(leafHash(record));
    });
    await batcher.flush();
    await checkReadWhole(handle, path, before, size);
    return { format: 'webdataset', ...(await trees.finish()), version: fileVersionOf(before) };
  } finally {
    await trees.dispose();
    if (!options.pool) await pool.close();
  }
}

/**
 * A sample's canonical bytes: the compact JSON object of its files, extension → contents in
 * base64 (RFC 4648, padded), extensions in code point order. The key is not part of it.
 */
export function sampleRecord(files: ReadonlyMap<string, Buffer>): Buffer {
  const extensions = [...files.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const members = extensions.map((ext) => `${JSON.stringify(ext)}:"${files.get(ext)!.toString('base64')}"`);
  return Buffer.from(`{${members.join(',')}}`, 'utf8');
}

/** Splits an entry name into key and extension, refusing names that escape or say nothing. */
export function sampleKeyOf(name: string, path: string): { key: string; extension: string } {
  const segments = name.split('/');
  if (name.startsWith('/') || segments.includes('..') || name.includes('\\') || name.includes('\0')) {
    throw new InputError('dataset.webdataset-path', `${path}: entry "${printable(name)}" escapes the archive`);
  }
  const last = segments.at(-1)!;
  const dot = last.indexOf('.', 1);
  if (dot < 0 || dot === last.length - 1) {
    throw new InputError('dataset.webdataset-name', `${path}: entry "${printable(name)}" has no key.extension name`);
  }
  const key = [...segments.slice(0, -1), last.slice(0, dot)].join('/');
  if (key.length > MAX_KEY_LENGTH) throw new InputError('dataset.webdataset-name', `${path}: an entry key is too long`);
  return { key, extension: last.slice(dot + 1) };
}

/** Reads the tar through `handle`, handing each sample's canonical bytes to `onRecord`; returns bytes read. */
export async function forEachSample(
  handle: FileHandle,
  path: string,
  maxRecordBytes: number,
  onBytes: ((chunk: Buffer) => void) | undefined,
  onRecord: (record: Buffer) => Promise<void>,
): Promise<number> {
  const extract = tar.extract();
  const seenKeys = new Set<string>();
  let entries = 0;
  let current: { key: string; files: Map<string, Buffer>; bytes: number } | undefined;
  const endSample = async () => {
    if (current) await onRecord(sampleRecord(current.files));
    current = undefined;
  };
  const parsed = (async () => {
    for await (const entry of extract) {
      const { header } = entry;
      if (++entries > MAX_TAR_ENTRIES) {
        throw new InputError('dataset.webdataset-limit', `${path} holds more than ${MAX_TAR_ENTRIES} entries`);
      }
      const name = header.name.replace(/^(\.\/)+/, '');
      if (header.type === 'directory') {
        sampleKeyOf(`${name.replace(/\/+$/, '')}/x.x`, path); // a directory name must not escape either
        entry.resume();
        continue;
      }
      if (header.type === 'symlink' || header.type === 'link') {
        throw new InputError(
          'dataset.webdataset-link',
          `${path}: entry "${printable(name)}" is a link; links are refused`,
        );
      }
      if (header.type !== 'file' && header.type !== 'contiguous-file') {
        throw new InputError(
          'dataset.webdataset-entry',
          `${path}: entry "${printable(name)}" is a ${header.type}, not a file`,
        );
      }
      const { key, extension } = sampleKeyOf(name, path);
      const size = header.size ?? 0;
      if (current?.key !== key) {
        await endSample();
        if (seenKeys.has(key)) {
          throw new InputError(
            'dataset.webdataset-duplicate',
            `${path}: sample "${printable(key)}" appears twice (its files are not consecutive)`,
          );
        }
        seenKeys.add(key);
        current = { key, files: new Map(), bytes: 0 };
      }
      if (current.files.has(extension)) {
        throw new InputError(
          'dataset.webdataset-duplicate',
          `${path}: sample "${printable(key)}" has two "${printable(extension)}" files`,
        );
      }
      if (current.files.size >= MAX_SAMPLE_FILES) {
        throw new InputError(
          'dataset.webdataset-limit',
          `${path}: sample "${printable(key)}" has more than ${MAX_SAMPLE_FILES} files`,
        );
      }
      // Checked against the header before any of the entry is buffered (base64 makes it 4/3 longer).
      current.bytes += size;
      if (Math.ceil(current.bytes / 3) * 4 > maxRecordBytes) {
        throw new InputError(
          'dataset.record-too-long',
          `${path}: sample "${printable(key)}" is over ${maxRecordBytes} bytes`,
        );
      }
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      current.files.set(extension, Buffer.concat(chunks));
    }
    await endSample();
  })();
  parsed.catch(() => undefined);
  let position = 0;
  try {
    const chunk = Buffer.allocUnsafe(READ_BYTES);
    for (;;) {
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, position);
      if (bytesRead === 0) break;
      const bytes = Buffer.from(chunk.subarray(0, bytesRead));
      onBytes?.(bytes);
      position += bytesRead;
      if (!extract.write(bytes)) await Promise.race([drained(extract), parsed]);
    }
    extract.end();
    await parsed;
  } catch (err) {
    extract.destroy();
    throw asInputError(err, path);
  }
  return position;
}

function drained(extract: tar.Extract): Promise<void> {
  return new Promise((resolve) => extract.once('drain', () => resolve()));
}

function asInputError(err: unknown, path: string): Error {
  if (err instanceof AicertError) return err;
  return new InputError('dataset.webdataset-malformed', `${path} is not a readable tar: ${(err as Error).message}`);
}

/** A name as it may be printed on one line: control characters escaped, cut at 200 characters. */
function printable(name: string): string {
  const escaped = JSON.stringify(name.length > 200 ? `${name.slice(0, 200)}…` : name).slice(1, -1);
  return escaped;
}
