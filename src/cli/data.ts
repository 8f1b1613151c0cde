/**
 * `aicert data root|prove|check-proof`: Merkle commitments over the records of a dataset (JSONL,
 * CSV, text, Parquet, WebDataset, a folder of files), and inclusion / non-inclusion proofs checked
 * from a root alone. Logic lives in
 * src/measure/dataset/.
 */
import { type Command, Option } from 'commander';
import { existsSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { InputError, UsageError, VerificationError } from '../errors.js';
import { datasetCommitmentOf, datasetOrderLeaves } from '../measure/dataset/dataset-source.js';
import type { DatasetTrees } from '../measure/dataset/dataset-tree.js';
import { parseDatasetProof, type DatasetProof } from '../measure/dataset/dataset-proof.js';
import type { TreeKind } from '../measure/dataset/dataset-root.js';
import { fileRecord } from '../measure/dataset/folder-roots.js';
import { DatasetIndex } from '../measure/dataset/dataset-index.js';
import { writeDatasetIndex } from '../measure/dataset/index-build.js';
import { checkIndexCurrent, proveRecordFromIndex } from '../measure/dataset/index-prove.js';
import { proveRecord } from '../measure/dataset/prove-record.js';
import { RECORD_FORMATS } from '../measure/dataset/record-format.js';
import { DEFAULT_MAX_RECORD_BYTES } from '../measure/dataset/records.js';
import { sortedDistinctLeaves } from '../measure/dataset/sorted-leaves.js';
import { verifyDatasetProof } from '../measure/dataset/verify-proof.js';
import { writeFileAtomic } from '../util/atomic-write.js';

/** A missing --dataset is named as missing first, before its name or format are judged. */
function checkDatasetExists(path: string): void {
  if (!existsSync(path)) throw new UsageError('usage.missing-input', `--dataset ${path} does not exist`);
}

/** A proof is a few kB (≤ 2 × 64 path hashes); anything much larger is not one. */
const MAX_PROOF_FILE_BYTES = 1024 * 1024;

const RECORD_RULES = `
What a record is (see docs/datasets.md): its raw bytes in the file, without the line terminator
(LF or CRLF). jsonl: each non-blank line (must be valid JSON). csv: each row after the header,
quotes included (RFC 4180; newlines inside quotes belong to the row). text: each non-empty line.
parquet: each row, as the compact JSON of its columns (docs/datasets.md, canonical encoding).
webdataset (.tar): each sample, as the JSON of extension -> base64 contents (docs/datasets.md).
files (a directory none of whose files is a record file, or --format files): each file, as the
JSON {"path":<its path in the directory>,"content":<base64>}, in path order; prove it with --file.
A directory of record files is one sharded dataset: its files, all of one format, in name order.
Leaf = SHA-256(0x00 || record), node = SHA-256(0x01 || left || right) (RFC 6962).`;

export function registerDataCommands(program: Command): void {
  const data = program
    .command('data')
    .description('Merkle trees over dataset records: roots, inclusion and non-inclusion proofs');
  const formatOption = () =>
    new Option(
      '--format <format>',
      'record format; default from the extension (.jsonl/.ndjson, .csv, .txt, .parquet, .tar), files for a folder',
    ).choices(RECORD_FORMATS);

  data
    .command('root')
    .description(
      'print the order root (records in file order) and the set root (distinct records, sorted) of a dataset',
    )
    .requiredOption(
      '--dataset <path>',
      'a JSONL, CSV, text, Parquet or WebDataset .tar file, or a directory (of shards, or of files)',
    )
    .addOption(formatOption())
    .option('--json', 'print JSON: {format, records, distinctRecords, orderRoot, setRoot, headerSha256?}')
    .addHelpText(
      'after',
      `${RECORD_RULES}

The order root commits to the sequence of records, duplicates included; the set root commits to
the set of distinct records and is the one non-inclusion proofs are checked against.

Examples:
  aicert data root --dataset train.jsonl
  aicert data root --dataset corpus.csv --json | jq -r .setRoot
  aicert data root --dataset images/          # a folder of files: a record per file
`,
    )
    .action(async (flags: { dataset: string; format?: string; json?: boolean }) => {
      checkDatasetExists(flags.dataset);
      const { shards, ...commitment } = await datasetCommitmentOf(flags.dataset, { format: flags.format });
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ dataset: flags.dataset, shards, ...commitment }, null, 2)}\n`);
        return;
      }
      process.stdout.write(
        [
          `dataset     ${flags.dataset} (${commitment.format}${shards > 1 ? `, ${shards} shards` : ''})`,
          `records     ${commitment.records} (${commitment.distinctRecords} distinct)`,
          `order root  ${commitment.orderRoot}`,
          `set root    ${commitment.setRoot}`,
          ...(commitment.headerSha256 ? [`csv header  sha256:${commitment.headerSha256}`] : []),
        ].join('\n') + '\n',
      );
    });

  data
    .command('index')
    .description('write an index of a dataset once, from which `data prove --index` proves a record in under a second')
    .requiredOption('--dataset <path>', 'the JSONL, CSV, text, Parquet or WebDataset file, or a directory of shards')
    .requiredOption('--out <file>', 'where to write the index (written atomically)')
    .addOption(formatOption())
    .option('--json', 'print JSON: the index header {dataset: {records, orderRoot, setRoot, …}, files, …}')
    .addHelpText(
      'after',
      `
The index holds every leaf of both trees (32 bytes per record and per distinct record) and the
roots of their blocks, bound to the dataset's roots and to the size, times and inode of each of
its files: \`data prove --index\` refuses it once the data changed (format in docs/datasets.md).

Examples:
  aicert data index --dataset train.jsonl --out train.aicert-index
  aicert data prove --dataset train.jsonl --index train.aicert-index --record '{"text":"hello"}'
`,
    )
    .action(async (flags: { dataset: string; out: string; format?: string; json?: boolean }) => {
      checkDatasetExists(flags.dataset);
      checkIndexOutside(flags.out, flags.dataset);
      const header = await writeDatasetIndex(flags.dataset, flags.out, { format: flags.format });
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ index: flags.out, ...header }, null, 2)}\n`);
        return;
      }
      const { dataset } = header;
      process.stdout.write(
        [
          `index       ${flags.out}`,
          `dataset     ${flags.dataset} (${dataset.format}${dataset.shards > 1 ? `, ${dataset.shards} shards` : ''})`,
          `records     ${dataset.records} (${dataset.distinctRecords} distinct)`,
          `order root  ${dataset.orderRoot}`,
          `set root    ${dataset.setRoot}`,
        ].join('\n') + '\n',
      );
    });

  data
    .command('prove')
    .description('prove that a record is in a dataset (inclusion proof) or that it is not (non-inclusion proof)')
    .requiredOption(
      '--dataset <path>',
      'a JSONL, CSV, text, Parquet or WebDataset .tar file, or a directory (of shards, or of files)',
    )
    .option('--record <text>', 'the record, exactly as it stands in the file (UTF-8)')
    .option('--record-file <file>', 'read the record from a file; one trailing newline (LF or CRLF) is dropped')
    .option('--file <path>', 'files format: the record of this file of the --dataset directory (path inside it)')
    .addOption(formatOption())
    .addOption(
      new Option(
        '--tree <tree>',
        'tree for an inclusion proof: set (distinct, sorted) or order (file order, shows the position)',
      )
        .choices(['set', 'order'])
        .default('set'),
    )
    .option('--out <file>', 'write the proof JSON here instead of to stdout')
    .option('--index <file>', 'prove from this index (aicert data index) instead of rebuilding the trees')
    .addHelpText(
      'after',
      `${RECORD_RULES}

