/**
 * What the benchmarks share: data generated once and reused, a warm page cache, and timed runs of
 * child processes (peak RSS by /usr/bin/time), run alternately so that load drifts hit both sides.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

const MiB = 2 ** 20;

/** `dir` as `build` leaves it, built once: a marker file says it is complete. */
export function prepared(dir: string, build: (dir: string) => void): string {
  const marker = join(dir, '.complete');
  if (!existsSync(marker)) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    process.stderr.write(`generating ${dir} …\n`);
    build(dir);
    writeFileSync(marker, '');
  }
  return dir;
}

/** Reads every byte once so that all timed runs start from a warm page cache. */
export function warm(paths: string[]): void {
  const buffer = Buffer.allocUnsafe(MiB);
  for (const path of paths) {
    const fd = openSync(path, 'r');
    while (readSync(fd, buffer, 0, buffer.length, null) > 0);
    closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------
// Timed runs. Output goes to a file, not a pipe, so the benchmark process spends no CPU while
// the measured one runs (the machine may have only two cores).

export interface Run {
  seconds: number;
  output: string;
  peakRssMb: number | undefined;
}

export const scratch = join(tmpdir(), `aicert-bench-${process.pid}`);
const hasGnuTime = existsSync('/usr/bin/time');

export async function timed(command: string, args: string[], options: { rss?: boolean } = {}): Promise<Run> {
  mkdirSync(scratch, { recursive: true });
  const outPath = join(scratch, 'stdout');
  const rssPath = join(scratch, 'rss');
  const wrap = options.rss && hasGnuTime;
  const [file, argv] = wrap ? ['/usr/bin/time', ['-f', '%M', '-o', rssPath, command, ...args]] : [command, args];
  const out = openSync(outPath, 'w');
  const started = performance.now();
  const status = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(file, argv, { stdio: ['ignore', out, 'inherit'] });
    child.on('error', reject);
    child.on('exit', resolve);
  });
  const seconds = (performance.now() - started) / 1000;
  closeSync(out);
  if (status !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${status}`);
  const peakRssMb = wrap ? Number(readFileSync(rssPath, 'utf8').trim()) / 1024 : undefined;
  return { seconds, output: readFileSync(outPath, 'utf8'), peakRssMb };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Runs the contenders alternately `repeat` times (so that load drifts hit both alike). */
export async function compare<T extends string>(
  repeat: number,
  contenders: Record<T, () => Promise<Run>>,
): Promise<Record<T, { seconds: number; runs: Run[] }>> {
  const names = Object.keys(contenders) as T[];
  const runs = Object.fromEntries(names.map((name) => [name, [] as Run[]])) as Record<T, Run[]>;
  for (let i = 0; i < repeat; i++) {
    for (const name of i % 2 === 0 ? names : [...names].reverse()) runs[name].push(await contenders[name]());
  }
  return Object.fromEntries(
    names.map((name) => [name, { seconds: median(runs[name].map((r) => r.seconds)), runs: runs[name] }]),
  ) as Record<T, { seconds: number; runs: Run[] }>;
}

export function gbps(bytes: number, seconds: number): string {
  return `${(bytes / seconds / 1e9).toFixed(2)} GB/s`;
}

/** The load average, which skews every figure on a shared machine. */
export function loadAverage(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

/** Removes the scratch directory of the timed runs. */
export function removeScratch(): void {
  rmSync(scratch, { recursive: true, force: true });
}
