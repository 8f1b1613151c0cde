/**
 * Dataset Merkle trees (docs/datasets.md): record splitting for JSONL, CSV and text lines, the order and
 * set trees (RFC 6962 hashing), inclusion and non-inclusion proofs checked from a root alone.
 *
 *   const trees = await buildDatasetTrees('train.jsonl');
 *   const proof = proveRecord(trees, Buffer.from('{"text":"hello"}'));
 *   verifyDatasetProof(parseDatasetProof(json), treeRoot(trees, 'set')).valid;
 */
export { buildDatasetTrees, commitmentOfRoots, datasetCommitment, treeRoot } from './dataset-tree.js';
export type { DatasetCommitment, DatasetTreeOptions, DatasetTrees } from './dataset-tree.js';
export { datasetRoot } from './dataset-root.js';
export type { TreeKind } from './dataset-root.js';
export { parseDatasetProof, MAX_PATH_LENGTH, PROOF_FORMAT, PROOF_VERSION } from './dataset-proof.js';
export type { DatasetProof, InclusionProof, LeafWitness, NonInclusionProof } from './dataset-proof.js';
export { proveRecord } from './prove-record.js';
export { verifyDatasetProof } from './verify-proof.js';
export type { ProofVerdict } from './verify-proof.js';
export { recordRootsOf } from './parallel-record-roots.js';
export type { RecordRoots, RecordRootsOptions, RecordRootsTuning } from './parallel-record-roots.js';
export { RecordPool } from './record-pool.js';
export { isJsonText } from './json-syntax.js';
export { forEachRecord, forEachRecordOf, openRecordFile, RecordStream, DEFAULT_MAX_RECORD_BYTES } from './records.js';
export type { RecordFileInfo, RecordReadOptions } from './records.js';
export { measureOpenRecordFile, measureRecordFile } from './record-file-measurement.js';
export type { MeasuredRecordFile, RecordFileMeasureOptions } from './record-file-measurement.js';
export { measureDatasetContent } from './dataset-content.js';
export type { DatasetContent } from './dataset-content.js';
export { recordFormatFor, RECORD_FORMATS } from './record-format.js';
export type { RecordFormat } from './record-format.js';
export { leafHash, merkleRoot, inclusionPath, rootFromInclusionPath, EMPTY_ROOT } from './merkle.js';
export { datasetCommitmentOf, datasetOrderLeaves, datasetRootsOf } from './dataset-source.js';
export type { DatasetRoots, DatasetSourceOptions } from './dataset-source.js';
