import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CLI, scratchDir } from '../measure/helpers.js';

/**
 * Issue 16, item 7: `aicert audit --out FILE` replaced an existing report with an "unusable"
 * one when the audit exited 2 (a certificate that is not one, say), so a mistyped argument
 * destroyed the report an endorsement was to be made from. --out is now written, atomically,
 * only when the audit reached a verdict (passed or failed).
 */

const dir = scratchDir('attack-audit-out');
const PREVIOUS = '{"previous": "report"}\n';

function audit(...args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'audit', ...args], { cwd: dir, encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

describe('attack: audit --out clobbers an existing report when the audit is unusable', () => {
  mkdirSync(join(dir, 'transcript'));
  writeFileSync(join(dir, 'train.jsonl'), '{"x":1}\n');
  writeFileSync(join(dir, 'not-a-certificate.json'), '{}');

  it('an unusable certificate (exit 2) leaves the existing report as it was, and no temp file', () => {
    writeFileSync(join(dir, 'report.json'), PREVIOUS);
    const r = audit(
      'not-a-certificate.json',
      '--transcript',
      'transcript',
      '--data',
      'train.jsonl',
      '--out',
      'report.json',
      '--',
      'true',
    );
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /nothing was written to report\.json/);
    assert.equal(readFileSync(join(dir, 'report.json'), 'utf8'), PREVIOUS);
    assert.deepEqual(
      readdirSync(dir).filter((name) => name.endsWith('.tmp')),
      [],
    );
  });

  it('a usage error leaves the existing report as it was', () => {
    writeFileSync(join(dir, 'report.json'), PREVIOUS);
    const r = audit(
      'not-a-certificate.json',
      '--transcript',
      'transcript',
      '--data',
      'train.jsonl',
      '--q',
      'many',
      '--out',
      'report.json',
      '--',
      'true',
    );
    assert.equal(r.status, 2, r.stderr);
    assert.equal(readFileSync(join(dir, 'report.json'), 'utf8'), PREVIOUS);
  });
});
