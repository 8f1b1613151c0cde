/**
 * `npm run bench -- hashing [--quick] [flags]`: times `aicert measure` (the whole CLI command)
 * against the reference tools on a synthetic model in a warm page cache, in one run:
 *   - SHA-256 over an N-file model vs `openssl dgst -sha256` over the same files one after another;
 *   - BLAKE3 over the same model vs `b3sum` (multi-threaded);
 *   - one big file in OMS shards (1 GB) vs `openssl dgst -sha256` over it;
 *   - a tree of 100,000 files of 1 KiB;
 *   - peak RSS of every aicert run (via /usr/bin/time);
 *   - the ceiling of any Node reader on this machine (page-cache copy + hash, per core × cores).
 * and prints times, GB/s and ratios against the acceptance bars of issue 3. With --buffers it
 * also sweeps the hash pool's read-buffer size through the library API.
 *
 * Data is generated once under --dir (default .bench/, gitignored) and reused.
 */
import { createHash, randomFillSync } from 'node:crypto';
import { createRequire } from 'node:module';
import { closeSync, mkdirSync, openSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { HashPool } from '../src/measure/hash-pool.js';
import { compare, gbps, median, prepared, type Run, scratch, timed, warm } from './bench-util.js';
import { ReadBuffer } from '../src/measure/read-buffer.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const OMS_SHARD_SIZE = 1_000_000_000;

interface Config {
  dir: string;
  files: number;
  fileSize: number;
  bigSize: number;
  smallFiles: number;
  smallSize: number;
  repeat: number;
  only: Set<string>;
  buffers: boolean;
}

const CASES = ['startup', 'sha256', 'blake3', 'big', 'small'];

const HELP = `npm run bench -- hashing [flags]

  --quick              4 × 256 MiB model, 2 GiB big file, 2 runs per case (a few minutes less)
  --dir DIR            where the synthetic data lives (default .bench/; env AICERT_BENCH_DIR)
  --files N            files in the model (default 8)
  --file-size BYTES    size of each model file (default 536870912 = 512 MiB)
  --big-size BYTES     size of the single big file (default 4294967296 = 4 GiB)
  --small-files N      files in the small-file tree (default 100000)
  --small-size BYTES   size of each small file (default 1024)
  --repeat N           runs per case; the median is reported (default 3)
  --only LIST          comma-separated cases: ${CASES.join(',')} (default all)
  --buffers            also sweep the pool's read-buffer size (64 KiB … 1 MiB) via the library
`;

function parseConfig(args: string[]): Config | undefined {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: 'boolean' },
      dir: { type: 'string' },
      files: { type: 'string' },
      'file-size': { type: 'string' },
      'big-size': { type: 'string' },
      'small-files': { type: 'string' },
      'small-size': { type: 'string' },
      repeat: { type: 'string' },
      only: { type: 'string' },
      buffers: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return undefined;
  }
  const quick = values.quick ?? false;
  const int = (text: string | undefined, fallback: number) => {
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!Number.isSafeInteger(value) || value < 1) throw new Error(`not a positive integer: ${text}`);
    return value;
  };
  const only = new Set((values.only ?? CASES.join(',')).split(','));
  for (const name of only)
    if (!CASES.includes(name)) throw new Error(`unknown case ${name}; cases: ${CASES.join(', ')}`);
  return {
    dir: values.dir ?? process.env.AICERT_BENCH_DIR ?? '.bench',
    files: int(values.files, quick ? 4 : 8),
    fileSize: int(values['file-size'], quick ? 256 * MiB : 512 * MiB),
    bigSize: int(values['big-size'], quick ? 2 * GiB : 4 * GiB),
    smallFiles: int(values['small-files'], 100_000),
    smallSize: int(values['small-size'], 1024),
    repeat: int(values.repeat, quick ? 2 : 3),
    only,
    buffers: values.buffers ?? false,
  };
}

// ---------------------------------------------------------------------------------------------
// Synthetic data, generated once. Random bytes, so nothing (compression, sparse files) flatters
// the reader; a directory counts as ready only once its marker exists.

let randomBlock: Buffer | undefined;

