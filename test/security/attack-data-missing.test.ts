import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { CLI, scratchDir } from '../measure/helpers.js';

/**
 * Issue 16, item 7: `aicert data root --dataset MISSING` said "cannot tell the record format"
 * (the name was judged before the file was looked for), sending the user after a --format flag
 * when the path was wrong. `aicert data` now reports a missing dataset as missing, first
 * (src/cli/data.ts); recordFormatFor stays a function of the name alone.
 */

const dir = scratchDir('attack-data-missing');

function aicert(...args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

describe('a missing --dataset is reported as missing', () => {
  for (const name of ['MISSING', 'missing.jsonl']) {
    for (const command of [['root'], ['prove', '--record', '{}']]) {
      it(`data ${command[0]} --dataset ${name}: "does not exist", exit 2`, () => {
        const r = aicert('data', command[0]!, '--dataset', name, ...command.slice(1));
        assert.equal(r.status, 2, r.stderr);
        assert.equal(r.stderr, `aicert: --dataset ${name} does not exist [usage.missing-input]\n`);
      });
    }
  }
});
