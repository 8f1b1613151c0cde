/**
 * The `dataset-index` fuzz target: the index file `aicert data prove --index` reads (an index may
 * come from someone else). Seeds are real indexes written by `writeDatasetIndex` over a JSONL
 * file, a sharded JSONL folder and a folder of plain files. Each case is opened, checked against
 * the real datasets and asked for set and order proofs of a few records; it must give valid
 * proofs or refuse with `dataset.index-malformed`, `-corrupt` or `-stale`. Besides byte mutants,
 * the structure-aware mutants keep a valid trailer (the header's checksum recomputed) so the
 * header is parsed: its JSON edited, its counts and block size set to huge claims, its sections
 * resized to what the edited counts imply or left to point past the end of the file.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { AicertError } from '../../src/errors.js';
import {
  DatasetIndex,
  indexLayout,
  indexTail,
  TRAILER_BYTES,
  type IndexHeader,
} from '../../src/measure/dataset/dataset-index.js';
import { parseDatasetProof } from '../../src/measure/dataset/dataset-proof.js';
import type { TreeKind } from '../../src/measure/dataset/dataset-root.js';
import { writeDatasetIndex } from '../../src/measure/dataset/index-build.js';
import { checkIndexCurrent, proveRecordFromIndex } from '../../src/measure/dataset/index-prove.js';
import { verifyDatasetProof } from '../../src/measure/dataset/verify-proof.js';
import { bytesFrom, editedJson, fileRunner } from './fuzz-inputs.js';
import type { FuzzTarget } from './fuzz-targets.js';
import type { Json } from './tamper-corpus.js';

/** The refusals an index may end in; any other error is a crash. */
const INDEX_REFUSALS = new Set(['dataset.index-malformed', 'dataset.index-corrupt', 'dataset.index-stale']);
/** Small blocks, so that the seeds have full blocks, a partial last block and block roots. */
const TUNING = { chunkBytes: 256, blockLeaves: 4, sort: { runLeaves: 8, memoryLeaves: 16 } };
/** Counts and block sizes an edited header claims: at and past every bound the parser has. */
const CLAIMS = [0, 1, 2, 3, 4, 2 ** 14, 2 ** 20, 2 ** 20 + 1, 2 ** 21, 2 ** 24, 2 ** 32 - 1, 2 ** 40, 2 ** 44, 2 ** 53];
/** A resized body stays small: the claims beyond it are left pointing past the end. */
const MAX_RESIZED_BODY = 1 << 20;

const jsonl = (records: string[]) => records.map((r) => `${r}\n`).join('');
const recordsOf = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => JSON.stringify({ id: `${prefix}${i % 5 === 4 ? i - 2 : i}` }));

interface Seed {
  body: Buffer;
  header: IndexHeader;
}

function splitIndex(bytes: Buffer): Seed {
  const length = bytes.readUInt32BE(bytes.length - TRAILER_BYTES);
  const at = bytes.length - TRAILER_BYTES - length;
  const header = JSON.parse(bytes.subarray(at, at + length).toString('utf8')) as IndexHeader;
  return { body: bytes.subarray(0, at), header };
}

/** An index of `header` whose checksum holds, whatever the header says. */
const withHeader = (body: Buffer, header: Json) => Buffer.concat([body, indexTail(header as unknown as IndexHeader)]);

/** `body` repeated or cut to the section bytes `header` implies, when that is a small number. */
function resized(body: Buffer, header: Json): Buffer | undefined {
  const h = header as { blockLeaves?: unknown; dataset?: { records?: unknown; distinctRecords?: unknown } } | null;
  const [blockLeaves, records, distinctRecords] = [h?.blockLeaves, h?.dataset?.records, h?.dataset?.distinctRecords];
  if (typeof blockLeaves !== 'number' || typeof records !== 'number' || typeof distinctRecords !== 'number') return;
  if (!(blockLeaves > 0)) return;
  const bytes = indexLayout({ blockLeaves, dataset: { records, distinctRecords } }).headerOffset;
  if (!Number.isSafeInteger(bytes) || bytes < 0 || bytes > MAX_RESIZED_BODY) return;
  return Buffer.alloc(bytes, body.length > 0 ? body : 0);
}

/** Header edits with the checksum redone, over the seed's sections, mutated ones, or resized ones. */
function structuredMutants(seeds: Seed[]): fc.Arbitrary<Buffer> {
  return fc.oneof(
    ...seeds.map(({ body, header }) => {
      const seedHeader = header as unknown as Json;
      const claimed = fc
        .record({
          records: fc.option(fc.constantFrom(...CLAIMS)),
          distinctRecords: fc.option(fc.constantFrom(...CLAIMS)),
          blockLeaves: fc.option(fc.constantFrom(...CLAIMS)),
        })
        .map((claims) => {
          const edited = structuredClone(header);
          if (claims.records !== null) edited.dataset.records = claims.records;
          if (claims.distinctRecords !== null) edited.dataset.distinctRecords = claims.distinctRecords;
          if (claims.blockLeaves !== null) edited.blockLeaves = claims.blockLeaves;
          return edited as unknown as Json;
        });
      const headers = fc.oneof(
        { weight: 3, arbitrary: editedJson([seedHeader]) },
        { weight: 2, arbitrary: claimed },
        { weight: 1, arbitrary: fc.constant(seedHeader) },
      );
      const bodies = fc.oneof(
        fc.constant('seed' as const),
        fc.constant('resized' as const),
        bytesFrom([body]).map((b) => ({ mutated: b })),
      );
      return fc.tuple(headers, bodies).map(([h, choice]) => {
        const sections = choice === 'seed' ? body : choice === 'resized' ? (resized(body, h) ?? body) : choice.mutated;
        return withHeader(sections, h);
      });
    }),
  );
}

