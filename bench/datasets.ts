/**
 * `npm run bench -- datasets [--records N] [flags]`: times `aicert data root` (the whole CLI
 * command: both record trees of a JSONL file) against serial `openssl dgst -sha256` over the same
 * file, in one run, in a warm page cache; prints throughput, the ratio and aicert's peak RSS
 * against the bars of issue 13 (≥ 0.5× openssl at 1,000,000 records; < 300 MB at 10,000,000,
 * `--records 10000000`). The Parquet set of the same rows comes with Parquet support (issue 13,
 * deliverable 2).
 *
 * The file (records of 200–800 bytes, reproducible) is generated once under --dir (default
 * .bench/, gitignored) and reused.
 */
import { closeSync, openSync, statSync, writeSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { compare, gbps, loadAverage, prepared, removeScratch, type Run, timed, warm } from './bench-util.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const RATIO_BAR = 0.5;
const RSS_BAR_MB = 300;

const HELP = `npm run bench -- datasets [flags]

  --records N     JSONL records (default 1000000, about 0.5 GB; 10000000 for the memory bar)
  --dir DIR       where the generated data lives (default .bench/; env AICERT_BENCH_DIR)
  --repeat N      runs per contender, alternating; the median is reported (default 3)
`;

interface Config {
  records: number;
  dir: string;
  repeat: number;
}

function parseConfig(args: string[]): Config | undefined {
  const { values } = parseArgs({
    args,
    options: {
      records: { type: 'string' },
      dir: { type: 'string' },
      repeat: { type: 'string' },
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

function prepareJsonl(config: Config): string {
  const dir = prepared(join(config.dir, 'datasets', `jsonl-${config.records}`), (d) => {
    writeJsonl(join(d, 'train.jsonl'), config.records);
  });
  return join(dir, 'train.jsonl');
}

const dataRoot = (path: string) =>
  timed(process.execPath, [CLI, 'data', 'root', '--dataset', path, '--json'], { rss: true });
const openssl = (path: string) => timed('openssl', ['dgst', '-sha256', '-r', path]);

export async function run(args: string[]): Promise<void> {
  const config = parseConfig(args);
  if (!config) return;
  process.stdout.write(
    `aicert datasets benchmark: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}\n` +
      `load average at start: ${loadAverage()} (other work on the machine skews every figure)\n`,
  );
  try {
    const path = prepareJsonl(config);
    const bytes = statSync(path).size;
    warm([path]);
    process.stdout.write(
      `data: ${path}, ${config.records} JSONL records, ${(bytes / 1e6).toFixed(0)} MB, warm page cache; ` +
        `${config.repeat} run(s) per contender, median shown\n\n`,
    );
    const result = await compare(config.repeat, { aicert: () => dataRoot(path), openssl: () => openssl(path) });
    const summary = JSON.parse(result.aicert.runs[0]!.output) as { records: number; distinctRecords: number };
    if (summary.records !== config.records) {
      throw new Error(`aicert data root counted ${summary.records} records, not ${config.records}`);
    }
    const ratio = result.openssl.seconds / result.aicert.seconds;
    const rss = Math.max(...result.aicert.runs.map((r) => r.peakRssMb ?? 0));
    const line = (name: string, runs: { seconds: number; runs: Run[] }, extra = '') =>
      `  ${name.padEnd(18)} ${runs.seconds.toFixed(3)} s  ${gbps(bytes, runs.seconds)}` +
      `  ${(config.records / runs.seconds / 1e6).toFixed(2)} M records/s${extra}` +
      `  runs: ${runs.runs.map((r) => r.seconds.toFixed(3)).join(' ')}\n`;
    process.stdout.write(
      `JSONL, ${config.records} records (${summary.distinctRecords} distinct)\n` +
        line('aicert data root', result.aicert, `  peak RSS ${rss.toFixed(0)} MB`) +
        line('openssl serial', result.openssl) +
        `  ratio ${ratio.toFixed(2)}× openssl (bar ≥ ${RATIO_BAR}× at 1,000,000 records: ` +
        `${ratio >= RATIO_BAR ? 'met' : 'MISSED'})\n` +
        `  peak RSS ${rss.toFixed(0)} MB (bar < ${RSS_BAR_MB} MB at 10,000,000 records: ` +
        `${rss < RSS_BAR_MB ? 'met' : 'MISSED'})\n` +
        '  Parquet: not measured yet (Parquet support is issue 13, deliverable 2)\n' +
        `load average now: ${loadAverage()}\n`,
    );
  } finally {
    removeScratch();
  }
}