If the record is in the dataset you get an inclusion proof in the chosen tree; if it is not, a
non-inclusion proof over the set tree (two adjacent leaves whose hashes bracket the record's
hash, or one edge leaf). Either way the exit status is 0; the proof's "type" says which, and a
line on stderr too. Check a proof with \`aicert data check-proof\`.

With --index the trees are not rebuilt: the proof comes from the index in a few reads, after the
dataset's files are checked to be the versions indexed (else dataset.index-stale), and it is
checked against the index's root before it is written (else dataset.index-corrupt).

Examples:
  aicert data prove --dataset train.jsonl --record '{"text":"hello"}' --out hello.proof.json
  aicert data prove --dataset train.jsonl --record-file my-article.txt --tree order
  aicert data prove --dataset images/ --file cats/001.jpg --out cat.proof.json
  aicert data prove --dataset train.jsonl --index train.aicert-index --record '{"text":"hello"}'
`,
    )
    .action(
      async (flags: {
        dataset: string;
        record?: string;
        recordFile?: string;
        file?: string;
        format?: string;
        tree: TreeKind;
        out?: string;
        index?: string;
      }) => {
        checkDatasetExists(flags.dataset);
        const record =
          flags.file === undefined ? await recordFrom(flags) : await folderMemberRecord(flags.dataset, flags);
        const proof =
          flags.index === undefined
            ? proveRecord(await provableTrees(flags.dataset, flags.format), record, flags.tree)
            : await proveFromIndexFile(flags.index, flags.dataset, flags.format, record, flags.tree);
        const json = `${JSON.stringify(proof, null, 2)}\n`;
        if (flags.out) await writeFileAtomic(flags.out, json);
        else process.stdout.write(json);
        process.stderr.write(`${describeProof(proof)}${flags.out ? `; written to ${flags.out}` : ''}\n`);
      },
    );

  data
    .command('check-proof')
    .description('verify a dataset proof against a trusted root')
    .argument('<proof>', 'proof JSON file written by `aicert data prove`')
    .requiredOption(
      '--root <hex>',
      'the trusted root (64 hex digits): the set root, or the order root for an order-tree proof',
    )
    .option('--record <text>', 'also require the proof to be about this record')
    .option(
      '--record-file <file>',
      'also require the proof to be about the record in this file (one trailing newline dropped)',
    )
    .option('--json', 'print JSON: {valid, type, tree, statement | reason}')
    .addHelpText(
      'after',
      `
Only the proof and the root are needed, not the dataset. Without --record the proof speaks about
the leaf hash it names; with --record the record's leaf hash must match it.

Exit status: 0 the proof is valid, 1 it is not (wrong root, altered proof, another record),
2 the proof file is malformed or unreadable.

Examples:
  aicert data check-proof hello.proof.json --root 3f5a...e1
  aicert data check-proof hello.proof.json --root 3f5a...e1 --record '{"text":"hello"}'
`,
    )
    .action(
      async (proofPath: string, flags: { root: string; record?: string; recordFile?: string; json?: boolean }) => {
        const proof = await readProof(proofPath);
        const root = parseRoot(flags.root);
        const record =
          flags.record !== undefined || flags.recordFile !== undefined ? await recordFrom(flags) : undefined;
        const verdict = verifyDatasetProof(proof, root, record);
        if (flags.json) {
          const { type, tree } = proof;
          process.stdout.write(`${JSON.stringify({ ...verdict, type, tree }, null, 2)}\n`);
          if (!verdict.valid) process.exitCode = 1;
          return;
        }
        if (!verdict.valid) throw new VerificationError('proof.invalid', `proof not valid: ${verdict.reason}`);
        process.stdout.write(`valid: ${verdict.statement}\n`);
      },
    );
}

