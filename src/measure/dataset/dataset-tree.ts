import { createHash } from 'node:crypto';
import { datasetRoot, type TreeKind } from './dataset-root.js';
import { LeafList } from './leaf-list.js';
import { leafCount, leafHash, merkleRoot } from './merkle.js';
import type { RecordRoots } from './parallel-record-roots.js';
import { recordFormatFor, type RecordFormat } from './record-format.js';
import { forEachRecord, type RecordFileInfo } from './records.js';
import { sortedDistinctLeaves } from './sorted-leaves.js';

/**
 * The two Merkle trees over one record file:
 * - the order tree: one leaf per record in file order, duplicates included; its root commits to
 *   the exact sequence of records (what a training run iterated over);
 * - the set tree: one leaf per *distinct* record, sorted by leaf hash; its root commits to the set
 *   of records and supports non-inclusion proofs.
 */
export interface DatasetTrees {
  path: string;
  format: RecordFormat;
  /** CSV only: SHA-256 of the header row's raw bytes (the header is not a record). */
  headerSha256?: string;
  /** Leaf hashes in file order (32 bytes each). */
  orderLeaves: Buffer;
  /** Distinct leaf hashes in ascending order (32 bytes each). */
  setLeaves: Buffer;
}

export interface DatasetTreeOptions {
  /** jsonl, csv or text; inferred from the file name when absent. */
  format?: string;
  maxRecordBytes?: number;
}

/** Reads the file once, streaming: memory is one record plus 32 bytes per record (twice, order and set). */
export async function buildDatasetTrees(path: string, options: DatasetTreeOptions = {}): Promise<DatasetTrees> {
  const format = recordFormatFor(path, options.format);
  const leaves = new LeafList();
  const info = await forEachRecord(path, { format, maxRecordBytes: options.maxRecordBytes }, (record) =>
    leaves.push(leafHash(record)),
  );
  return treesOf(path, format, leaves, info);
}

function treesOf(path: string, format: RecordFormat, leaves: LeafList, info: RecordFileInfo): DatasetTrees {
  const orderLeaves = leaves.toBuffer();
  const setLeaves = sortedDistinctLeaves(orderLeaves);
  return {
    path,
    format,
    ...(info.header && { headerSha256: createHash('sha256').update(info.header).digest('hex') }),
    orderLeaves,
    setLeaves,
  };
}

/**
 * The published root of one tree (dataset-root.ts: kind and size bound to the RFC 6962 hash).
 * Computed on demand: it costs one hash per leaf, and proving needs no root.
 */
export function treeRoot(trees: DatasetTrees, kind: TreeKind): Buffer {
  const leaves = kind === 'order' ? trees.orderLeaves : trees.setLeaves;
  return datasetRoot(kind, leafCount(leaves), merkleRoot(leaves));
}

/** What a certificate records about a dataset file: roots and counts, as JSON-ready values. */
export interface DatasetCommitment {
  format: RecordFormat;
  records: number;
  distinctRecords: number;
  /** Root over the records in file order (tree kind and size bound in; see dataset-root.ts). */
  orderRoot: string;
  /** Root over the distinct records sorted by leaf hash. */
  setRoot: string;
  headerSha256?: string;
  leafHash: 'sha256(0x00 || record)';
}

export function datasetCommitment(trees: DatasetTrees): DatasetCommitment {
  return {
    format: trees.format,
    records: leafCount(trees.orderLeaves),
    distinctRecords: leafCount(trees.setLeaves),
    orderRoot: treeRoot(trees, 'order').toString('hex'),
    setRoot: treeRoot(trees, 'set').toString('hex'),
    ...(trees.headerSha256 !== undefined && { headerSha256: trees.headerSha256 }),
    leafHash: 'sha256(0x00 || record)',
  };
}

/** The same commitment from trees built without their leaves (parallel-record-roots.ts). */
export function commitmentOfRoots(roots: Omit<RecordRoots, 'version'>): DatasetCommitment {
  return {
    format: roots.format,
    records: roots.records,
    distinctRecords: roots.distinctRecords,
    orderRoot: datasetRoot('order', roots.records, roots.orderHash).toString('hex'),
    setRoot: datasetRoot('set', roots.distinctRecords, roots.setHash).toString('hex'),
    ...(roots.header && { headerSha256: createHash('sha256').update(roots.header).digest('hex') }),
    leafHash: 'sha256(0x00 || record)',
  };
}
