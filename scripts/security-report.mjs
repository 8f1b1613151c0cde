#!/usr/bin/env node
// `npm run test:security`: the whole adversarial suite, with its figures. The tamper corpus
// (every mutant of genuine swtpm certificates through the verifier), fault injection into real
// runs, the freshness and replay tests, the attack tests (test/security/attack-*), then fuzzing of
// every parser (100,000 cases per target by default; about 20 minutes on two cores). Exits 1 on any false accept, crash or failed fault.
// Usage: node scripts/security-report.mjs [--fuzz-cases N] [--trials N] [--seed S] [--list-mutants]
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ensureDependencies } from './ensure-deps.mjs';

const { values } = parseArgs({
  options: {
    'fuzz-cases': { type: 'string', default: '100000' },
    trials: { type: 'string', default: '10' },
    seed: { type: 'string', default: String(Date.now() % 2 ** 31) },
    'no-build': { type: 'boolean', default: false },
    'list-mutants': { type: 'boolean', default: false },
  },
});

if (!values['no-build']) {
  ensureDependencies('test');
  const build = spawnSync('npx', ['tsc', '-p', '.'], { stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status ?? 2);
}

const lib = await import('./security-lib.mjs');
const started = Date.now();

const corpus = await lib.runCorpus();
const corpusOk = lib.printCorpus(corpus, { list: values['list-mutants'] });

const faults = await lib.runFaults({ trials: Number(values.trials) });
const faultsOk = lib.printFaults(faults);

console.log('\nFreshness and replay (test/security/freshness.swtpm.test.ts)');
const freshness = spawnSync(process.execPath, ['--test', 'dist/test/security/freshness.swtpm.test.js'], {
  encoding: 'utf8',
});
const count = (what) => Number(new RegExp(`^# ${what} (\\d+)`, 'm').exec(freshness.stdout)?.[1] ?? 0);
for (const line of freshness.stdout.split('\n').filter((l) => /^ {4}(not )?ok \d+/.test(l)))
  console.log(`  ${line.trim()}`);
const freshnessOk = freshness.status === 0;
console.log(`freshness tests: ${count('tests')}   passed: ${count('pass')}`);

// Each attack of the adversarial reviews is a test file of its own, test/security/attack-*.test.ts.
console.log('\nAttacks from the adversarial reviews (test/security/attack-*.test.ts)');
const attackFiles = readdirSync('dist/test/security')
  .filter((f) => /^attack-.*\.test\.js$/.test(f))
  .sort()
  .map((f) => `dist/test/security/${f}`);
// No file names would make `node --test` run every test it finds: run nothing instead.
const attacks =
  attackFiles.length === 0
    ? { status: 0, stdout: '' }
    : spawnSync(process.execPath, ['--test', ...attackFiles], { encoding: 'utf8' });
const attackCount = (what) => Number(new RegExp(`^# ${what} (\\d+)`, 'm').exec(attacks.stdout)?.[1] ?? 0);
for (const line of attacks.stdout.split('\n').filter((l) => /^ *(not )?ok \d+/.test(l))) console.log(`  ${line}`);
const attacksOk = attacks.status === 0;
console.log(`attack tests: ${attackCount('tests')}   passed: ${attackCount('pass')}`);

const seed = Number(values.seed);
const fuzz = await lib.runFuzz({ cases: Number(values['fuzz-cases']), seed });
const fuzzOk = await lib.printFuzz(fuzz, seed);

const minutes = ((Date.now() - started) / 60_000).toFixed(1);
console.log(`\nSUMMARY (${minutes} min)`);
console.log(
  `  mutants tried ${corpus.tried}, rejected ${corpus.rejected}, accepted-as-equivalent ${corpus.equivalent}, false accepts ${corpus.falseAccepts.length}, crashes ${corpus.crashes.length}`,
);
console.log(
  `  fuzz: ${fuzz.length} targets × ${values['fuzz-cases']} cases, crashes ${fuzz.filter((r) => r.crash).length}, max case ${Math.max(...fuzz.map((r) => r.maxMs)).toFixed(1)} ms`,
);
console.log(
  `  faults injected ${faults.length}, survived ${faults.filter((f) => f.survived).length} (skipped ${faults.filter((f) => f.skipped).length})`,
);
console.log(`  freshness and replay tests ${count('tests')}, passed ${count('pass')}`);
console.log(`  attack tests ${attackCount('tests')}, passed ${attackCount('pass')}`);
const ok = corpusOk && faultsOk && freshnessOk && attacksOk && fuzzOk;
console.log(ok ? '  all held' : '  FAILURES above');
process.exit(ok ? 0 : 1);