/** The leaves of both trees, kept for proofs; read in parallel like `root` (dataset-source.ts). */
async function provableTrees(path: string, format: string | undefined): Promise<DatasetTrees> {
  const { roots, orderLeaves } = await datasetOrderLeaves(path, { format });
  return { path, format: roots.format, orderLeaves, setLeaves: sortedDistinctLeaves(orderLeaves) };
}

/** `--file`: the record (folder-roots.ts fileRecord) of a file of the folder dataset, by its path inside it. */
async function folderMemberRecord(
  dataset: string,
  flags: { file?: string; record?: string; recordFile?: string },
): Promise<Buffer> {
  if (flags.record !== undefined || flags.recordFile !== undefined) {
    throw new UsageError('usage.record', 'give exactly one of --record, --record-file and --file');
  }
  const name = relative(resolve(dataset), resolve(dataset, flags.file!)).split(sep).join('/');
  if (name === '' || name === '..' || name.startsWith('../') || isAbsolute(name)) {
    throw new UsageError('usage.record', `--file ${flags.file} is not a file inside ${dataset}`);
  }
  return fileRecord(name, await readBounded(join(dataset, name), DEFAULT_MAX_RECORD_BYTES, 'file'));
}

/** The index must not replace the dataset nor become one of its shards (it would change the dataset). */
function checkIndexOutside(out: string, dataset: string): void {
  const target = resolve(out);
  const data = resolve(dataset);
  if (target === data || target.startsWith(`${data}${sep}`)) {
    throw new UsageError('usage.index-out', `--out ${out} is inside the dataset ${dataset}; write the index elsewhere`);
  }
}

