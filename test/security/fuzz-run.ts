/**
 * Runs fuzz targets (fuzz-targets.ts) with fast-check: N cases each, every case timed, the first
 * crash (an exception that is not an AicertError) shrunk and reported; then the huge-length
 * inputs, each timed with the heap and array-buffer growth it caused.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { AicertError } from '../../src/errors.js';
import { makeRealCertificates } from '../cert/real-certificates.js';
import type { FuzzTarget, PreparedTarget, SharedSeeds } from './fuzz-targets.js';

export interface HugeResult {
  name: string;
  ms: number;
  /** Heap plus array-buffer growth across the call, in bytes (GC'd before). */
  growth: number;
  /** The AicertError code that refused it, or 'accepted' / 'crash: …'. */
  outcome: string;
}

export interface FuzzResult {
  target: string;
  parser: string;
  cases: number;
  /** Slowest single case, in milliseconds, and a prefix of its input. */
  maxMs: number;
  slowest: string;
  /** How many cases ended in an AicertError (the rest parsed). */
  refused: number;
  /** Of those, how many were refused because the parser's deadline passed (a `…timeout` code). */
  timeouts: number;

  crash?: string;
  huge: HugeResult[];
  durationMs: number;
}

/** Allocation limit for a huge-length input: far below what its length field claims. */
export const HUGE_GROWTH_LIMIT = 32 * 1024 * 1024;
export const CASE_TIME_LIMIT_MS = 1000;

/** A collector the V8 flag exposes, so growth is measured from a collected heap. */
const gc: () => void = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

export async function sharedSeeds(): Promise<SharedSeeds & { dispose(): Promise<void> }> {
  // File-based targets write every case: in memory, disk writeback stalls do not count as parse time.
  const dir = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'aicert-fuzz-'));
  const { success } = await makeRealCertificates();
  return { certificate: success, dir, dispose: () => rm(dir, { recursive: true, force: true }) };
}

export async function fuzzTarget(
  target: FuzzTarget,
  prepared: PreparedTarget,
  cases: number,
  seed: number,
): Promise<FuzzResult> {
  const started = performance.now();
  let maxMs = 0;
  let slowest = '';
  let refused = 0;
  let timeouts = 0;
  let ran = 0;
  const once = async (input: unknown): Promise<void> => {
    const t0 = performance.now();
    try {
      await prepared.run(input);
    } catch (err) {
      if (!(err instanceof AicertError)) throw err;
      refused++;
      if (err.code.endsWith('timeout')) timeouts++;
    } finally {
      ran++;
      const ms = performance.now() - t0;
      if (ms > maxMs) {
        maxMs = ms;
        slowest = describe(input);
      }
    }
  };
  const details = await fc.check(fc.asyncProperty(prepared.input, once), { numRuns: cases, seed, endOnFailure: true });
  const crash = details.failed
    ? `${String(details.errorInstance instanceof Error ? (details.errorInstance.stack ?? details.errorInstance.message) : details.errorInstance)}\n  counterexample: ${describe(details.counterexample?.[0])}`
    : undefined;
  const huge: HugeResult[] = [];
  for (const h of prepared.huge) huge.push(await measureHuge(prepared, h.name, h.input));
  return {
    target: target.name,
    parser: target.parser,
    cases: Math.min(ran, cases),
    maxMs,
    slowest,
    refused,
    timeouts,
    ...(crash && { crash }),
    huge,
    durationMs: performance.now() - started,
  };
}

async function measureHuge(prepared: PreparedTarget, name: string, input: unknown): Promise<HugeResult> {
  gc();
  const before = process.memoryUsage();
  const t0 = performance.now();
  let outcome: string;
  try {
    await prepared.run(input);
    outcome = 'accepted';
  } catch (err) {
    outcome = err instanceof AicertError ? err.code : `crash: ${String(err)}`;
  }
  const ms = performance.now() - t0;
  const after = process.memoryUsage();
  const growth = Math.max(0, after.heapUsed - before.heapUsed) + Math.max(0, after.arrayBuffers - before.arrayBuffers);
  return { name, ms, growth, outcome };
}

function describe(input: unknown): string {
  const text = Buffer.isBuffer(input)
    ? input.toString('hex')
    : JSON.stringify(input, (_, v) => (v?.type === 'Buffer' ? Buffer.from(v.data).toString('hex') : v));
  return (text ?? String(input)).slice(0, 160);
}

/** Problems in a result, as sentences (empty when the target passed). */
export function problemsOf(r: FuzzResult): string[] {
  const problems: string[] = [];
  if (r.crash) problems.push(`${r.target}: crash: ${r.crash}`);
  if (r.maxMs >= CASE_TIME_LIMIT_MS) problems.push(`${r.target}: a case took ${r.maxMs.toFixed(0)} ms: ${r.slowest}`);
  for (const h of r.huge) {
    if (h.outcome === 'accepted' || h.outcome.startsWith('crash'))
      problems.push(`${r.target}: huge input "${h.name}" was not refused: ${h.outcome}`);
    if (h.growth > HUGE_GROWTH_LIMIT)
      problems.push(`${r.target}: huge input "${h.name}" grew memory by ${(h.growth / 2 ** 20).toFixed(1)} MiB`);
    if (h.ms >= CASE_TIME_LIMIT_MS) problems.push(`${r.target}: huge input "${h.name}" took ${h.ms.toFixed(0)} ms`);
  }
  return problems;
}
