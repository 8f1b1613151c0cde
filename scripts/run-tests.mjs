#!/usr/bin/env node
// Runs the compiled test files under dist/test with Node's built-in runner.
// Node 20's `--test` does not expand globs, so the file list is built here.
// Installs what the tests need and builds first (scripts/ensure-deps.mjs).
// Usage: node scripts/run-tests.mjs [--unit | --tpm | --slow] [SUBSTRING...]
//   (none)  every test file (npm test, what .ci/run runs)
//   --unit  the fast tests: no software TPM, none of the slow ones (npm run test:unit, < 2 minutes)
//   --tpm   the tests that start a software TPM: *.swtpm.test.ts (npm run test:tpm)
//   --slow  the tests that need no TPM but take many seconds of CPU each: *.slow.test.ts (npm run test:slow)
//   SUBSTRING  only files whose path contains one of them
// The naming rule: a test file that starts swtpm (itself or through a helper) is *.swtpm.test.ts;
// one that starts none but alone takes many seconds of CPU (it trains a model with TF.js or
// PyTorch, measures a process's peak memory on adversarial inputs, hashes a 4 GiB file, or starts
// the CLI once per command) is *.slow.test.ts; every other test file is a unit test. The unit
// tests run one file per core (at least two at a time); the others one at a time, as Node does by
// default on a 2-core machine.
// Every run has one seed for random test inputs (test/util/property.ts): AICERT_TEST_SEED when
// set, else a fresh one, printed first (and again after a failure) so that the run can be repeated.
import { randomInt } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { ensureDependencies } from './ensure-deps.mjs';

const GROUPS = {
  '--tpm': (f) => f.endsWith('.swtpm.test.js'),
  '--slow': (f) => f.endsWith('.slow.test.js'),
  '--unit': (f) => !f.endsWith('.swtpm.test.js') && !f.endsWith('.slow.test.js'),
};

/** Compiled test files whose source still exists (tsc leaves the output of a renamed or deleted test behind). */
function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...collect(path));
    else if (name.endsWith('.test.js') && existsSync(path.replace(/^dist\//, '').replace(/\.js$/, '.ts')))
      out.push(path);
  }
  return out;
}

const args = process.argv.slice(2);
const groups = args.filter((a) => Object.hasOwn(GROUPS, a));
const filters = args.filter((a) => !Object.hasOwn(GROUPS, a));
const unknown = filters.filter((a) => a.startsWith('--'));
if (groups.length > 1 || unknown.length > 0) {
  console.error(
    `usage: node scripts/run-tests.mjs [--unit | --tpm | --slow] [SUBSTRING...]${unknown.length ? ` (unknown option ${unknown[0]})` : ''}`,
  );
  process.exit(2);
}
const group = groups[0];

ensureDependencies('test');
const build = spawnSync('npx', ['tsc', '-p', '.'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 2);

const files = collect('dist/test')
  .filter((f) => group === undefined || GROUPS[group](f))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error(`no test file under dist/test matches ${[group, ...filters].filter(Boolean).join(' ') || 'the run'}`);
  process.exit(1);
}

const seed = process.env.AICERT_TEST_SEED || String(randomInt(2 ** 31));
if (!/^-?\d+$/.test(seed) || Math.abs(Number(seed)) >= 2 ** 31) {
  console.error(`AICERT_TEST_SEED=${seed}: not a 32-bit integer`);
  process.exit(2);
}
console.log(`random test inputs: AICERT_TEST_SEED=${seed} (set it to repeat this run's cases)`);
const reporter = process.env.CI ? ['--test-reporter=spec'] : [];
const concurrency = group === '--unit' ? [`--test-concurrency=${Math.max(2, availableParallelism())}`] : [];
const result = spawnSync(process.execPath, ['--test', ...reporter, ...concurrency, ...files], {
  stdio: 'inherit',
  env: { ...process.env, AICERT_TEST_SEED: seed },
});
if (result.status !== 0) console.log(`random test inputs were drawn with AICERT_TEST_SEED=${seed}`);
process.exit(result.status ?? 1);
