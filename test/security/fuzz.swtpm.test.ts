import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FUZZ_TARGETS } from './fuzz-targets.js';
import { CASE_TIME_LIMIT_MS, fuzzTarget, problemsOf, sharedSeeds, type FuzzResult } from './fuzz-run.js';
import { reproduceHint, TEST_SEED } from '../util/property.js';

/**
 * The bounded subset of `npm run fuzz` that runs with the tests: every parser of untrusted bytes
 * gets random and mutated inputs (no crash, no case as slow as 1 s) and its huge-length inputs
 * (refused, without allocating what they claim). `npm run fuzz` runs 100,000 cases per target.
 */
const CASES = Number(process.env.AICERT_FUZZ_CASES ?? 2000);

describe('fuzzing every parser of untrusted bytes (bounded)', () => {
  let seeds: Awaited<ReturnType<typeof sharedSeeds>>;
  before(async () => {
    seeds = await sharedSeeds();
  });
  after(async () => seeds?.dispose());

  for (const target of FUZZ_TARGETS) {
    test(`${target.name}: ${target.parser}`, { skip: target.knownDefect }, async () => {
      const cases = target.name === 'certificate-verify' ? Math.ceil(CASES / 4) : CASES;
      const result: FuzzResult = await fuzzTarget(target, await target.prepare(seeds), cases, TEST_SEED);
      const problems = problemsOf(result);
      assert.deepEqual(problems, [], `${problems.join('\n')}\n${reproduceHint()}`);
      assert.equal(result.cases, cases, `${result.cases} of ${cases} cases ran; ${reproduceHint()}`);
      assert.ok(result.maxMs < CASE_TIME_LIMIT_MS, `${result.maxMs} ms: ${result.slowest}; ${reproduceHint()}`);
      assert.ok(result.refused > 0, `no input was refused: the mutations do not reach the parser; ${reproduceHint()}`);
    });
  }
});
