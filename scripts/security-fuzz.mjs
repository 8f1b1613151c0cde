#!/usr/bin/env node
// `npm run fuzz`: every parser of untrusted bytes (test/security/fuzz-targets.ts) under
// fast-check, 100,000 cases per target by default, then its huge-length inputs. Prints one line
// per target (cases, refused, refused at a deadline, slowest case) and exits 1 on any crash, slow case or unbounded
// allocation. Usage: node scripts/security-fuzz.mjs [--cases N] [--seed S] [--target NAME...]
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { ensureDependencies } from './ensure-deps.mjs';

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: '100000' },
    seed: { type: 'string', default: String(Date.now() % 2 ** 31) },
    target: { type: 'string', multiple: true },
    'no-build': { type: 'boolean', default: false },
  },
});

if (!values['no-build']) {
  ensureDependencies('test');
  const build = spawnSync('npx', ['tsc', '-p', '.'], { stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status ?? 2);
}

const { runFuzz, printFuzz } = await import('./security-lib.mjs');
const results = await runFuzz({ cases: Number(values.cases), seed: Number(values.seed), targets: values.target });
process.exit((await printFuzz(results, Number(values.seed))) ? 0 : 1);
