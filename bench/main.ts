/**
 * Benchmark entry: `npm run bench -- NAME [flags]` (builds, then runs dist/bench/main.js).
 * Each benchmark is a module exporting `run(args)`; `npm run bench -- NAME --help` lists its flags.
 */
const benchmarks: Record<string, () => Promise<{ run(args: string[]): Promise<void> }>> = {
  hashing: () => import('./hashing.js'),
  datasets: () => import('./datasets.js'),
  'audit-power': () => import('./audit-power.js'),
  serving: () => import('./serving.js'),
};

const [name, ...args] = process.argv.slice(2);
const load = name === undefined ? undefined : benchmarks[name];
if (!load) {
  process.stderr.write(`usage: npm run bench -- NAME [flags]\nbenchmarks: ${Object.keys(benchmarks).join(', ')}\n`);
  process.exitCode = 2;
} else {
  await (await load()).run(args);
}
