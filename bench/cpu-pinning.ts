/**
 * CPU pinning for benchmarks whose processes would otherwise compete for the same cores: which
 * CPUs this process may use, and `taskset` (util-linux) to move a live process, every thread of it,
 * onto a set of them.
 */
import { spawnSync } from 'node:child_process';

const TASKSET = 'taskset';

/** Fails with one line when `taskset` is missing, naming the way around it. */
export function requireTaskset(alternative: string): void {
  const probe = spawnSync(TASKSET, ['--version'], { stdio: 'ignore' });
  if (probe.error || probe.status !== 0) {
    throw new Error(`taskset (util-linux) not found: install util-linux or pass ${alternative}`);
  }
}

/** "0-2,5" → [0, 1, 2, 5]: taskset's and the kernel's CPU list format. */
export function parseCpuList(text: string): number[] {
  return text
    .trim()
    .split(',')
    .flatMap((part) => {
      const [from, to] = part.split('-').map(Number);
      if (!Number.isInteger(from) || (to !== undefined && !Number.isInteger(to))) {
        throw new Error(`not a CPU list: ${text}`);
      }
      return Array.from({ length: (to ?? from!) - from! + 1 }, (_, i) => from! + i);
    });
}

/** The CPUs `pid` may run on now (its affinity, which a cpuset or an outer taskset may narrow). */
export function affinityOf(pid: number): number[] {
  const out = spawnSync(TASKSET, ['-p', '-c', String(pid)], { encoding: 'utf8' });
  const m = /list:\s*(\S+)/.exec(out.stdout ?? '');
  if (out.status !== 0 || !m) throw new Error(`taskset -p -c ${pid} failed: ${(out.stderr ?? '').trim()}`);
  return parseCpuList(m[1]!);
}

/** Moves every thread of `pid` onto `cpus`; threads it starts later inherit the mask. */
export function pin(pid: number, cpus: number[]): void {
  const out = spawnSync(TASKSET, ['-a', '-p', '-c', cpus.join(','), String(pid)], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`taskset -a -p -c ${cpus.join(',')} ${pid} failed: ${out.stderr.trim()}`);
}

/** The `taskset -c CPUS` prefix that starts a command on `cpus`. */
export function onCpus(cpus: number[], command: string[]): string[] {
  return [TASKSET, '-c', cpus.join(','), ...command];
}

/** [0, 1, 2] → "0-2", [0, 2] → "0,2": for printing. */
export function cpuListText(cpus: number[]): string {
  const sorted = [...cpus].sort((a, b) => a - b);
  const ranges: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    ranges.push(j > i ? `${sorted[i]}-${sorted[j]}` : String(sorted[i]));
    i = j + 1;
  }
  return ranges.join(',');
}