function writeRandomFile(path: string, size: number, seed: number): void {
  randomBlock ??= randomFillSync(Buffer.alloc(16 * MiB));
  const BLOCK = randomBlock;
  const fd = openSync(path, 'w');
  try {
    for (let written = 0, block = 0; written < size; block++) {
      BLOCK.writeUInt32LE(seed, 0);
      BLOCK.writeUInt32LE(block, 4); // every block of every file differs
      const length = Math.min(BLOCK.length, size - written);
      writeSync(fd, BLOCK, 0, length);
      written += length;
    }
  } finally {
    closeSync(fd);
  }
}

function modelFiles(dir: string, config: Config): string[] {
  return Array.from({ length: config.files }, (_, i) => join(dir, `model-${String(i + 1).padStart(5, '0')}.bin`));
}

function prepareModel(config: Config): string {
  return prepared(join(config.dir, 'hashing', `model-${config.files}x${config.fileSize}`), (dir) => {
    for (const [i, path] of modelFiles(dir, config).entries()) writeRandomFile(path, config.fileSize, i + 1);
  });
}

function prepareBig(config: Config): string {
  const dir = prepared(join(config.dir, 'hashing', `big-${config.bigSize}`), (d) =>
    writeRandomFile(join(d, 'big.bin'), config.bigSize, 1000),
  );
  return join(dir, 'big.bin');
}

function prepareSmall(config: Config): string {
  return prepared(join(config.dir, 'hashing', `small-${config.smallFiles}x${config.smallSize}`), (dir) => {
    const content = Buffer.alloc(config.smallSize);
    for (let i = 0; i < config.smallFiles; i++) {
      const sub = join(dir, `d${String(Math.floor(i / 1000)).padStart(4, '0')}`);
      if (i % 1000 === 0) mkdirSync(sub);
      randomFillSync(content);
      writeFileSync(join(sub, `f${String(i).padStart(6, '0')}.txt`), content);
    }
  });
}

const aicert = (args: string[]) => timed(process.execPath, [CLI, 'measure', '--json', ...args], { rss: true });
const opensslSerial = (files: string[]) =>
  timed('sh', ['-c', 'for f; do openssl dgst -sha256 -r "$f"; done', 'sh', ...files]);
const b3sum = (files: string[]) => timed('b3sum', files);

// ---------------------------------------------------------------------------------------------
// Reporting.

const peakRss: number[] = [];
const verdicts: string[] = [];

interface Timing {
  seconds: number;
  runs: Run[];
}

function report(label: string, bytes: number, ours: Timing, theirs: Timing, reference: string, bar: number): void {
  const ratio = theirs.seconds / ours.seconds;
  const best = (timing: Timing) => Math.min(...timing.runs.map((r) => r.seconds));
  const bestRatio = best(theirs) / best(ours);
  const rss = Math.max(...ours.runs.map((r) => r.peakRssMb ?? 0));
  peakRss.push(rss);
  const verdict = ratio >= bar ? 'met' : 'MISSED';
  verdicts.push(`${label}: ${ratio.toFixed(2)}× (bar ≥ ${bar}×) ${verdict}`);
  process.stdout.write(
    `${label}\n` +
      `  aicert measure   ${ours.seconds.toFixed(3)} s  ${gbps(bytes, ours.seconds)}  peak RSS ${rss.toFixed(0)} MB` +
      `  runs: ${ours.runs.map((r) => r.seconds.toFixed(3)).join(' ')}\n` +
      `  ${reference.padEnd(15)}  ${theirs.seconds.toFixed(3)} s  ${gbps(bytes, theirs.seconds)}` +
      `  runs: ${theirs.runs.map((r) => r.seconds.toFixed(3)).join(' ')}\n` +
      `  ratio ${ratio.toFixed(2)}× of medians, ${bestRatio.toFixed(2)}× of best runs  (bar ≥ ${bar}×: ${verdict})\n`,
  );
}

interface JsonManifest {
  entries: Array<{ name: string; digest: string }>;
}