export const datasetIndexTarget: FuzzTarget = {
  name: 'dataset-index',
  parser:
    'DatasetIndex.open, proveRecordFromIndex, checkIndexCurrent ' +
    '(src/measure/dataset/dataset-index.ts, index-prove.ts): trailer, header, sections, proofs',
  async prepare(shared) {
    const dir = join(shared.dir, 'dataset-index');
    mkdirSync(join(dir, 'shards'), { recursive: true });
    mkdirSync(join(dir, 'folder'), { recursive: true });
    const oneRecords = recordsOf('one-', 23);
    const shardRecords = [recordsOf('a-', 9), [...recordsOf('b-', 6), oneRecords[3]!]];
    writeFileSync(join(dir, 'one.jsonl'), jsonl(oneRecords));
    writeFileSync(join(dir, 'shards', 'a.jsonl'), jsonl(shardRecords[0]!));
    writeFileSync(join(dir, 'shards', 'b.jsonl'), jsonl(shardRecords[1]!));
    for (const name of ['x.bin', 'y.bin', 'z.bin']) writeFileSync(join(dir, 'folder', name), `bytes of ${name}`);
    const datasets = [
      { path: join(dir, 'one.jsonl'), records: new Set(oneRecords) },
      { path: join(dir, 'shards'), records: new Set(shardRecords.flat()) },
      { path: join(dir, 'folder'), records: undefined },
    ];
    const seeds: Buffer[] = [];
    for (const { path } of datasets) {
      await writeDatasetIndex(path, `${path}.aicert-index`, { tuning: TUNING });
      seeds.push(readFileSync(`${path}.aicert-index`));
    }
    /** Each real root, and the records of its dataset (unknown for the folder: its records are files). */
    const truth = new Map<string, Set<string> | undefined>();
    seeds.forEach((seed, i) => {
      const { dataset } = splitIndex(seed).header;
      for (const root of [dataset.orderRoot, dataset.setRoot]) truth.set(root, datasets[i]!.records);
    });
    const probes = [oneRecords[0]!, oneRecords[11]!, shardRecords[1]![2]!, JSON.stringify({ id: 'absent' })];

    /** The refusal of an index that is current for none of the datasets (proofs are tried anyway). */
    const staleness = async (index: DatasetIndex): Promise<AicertError | undefined> => {
      let stale: AicertError | undefined;
      for (const { path } of datasets) {
        try {
          await checkIndexCurrent(index, path);
          return undefined;
        } catch (err) {
          if (!(err instanceof AicertError && err.code === 'dataset.index-stale')) throw err;
          stale = err;
        }
      }
      return stale;
    };
    const prove = async (index: DatasetIndex) => {
      const stale = await staleness(index);
      const { orderRoot, setRoot } = index.header.dataset;
      for (const record of probes) {
        for (const tree of ['set', 'order'] as TreeKind[]) {
          const bytes = Buffer.from(record);
          const proof = await proveRecordFromIndex(index, bytes, tree);
          const root = proof.tree === 'order' ? orderRoot : setRoot;
          // Checked again here, as a verifier would: the proof as written, against the root alone.
          const verdict = verifyDatasetProof(
            parseDatasetProof(JSON.parse(JSON.stringify(proof))),
            Buffer.from(root, 'hex'),
            bytes,
          );
          if (!verdict.valid) throw new Error(`an index gave a proof that does not check: ${verdict.reason}`);
          const records = truth.get(root);
          if (records && records.has(record) !== (proof.type === 'inclusion'))
            throw new Error(`an index gave a false ${proof.type} proof of ${record} under a real root`);
        }
      }
      if (stale) throw stale;
    };
    const run = fileRunner(dir, 'fuzzed.aicert-index', async (path) => {
      try {
        const index = await DatasetIndex.open(path);
        try {
          await prove(index);
        } finally {
          await index.close();
        }
      } catch (err) {
        if (err instanceof AicertError && !INDEX_REFUSALS.has(err.code))
          throw new Error(`an index refused with an undocumented code ${err.code}: ${err.message}`);
        throw err;
      }
    });

    const parts = seeds.map(splitIndex);
    const { body, header } = parts[0]!;
    const claim = (edit: (h: IndexHeader) => void) => {
      const edited = structuredClone(header);
      edit(edited);
      return withHeader(body, edited as unknown as Json);
    };
    const headerLength = (length: number) => {
      const out = Buffer.from(seeds[0]!);
      out.writeUInt32BE(length, out.length - TRAILER_BYTES);
      return out;
    };
    return {
      input: fc.oneof({ weight: 1, arbitrary: bytesFrom(seeds) }, { weight: 2, arbitrary: structuredMutants(parts) }),
      run,
      huge: [
        { name: 'header length 2^32-1', input: headerLength(0xffffffff) },
        { name: 'header length 16 MiB', input: headerLength(16 * 2 ** 20) },
        {
          name: '2^44 records, all distinct',
          input: claim((h) => Object.assign(h.dataset, { records: 2 ** 44, distinctRecords: 2 ** 44 })),
        },
        { name: 'blocks of 2^24 leaves', input: claim((h) => Object.assign(h, { blockLeaves: 2 ** 24 })) },
        {
          name: '2^40 records in blocks of 2',
          input: claim((h) => {
            h.blockLeaves = 2;
            Object.assign(h.dataset, { records: 2 ** 40, distinctRecords: 1 });
          }),
        },
        {
          name: '2^20 records in one block, sections past the end',
          input: claim((h) => {
            h.blockLeaves = 2 ** 20;
            Object.assign(h.dataset, { records: 2 ** 20, distinctRecords: 2 ** 20 });
          }),
        },
      ],
    };
  },
};
