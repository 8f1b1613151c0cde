/**
 * `npm run bench -- datasets [--records N] [flags]`: times `aicert data root` (the whole CLI
 * command: both record trees) on a JSONL file and on a Parquet file of the same rows, against
 * serial `openssl dgst -sha256` over the same files, in one run, in a warm page cache; prints
 * throughput, the ratio and aicert's peak RSS against the bars of issue 13 (≥ 0.5× openssl at
 * 1,000,000 records, Parquet within 2× of JSONL). `--memory` adds one run at 10,000,000 JSONL
 * records for the peak RSS bar (< 300 MB); `--index` times `aicert data index` and proofs from
 * the index (under a second each) at --records; `--shards N` times the same JSONL split into N
 * shards against the one file (a directory of shards should cost what the file costs).
 *
 * The files (records of 200–800 bytes, reproducible) are generated once under --dir (default
 * .bench/, gitignored) and reused; the Parquet file is written from the JSONL lines, and its
 * roots must equal the JSONL file's (a row {id, text} encodes as the same compact JSON).
 *
 * On the JSONL file, bench/leaf-floor.ts runs in the same rounds: one crypto.hash per line in a
 * worker per core and nothing else, the ceiling of any Node implementation of the leaf rule.
 */
import { closeSync, mkdirSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { fileWriter, ParquetWriter, schemaFromColumnData } from 'hyparquet-writer';
import { compare, gbps, loadAverage, prepared, removeScratch, type Run, timed, warm } from './bench-util.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const RATIO_BAR = 0.5;
const RSS_BAR_MB = 300;
const PARQUET_BAR = 2;
const MEMORY_RECORDS = 10_000_000;
const PROOF_BAR_SECONDS = 1;

const HELP = `npm run bench -- datasets [flags]

  --records N     records (default 1000000, about 0.5 GB of JSONL)
  --no-parquet    skip the Parquet file of the same rows
  --memory        also one run of data root at 10,000,000 JSONL records (5 GB) for the peak RSS
  --index         also time data index and data prove --index (first, middle, last record) at N
  --shards N      also data root of the JSONL split into N shards, against the one file
  --dir DIR       where the generated data lives (default .bench/; env AICERT_BENCH_DIR)
  --repeat N      runs per contender, alternating; the median is reported (default 3)
`;

interface Config {
  records: number;
  dir: string;
  repeat: number;
  parquet: boolean;
  memory: boolean;
  index: boolean;
  shards: number | undefined;
}

function parseConfig(args: string[]): Config | undefined {
  const { values } = parseArgs({
    args,
    options: {
      records: { type: 'string' },
      dir: { type: 'string' },
      repeat: { type: 'string' },
      'no-parquet': { type: 'boolean' },
      memory: { type: 'boolean' },
      index: { type: 'boolean' },
      shards: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return undefined;
  }
  const int = (text: string | undefined, fallback: number) => {
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!Number.isSafeInteger(value) || value < 1) throw new Error(`not a positive integer: ${text}`);
    return value;
  };
  return {
    records: int(values.records, 1_000_000),
    dir: values.dir ?? process.env.AICERT_BENCH_DIR ?? '.bench',
    repeat: int(values.repeat, 3),
    parquet: !values['no-parquet'],
    memory: values.memory ?? false,
    index: values.index ?? false,
    shards: values.shards === undefined ? undefined : int(values.shards, 1),
  };
}

const WORDS = 'the of and to in is was for on that with as by at from his her an which data model record train'.split(
  ' ',
);

/**
 * `records` JSON lines of 200–800 bytes: {"id":i,"text":"…"} with words drawn by a fixed
 * xorshift generator, so every run generates the same file. About one line in 50 reuses an
 * earlier id, but its text is drawn afresh: the lines are distinct, so the set tree has no
 * duplicates to drop (its sort and merge still run over every leaf).
 */
function writeJsonl(path: string, records: number): number {
  let state = 0x9e3779b9;
  const random = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
  const fd = openSync(path, 'w');
  const out = Buffer.alloc(8 * 1024 * 1024);
  let used = 0;
  let bytes = 0;
  try {
    for (let i = 0; i < records; i++) {
      const id = random() < 0.02 && i > 0 ? Math.floor(random() * i) : i;
      const target = 200 + Math.floor(random() * 601);
      let text = '';
      const prefix = `{"id":${id},"text":"`;
      while (prefix.length + text.length + 2 < target) text += `${WORDS[Math.floor(random() * WORDS.length)]} `;
      const line = `${prefix}${text.slice(0, target - prefix.length - 2)}"}\n`;
      if (used + line.length > out.length) {
        writeSync(fd, out, 0, used);
        used = 0;
      }
      used += out.write(line, used, 'latin1');
      bytes += line.length;
    }
    writeSync(fd, out, 0, used);
  } finally {
    closeSync(fd);
  }
  return bytes;
}

function prepareJsonl(dir: string, records: number): string {
  const prepared_ = prepared(join(dir, 'datasets', `jsonl-${records}`), (d) => {
    writeJsonl(join(d, 'train.jsonl'), records);
  });
  return join(prepared_, 'train.jsonl');
}

const PARQUET_ROW_GROUP = 100_000;

/** Calls `onLine` with every LF-terminated line of `path` (latin1, without the LF), in order. */
function forEachLine(path: string, onLine: (line: string, index: number) => void): void {
  const fd = openSync(path, 'r');
  const buffer = Buffer.alloc(8 * 1024 * 1024);
  let carry = '';
  let index = 0;
  try {
    for (;;) {
      const read = readSync(fd, buffer, 0, buffer.length, null);
      if (read === 0) break;
      const parts = (carry + buffer.toString('latin1', 0, read)).split('\n');
      carry = parts.pop()!;
      for (const part of parts) onLine(part, index++);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * The rows of the JSONL file as a Parquet file (id INT64, text STRING; snappy, row groups of
 * 100,000), written row group by row group. Each row's canonical encoding is its JSONL line.
 */
function prepareParquet(dir: string, records: number, jsonl: string): string {
  const prepared_ = prepared(join(dir, 'datasets', `parquet-${records}`), (d) => {
    const writer = new ParquetWriter({
      writer: fileWriter(join(d, 'train.parquet')),
      schema: schemaFromColumnData({
        columnData: [
          { name: 'id', data: [0n], type: 'INT64', nullable: false },
          { name: 'text', data: [''], type: 'STRING', nullable: false },
        ],
      }),
    });
    let rows: Array<{ id: number; text: string }> = [];
    const flush = () => {
      writer.write({
        columnData: [
          { name: 'id', data: rows.map((r) => BigInt(r.id)), type: 'INT64', nullable: false },
          { name: 'text', data: rows.map((r) => r.text), type: 'STRING', nullable: false },
        ],
        rowGroupSize: PARQUET_ROW_GROUP,
      });
      rows = [];
    };
    forEachLine(jsonl, (line) => {
      rows.push(JSON.parse(line));
      if (rows.length === PARQUET_ROW_GROUP) flush();
    });
    if (rows.length > 0) flush();
    writer.finish();
  });
  return join(prepared_, 'train.parquet');
}

interface DataRootSummary {
  records: number;
  distinctRecords: number;
  orderRoot: string;
  setRoot: string;
}

const dataRoot = (path: string) =>
  timed(process.execPath, [CLI, 'data', 'root', '--dataset', path, '--json'], { rss: true });
const openssl = (path: string) => timed('openssl', ['dgst', '-sha256', '-r', path]);
/** bench/leaf-floor.ts: one crypto.hash per line in worker threads, nothing else. */
const FLOOR = fileURLToPath(new URL('./leaf-floor.js', import.meta.url));
const leafFloor = (path: string) => timed(process.execPath, [FLOOR, path]);

type Timing = { seconds: number; runs: Run[] };

function line(name: string, bytes: number, records: number, timing: Timing, extra = ''): string {
  return (
    `  ${name.padEnd(18)} ${timing.seconds.toFixed(3)} s  ${gbps(bytes, timing.seconds)}` +
    `  ${(records / timing.seconds / 1e6).toFixed(2)} M records/s${extra}` +
    `  runs: ${timing.runs.map((r) => r.seconds.toFixed(3)).join(' ')}\n`
  );
}

const peakRss = (timing: Timing) => Math.max(...timing.runs.map((r) => r.peakRssMb ?? 0));
const verdict = (met: boolean) => (met ? 'met' : 'MISSED');

/**
 * data root against openssl on one file; returns aicert's timing and summary. With `floor` (a
 * JSONL file), bench/leaf-floor.ts runs in the same rounds: the most a Node program reaches that
 * calls crypto.hash once per record.
 */
async function measureFile(
  label: string,
  path: string,
  records: number,
  repeat: number,
  floor = false,
): Promise<{ timing: Timing; summary: DataRootSummary; ratio: number }> {
  const bytes = statSync(path).size;
  warm([path]);
  const both = { aicert: () => dataRoot(path), openssl: () => openssl(path) };
  const result: Partial<Record<'floor', Timing>> & Record<'aicert' | 'openssl', Timing> = floor
    ? await compare(repeat, { ...both, floor: () => leafFloor(path) })
    : await compare(repeat, both);
  const summary = JSON.parse(result.aicert.runs[0]!.output) as DataRootSummary;
  if (summary.records !== records)
    throw new Error(`aicert data root counted ${summary.records} records, not ${records}`);
  const ratio = result.openssl.seconds / result.aicert.seconds;
  process.stdout.write(
    `${label}: ${path}, ${(bytes / 1e6).toFixed(0)} MB, ${records} records (${summary.distinctRecords} distinct)\n` +
      line('aicert data root', bytes, records, result.aicert, `  peak RSS ${peakRss(result.aicert).toFixed(0)} MB`) +
      line('openssl serial', bytes, records, result.openssl) +
      `  ratio ${ratio.toFixed(2)}× openssl\n`,
  );
  const floorTiming = result.floor;
  if (floorTiming) {
    const lines = Number(floorTiming.runs[0]!.output.trim());
    if (lines !== records) throw new Error(`bench/leaf-floor.ts counted ${lines} lines, not ${records}`);
    process.stdout.write(
      line('Node floor', bytes, records, floorTiming) +
        `  floor ratio ${(result.openssl.seconds / floorTiming.seconds).toFixed(2)}× openssl: one crypto.hash ` +
        `per line in ${cpus().length} worker threads, no tree, check or sort (bench/leaf-floor.ts)\n`,
    );
  }
  return { timing: result.aicert, summary, ratio };
}

/** The JSONL file's lines cut into `shards` files of consecutive lines, in a directory of their own. */
function prepareShards(dir: string, records: number, shards: number, jsonl: string): string {
  // The shards get a directory of their own: prepared()'s .complete marker would be a file of the dataset.
  const prepared_ = prepared(join(dir, 'datasets', `jsonl-${records}-shards-${shards}`), (top) => {
    const d = join(top, 'shards');
    mkdirSync(d);
    const perShard = Math.ceil(records / shards);
    const name = (i: number) =>
      join(d, `train-${String(i).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.jsonl`);
    let fd = -1;
    forEachLine(jsonl, (text, index) => {
      if (index % perShard === 0) {
        if (fd >= 0) closeSync(fd);
        fd = openSync(name(index / perShard), 'w');
      }
      writeSync(fd, `${text}\n`, null, 'latin1');
    });
    if (fd >= 0) closeSync(fd);
  });
  return join(prepared_, 'shards');
}

/** data root of the shards directory against the one file, alternating; the roots must be the same. */
async function measureShards(jsonl: string, shardDir: string, shards: number, records: number, repeat: number) {
  const bytes = statSync(jsonl).size;
  warm([jsonl]);
  const result = await compare(repeat, { file: () => dataRoot(jsonl), shards: () => dataRoot(shardDir) });
  const file = JSON.parse(result.file.runs[0]!.output) as DataRootSummary;
  const sharded = JSON.parse(result.shards.runs[0]!.output) as DataRootSummary;
  if (file.orderRoot !== sharded.orderRoot || file.setRoot !== sharded.setRoot) {
    throw new Error('the shards do not give the roots of the file they were cut from');
  }
  process.stdout.write(
    `JSONL in ${shards} shards: ${shardDir}\n` +
      line('data root FILE', bytes, records, result.file) +
      line('data root DIR', bytes, records, result.shards) +
      `  same roots; shards ${(result.shards.seconds / result.file.seconds).toFixed(2)}× the one file's time\n\n`,
  );
}

/** aicert data index, then data prove --index for the first, middle and last record (set and order tree). */
async function measureIndex(jsonl: string, records: number): Promise<void> {
  const index = `${jsonl}.aicert-index`;
  const built = await timed(process.execPath, [CLI, 'data', 'index', '--dataset', jsonl, '--out', index], {
    rss: true,
  });
  process.stdout.write(
    `index: aicert data index ${built.seconds.toFixed(1)} s, peak RSS ${built.peakRssMb?.toFixed(0)} MB, ` +
      `${(statSync(index).size / 1e6).toFixed(0)} MB\n`,
  );
  const wanted = new Map([
    [0, 'first'],
    [Math.floor(records / 2), 'middle'],
    [records - 1, 'last'],
  ]);
  const picks: Array<[string, string]> = [];
  forEachLine(jsonl, (line, i) => {
    const name = wanted.get(i);
    if (name) picks.push([name, line]);
  });
  picks.push(['absent', '{"absent":true}']);
  let slowest = 0;
  for (const [name, record] of picks) {
    for (const tree of ['set', 'order']) {
      const run = await timed(process.execPath, [
        CLI,
        ...['data', 'prove', '--dataset', jsonl, '--index', index, '--tree', tree, '--record', record],
      ]);
      slowest = Math.max(slowest, run.seconds);
      process.stdout.write(`  prove --index ${name.padEnd(6)} --tree ${tree.padEnd(5)} ${run.seconds.toFixed(2)} s\n`);
    }
  }
  process.stdout.write(
    `  slowest proof ${slowest.toFixed(2)} s, Node start-up included (bar < ${PROOF_BAR_SECONDS} s: ` +
      `${verdict(slowest < PROOF_BAR_SECONDS)})\n`,
  );
}

export async function run(args: string[]): Promise<void> {
  const config = parseConfig(args);
  if (!config) return;
  process.stdout.write(
    `aicert datasets benchmark: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}\n` +
      `load average at start: ${loadAverage()} (other work on the machine skews every figure)\n` +
      `${config.repeat} run(s) per contender, alternating, warm page cache, median shown\n\n`,
  );
  try {
    const jsonl = prepareJsonl(config.dir, config.records);
    const json = await measureFile('JSONL', jsonl, config.records, config.repeat, true);
    process.stdout.write(`  bar ≥ ${RATIO_BAR}× openssl at 1,000,000 records: ${verdict(json.ratio >= RATIO_BAR)}\n\n`);
    if (config.parquet) {
      const parquet = prepareParquet(config.dir, config.records, jsonl);
      const pq = await measureFile('Parquet', parquet, config.records, config.repeat);
      if (pq.summary.orderRoot !== json.summary.orderRoot || pq.summary.setRoot !== json.summary.setRoot) {
        throw new Error('the Parquet rows do not give the JSONL roots');
      }
      const slower = pq.timing.seconds / json.timing.seconds;
      process.stdout.write(
        `  same roots as the JSONL file; ${slower.toFixed(2)}× the JSONL time ` +
          `(bar within ${PARQUET_BAR}×: ${verdict(slower <= PARQUET_BAR)})\n\n`,
      );
    }
    if (config.shards !== undefined) {
      const shardDir = prepareShards(config.dir, config.records, config.shards, jsonl);
      await measureShards(jsonl, shardDir, config.shards, config.records, config.repeat);
    }
    if (config.index) await measureIndex(jsonl, config.records);
    if (config.memory) {
      const big = prepareJsonl(config.dir, MEMORY_RECORDS);
      const runBig = await measureFile('JSONL (memory)', big, MEMORY_RECORDS, 1);
      const rss = peakRss(runBig.timing);
      process.stdout.write(`  peak RSS ${rss.toFixed(0)} MB (bar < ${RSS_BAR_MB} MB: ${verdict(rss < RSS_BAR_MB)})\n`);
    }
    process.stdout.write(`load average now: ${loadAverage()}\n`);
  } finally {
    removeScratch();
  }
}