/** The digests aicert printed must be the reference tool's (a fast wrong answer is no answer). */
function checkAgreement(aicertOutput: string, referenceOutput: string, dir: string): void {
  const ours = new Map(
    (JSON.parse(aicertOutput) as JsonManifest[])[0]!.entries.map((e) => [join(dir, e.name), e.digest]),
  );
  for (const line of referenceOutput.trim().split('\n')) {
    // openssl -r: "<hex> *<path>"; b3sum: "<hex>  <path>"
    const digest = line.slice(0, 64);
    const name = line.slice(66);
    if (ours.get(name) !== digest)
      throw new Error(`digest mismatch for ${name}: aicert ${ours.get(name)}, reference ${digest}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The ceiling: Node cannot mmap, so every reader in Node copies each byte out of the page cache
// once and then hashes it. One core therefore moves bytes at 1 / (1/copy + 1/hash), and the best
// any pool can do on all cores is that times the core count. Both rates are measured here, on one
// core, in this run, so that a missed bar can be told apart from a slow implementation.

const CEILING_BUFFER = 128 * 1024;

function secondsOf(work: () => void): number {
  const started = performance.now();
  work();
  return (performance.now() - started) / 1000;
}

/** Bytes per second of copying `path` out of the (warm) page cache into an aligned buffer. */
function copyRate(path: string, bytes: number): number {
  const buffer = new ReadBuffer(CEILING_BUFFER).alignedFor(0);
  const fd = openSync(path, 'r');
  try {
    const pass = () => {
      for (let position = 0; position < bytes; )
        position += readSync(fd, buffer, 0, Math.min(buffer.length, bytes - position), position);
    };
    pass();
    return bytes / secondsOf(pass);
  } finally {
    closeSync(fd);
  }
}

function updater(hasher: { update(data: Buffer): unknown }): (data: Buffer) => void {
  return (data) => void hasher.update(data);
}

/** Bytes per second of hashing in memory, 128 KiB per update, as a worker does. */
function hashRate(algorithm: 'sha256' | 'blake3', bytes: number): number {
  const buffer = new ReadBuffer(CEILING_BUFFER).alignedFor(0);
  randomFillSync(buffer);
  const { Blake3Hasher } = createRequire(import.meta.url)(
    '@napi-rs/blake-hash',
  ) as typeof import('@napi-rs/blake-hash');
  const pass = () => {
    const update = algorithm === 'sha256' ? updater(createHash('sha256')) : updater(new Blake3Hasher());
    for (let done = 0; done < bytes; done += buffer.length) update(buffer);
  };
  pass();
  return bytes / secondsOf(pass);
}

function reportCeiling(algorithm: 'sha256' | 'blake3', files: string[], bytes: number, referenceSeconds: number): void {
  const sample = Math.min(bytes / files.length, 512 * MiB);
  const copy = copyRate(files[0]!, sample);
  const hash = hashRate(algorithm, sample);
  const cores = cpus().length;
  const seconds = (bytes * (1 / copy + 1 / hash)) / cores;
  process.stdout.write(
    `  ceiling (copy ${gbps(copy, 1)} + ${algorithm} ${gbps(hash, 1)} per core, × ${cores} cores, no process start-up): ` +
      `${seconds.toFixed(3)} s  ${gbps(bytes, seconds)}  = ${(referenceSeconds / seconds).toFixed(2)}× the reference\n\n`,
  );
}

// ---------------------------------------------------------------------------------------------

async function sweepBuffers(files: string[], bytes: number, repeat: number): Promise<void> {
  const sizes = [64 * 1024, 128 * 1024, 256 * 1024, 512 * 1024, MiB];
  const seconds = new Map<number, number[]>(sizes.map((s) => [s, []]));
  const pools = new Map(sizes.map((size) => [size, new HashPool({ readBufferSize: size })]));
  const tasks = files.map((path) => ({ path, start: 0, end: bytes / files.length, algorithm: 'sha256' as const }));
  try {
    for (const pool of pools.values()) await pool.hashAll(tasks.slice(0, 1)); // start the workers
    for (let i = 0; i < repeat; i++) {
      for (const size of i % 2 === 0 ? sizes : [...sizes].reverse()) {
        const started = performance.now();
        await pools.get(size)!.hashAll(tasks);
        seconds.get(size)!.push((performance.now() - started) / 1000);
      }
    }
  } finally {
    await Promise.all([...pools.values()].map((pool) => pool.close()));
  }
  process.stdout.write('read-buffer sweep (library HashPool, SHA-256, same model, workers already running)\n');
  for (const size of sizes) {
    const s = median(seconds.get(size)!);
    process.stdout.write(`  ${String(size / 1024).padStart(5)} KiB  ${s.toFixed(3)} s  ${gbps(bytes, s)}\n`);
  }
  process.stdout.write('\n');
}

export async function run(args: string[]): Promise<void> {
  const config = parseConfig(args);
  if (!config) return;
  const want = (name: string) => config.only.has(name);
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  process.stdout.write(
    `aicert hashing benchmark: ${cpus().length} cores (${cpu}), Node ${process.version}\n` +
      `load average at start: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')} (other work on the machine skews every figure)\n` +
      `data: ${config.dir}/hashing, warm page cache; ${config.repeat} run(s) per contender, median shown\n\n`,
  );
  try {
    const modelDir = want('sha256') || want('blake3') || config.buffers ? prepareModel(config) : undefined;
    const files = modelDir ? modelFiles(modelDir, config) : [];
    const modelBytes = config.files * config.fileSize;
    const big = want('big') ? prepareBig(config) : undefined;
    const small = want('small') ? prepareSmall(config) : undefined;
    warm([...files, ...(big ? [big] : [])]);

    if (want('startup')) {
      const tiny = join(scratch, 'tiny');
      mkdirSync(scratch, { recursive: true });
      writeFileSync(tiny, 'x');
      const runs = (await compare(config.repeat, { aicert: () => aicert([tiny]) })).aicert;
      process.stdout.write(`CLI start-up (measure of a 1-byte file): ${runs.seconds.toFixed(3)} s\n\n`);
    }
    if (want('sha256') && modelDir) {
      const result = await compare(config.repeat, {
        aicert: () => aicert([modelDir]),
        openssl: () => opensslSerial(files),
      });
      checkAgreement(result.aicert.runs[0]!.output, result.openssl.runs[0]!.output, modelDir);
      report(
        `SHA-256, ${config.files} × ${config.fileSize / MiB} MiB model`,
        modelBytes,
        result.aicert,
        result.openssl,
        'openssl serial',
        2.3,
      );
      reportCeiling('sha256', files, modelBytes, result.openssl.seconds);
    }
    if (want('blake3') && modelDir) {
      const result = await compare(config.repeat, {
        aicert: () => aicert([modelDir, '--hash', 'blake3']),
        b3sum: () => b3sum(files),
      });
      checkAgreement(result.aicert.runs[0]!.output, result.b3sum.runs[0]!.output, modelDir);
      report(
        `BLAKE3, ${config.files} × ${config.fileSize / MiB} MiB model`,
        modelBytes,
        result.aicert,
        result.b3sum,
        'b3sum',
        0.9,
      );
      reportCeiling('blake3', files, modelBytes, result.b3sum.seconds);
    }
    if (want('big') && big) {
      const result = await compare(config.repeat, {
        aicert: () => aicert([big, '--shard-size', String(OMS_SHARD_SIZE)]),
        openssl: () => opensslSerial([big]),
      });
      report(
        `SHA-256, one ${(config.bigSize / GiB).toFixed(2)} GiB file, 1 GB shards`,
        config.bigSize,
        result.aicert,
        result.openssl,
        'openssl',
        2.0,
      );
      reportCeiling('sha256', [big], config.bigSize, result.openssl.seconds);
    }
    if (want('small') && small) {
      const runs = (await compare(config.repeat, { aicert: () => aicert([small]) })).aicert;
      const rss = Math.max(...runs.runs.map((r) => r.peakRssMb ?? 0));
      peakRss.push(rss);
      const verdict = runs.seconds < 20 ? 'met' : 'MISSED';
      verdicts.push(`${config.smallFiles} small files: ${runs.seconds.toFixed(2)} s (bar < 20 s) ${verdict}`);
      process.stdout.write(
        `${config.smallFiles} files of ${config.smallSize} B\n` +
          `  aicert measure   ${runs.seconds.toFixed(3)} s  ${(config.smallFiles / runs.seconds).toFixed(0)} files/s  peak RSS ${rss.toFixed(0)} MB` +
          `  (bar < 20 s: ${verdict})\n\n`,
      );
    }
    if (config.buffers && modelDir) await sweepBuffers(files, modelBytes, config.repeat);

    if (peakRss.length > 0) {
      const worst = Math.max(...peakRss);
      verdicts.push(`peak RSS: ${worst.toFixed(0)} MB (bar < 300 MB) ${worst < 300 ? 'met' : 'MISSED'}`);
    }
    process.stdout.write(
      `summary (load average now: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')})\n`,
    );
    for (const line of verdicts) process.stdout.write(`  ${line}\n`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