/** A proof from an index of the dataset as it is now, checked against the index's root. */
async function proveFromIndexFile(
  indexPath: string,
  dataset: string,
  format: string | undefined,
  record: Buffer,
  tree: TreeKind,
): Promise<DatasetProof> {
  const index = await DatasetIndex.open(indexPath);
  try {
    if (format !== undefined && format !== index.header.dataset.format) {
      throw new UsageError(
        'usage.format',
        `--format ${format}, but ${indexPath} indexes ${index.header.dataset.format}`,
      );
    }
    await checkIndexCurrent(index, dataset);
    return await proveRecordFromIndex(index, record, tree);
  } finally {
    await index.close();
  }
}

async function recordFrom(flags: { record?: string; recordFile?: string }): Promise<Buffer> {
  if ((flags.record === undefined) === (flags.recordFile === undefined)) {
    throw new UsageError('usage.record', 'give exactly one of --record and --record-file');
  }
  if (flags.record !== undefined) return Buffer.from(flags.record, 'utf8');
  const bytes = await readBounded(flags.recordFile!, DEFAULT_MAX_RECORD_BYTES, 'record file');
  const withoutLf = bytes.at(-1) === 0x0a ? bytes.subarray(0, -1) : bytes;
  return bytes.at(-1) === 0x0a && withoutLf.at(-1) === 0x0d ? withoutLf.subarray(0, -1) : withoutLf;
}

async function readProof(path: string): Promise<DatasetProof> {
  const text = (await readBounded(path, MAX_PROOF_FILE_BYTES, 'proof')).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new InputError('proof.malformed', `${path} is not JSON: ${(err as Error).message}`);
  }
  return parseDatasetProof(json);
}

function parseRoot(hex: string): Buffer {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw new UsageError('usage.root', `--root must be a SHA-256 root as 64 hex digits, got "${hex}"`);
  }
  return Buffer.from(hex, 'hex');
}

/** Reads a small file whole, refusing one over `maxBytes` before reading it. */
async function readBounded(path: string, maxBytes: number, what: string): Promise<Buffer> {
  try {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      if (size > maxBytes)
        throw new UsageError('usage.file-too-large', `${what} ${path} is ${size} bytes; the limit is ${maxBytes}`);
      return await readFile(handle);
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new UsageError(
      'usage.unreadable',
      `cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`,
    );
  }
}

function describeProof(proof: DatasetProof): string {
  return proof.type === 'inclusion'
    ? `record found: inclusion proof for leaf ${proof.index} of ${proof.treeSize} in the ${proof.tree} tree`
    : `record not in the dataset: non-inclusion proof over the set tree of ${proof.treeSize} leaves`;
}
