import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { visibleText } from '../../src/util/visible-text.js';
import { CLI, scratchDir } from '../measure/helpers.js';

/**
 * Issue 16, item 7: bytes of input files (file names, JSON, YAML keys) reached the terminal
 * through error messages, so a hostile file could send ESC and BEL sequences (retitle the
 * window, clear the screen, hide the rest of a line). The CLI now escapes every control
 * character where it prints an error (src/cli/main.ts, reportError and usage errors).
 */

const dir = scratchDir('attack-escapes');
/** OSC 0 (set the window title) ended by BEL, then "clear the screen". */
const HOSTILE = '\u001b]0;pwned\u0007\u001b[2J';

function aicert(...args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

function assertEscaped(stderr: string): void {
  assert.doesNotMatch(
    stderr,
    /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/,
    `a control character reached the terminal: ${JSON.stringify(stderr)}`,
  );
  assert.match(stderr, /\\x1b\]0;pwned\\x07\\x1b\[2J/, stderr);
  assert.equal(stderr.trim().split('\n').length, 1, 'one line');
}

describe('attack: control characters from input files reach the terminal through error messages', () => {
  it('a file name: verify of a missing certificate named with ESC and BEL', () => {
    const r = aicert('verify', `evil${HOSTILE}.json`);
    assert.equal(r.status, 2, r.stderr);
    assertEscaped(r.stderr);
  });

  it('file content: a JSONL record with ESC and BEL in data root', () => {
    writeFileSync(join(dir, 'records.jsonl'), `{"a":1}\n${HOSTILE}\n`);
    const r = aicert('data', 'root', '--dataset', 'records.jsonl');
    assert.equal(r.status, 2, r.stderr);
    assertEscaped(r.stderr);
  });

  it('file content: a policy key with ESC and BEL', () => {
    writeFileSync(join(dir, 'cert.json'), '{}');
    writeFileSync(join(dir, 'policy.yaml'), `version: 1\n${JSON.stringify(HOSTILE)}: 1\n`);
    const r = aicert('verify', 'cert.json', '--policy', 'policy.yaml');
    assert.equal(r.status, 2, r.stderr);
    assertEscaped(r.stderr);
  });

  it('an argument: an unknown option carrying ESC and BEL', () => {
    const r = aicert('verify', `--x${HOSTILE}`);
    assert.equal(r.status, 2, r.stderr);
    assertEscaped(r.stderr);
  });
});

describe('visibleText', () => {
  it('escapes C0, DEL, C1, bidirectional overrides and lone surrogates; keeps printable text', () => {
    assert.equal(
      visibleText('a\u0007b\u007f\u009b\u202e\u2066\ud800c'),
      'a\\x07b\\x7f\\x9b\\u{202e}\\u{2066}\\u{d800}c',
    );
    assert.equal(visibleText('line\nnext\ttab'), 'line\\nnext\\ttab');
    assert.equal(visibleText('stack\n  at x', true), 'stack\n  at x');
    assert.equal(visibleText('ünïcödé 模型 😀 \\x1b'), 'ünïcödé 模型 😀 \\x1b');
  });
});
