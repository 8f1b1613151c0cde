import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { assertProperty, SEED_VARIABLE, seededBytes, TEST_SEED } from './property.js';

const TEST_ROOT = fileURLToPath(new URL('../../../test/', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'fixtures' ? [] : sources(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

describe('property tests take their seed from AICERT_TEST_SEED', () => {
  it('a failing property names the seed and how to rerun it (sync and async)', async () => {
    const failing = (n: number) => assert.ok(n < 1000);
    const expectSeed = (err: unknown) => {
      assert.ok(err instanceof Error);
      assert.match(err.message, new RegExp(`seed: ${TEST_SEED},`));
      assert.match(
        err.message,
        new RegExp(`reproduce with ${SEED_VARIABLE}=${TEST_SEED} node scripts/run-tests.mjs test/util/property.test`),
      );
      return true;
    };
    assert.throws(() => assertProperty(fc.property(fc.integer(), failing)), expectSeed);
    await assert.rejects(assertProperty(fc.asyncProperty(fc.integer(), async (n) => failing(n))), expectSeed);
  });

  it('the same seed draws the same cases', () => {
    const drawn = (): number[] => {
      const seen: number[] = [];
      assertProperty(
        fc.property(fc.integer(), (n) => void seen.push(n)),
        { numRuns: 20 },
      );
      return seen;
    };
    assert.deepEqual(drawn(), drawn());
    assert.deepEqual(seededBytes(100, 'label', 3), seededBytes(100, 'label', 3));
    assert.notDeepEqual(seededBytes(32, 'label', 3), seededBytes(32, 'label', 4));
    assert.equal(seededBytes(33, 'x').length, 33);
  });

  it('every fc.assert and fc.check in test/ goes through test/util/property.ts', () => {
    // The fuzz harness runs fc.check with the seed its callers give: TEST_SEED in the tests, --seed in `npm run fuzz`.
    const allowed = [join('util', 'property.ts'), join('security', 'fuzz-run.ts')];
    const direct = sources(TEST_ROOT)
      .filter((path) => !allowed.some((name) => path.endsWith(name)))
      .flatMap((path) =>
        readFileSync(path, 'utf8')
          .split('\n')
          .flatMap((line, i) =>
            /\bfc\.(assert|check)\s*\(/.test(line) ? [`test/${relative(TEST_ROOT, path)}:${i + 1}`] : [],
          ),
      );
    assert.deepEqual(direct, [], "use assertProperty (test/util/property.ts) so that the run's seed applies");
  });
});
