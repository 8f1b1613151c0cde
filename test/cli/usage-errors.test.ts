import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { AICERT_VERSION } from '../../src/version.js';

/** How `aicert` meets a mistyped command line: one line on stderr, exit 2 (README: "2 usage"). */
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const aicert = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

function assertUsageError(args: string[], expected: RegExp[]): string {
  const r = aicert(...args);
  assert.equal(r.status, 2, `aicert ${args.join(' ')}: ${r.stderr}`);
  assert.equal(r.stdout, '');
  const lines = r.stderr.split('\n');
  assert.equal(lines.length, 2, `one line, then the end: ${JSON.stringify(r.stderr)}`);
  assert.equal(lines[1], '');
  for (const re of expected) assert.match(lines[0]!, re);
  return lines[0]!;
}

describe('aicert usage errors', () => {
  test('an unknown command exits 2 naming it and the closest known command', () => {
    const line = assertUsageError(
      ['verfy'],
      [/^aicert: unknown command 'verfy'/, /did you mean 'verify'\?/, /'aicert --help'/],
    );
    assert.equal(line, "aicert: unknown command 'verfy' (did you mean 'verify'?); run 'aicert --help' for usage");
  });

  test('commands that share a module are known by name too (sign registers verify-signature)', () => {
    assertUsageError(
      ['verify-signatur', 'model'],
      [/unknown command 'verify-signatur'/, /did you mean 'verify-signature'\?/],
    );
    assertUsageError(['sing'], [/unknown command 'sing'/, /did you mean 'sign'\?/]);
  });

  test('an unknown command with nothing close gets no suggestion', () => {
    const line = assertUsageError(
      ['frobnicate', 'check'],
      [/^aicert: unknown command 'frobnicate'/, /'aicert --help'/],
    );
    assert.doesNotMatch(line, /did you mean/);
  });

  test("an unknown subcommand exits 2 and points at its parent's help", () => {
    assertUsageError(['tpm', 'frobnicate'], [/^aicert: unknown command 'frobnicate'/, /'aicert tpm --help'/]);
    assertUsageError(
      ['tpm', 'simulator', 'strat'],
      [/unknown command 'strat'/, /did you mean 'start'\?/, /'aicert tpm simulator --help'/],
    );
  });

  test('a mistyped option exits 2 with a suggestion', () => {
    assertUsageError(
      ['--verison'],
      [/^aicert: unknown option '--verison'/, /did you mean '--version'\?/, /'aicert --help'/],
    );
    assertUsageError(
      ['tpm', 'pcrs', '--pcrr', '0'],
      [/unknown option '--pcrr'/, /did you mean '--pcr'\?/, /'aicert tpm pcrs --help'/],
    );
  });

  test('--help and --version exit 0 on stdout', () => {
    const help = aicert('--help');
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /^Usage: aicert /);
    assert.equal(help.stderr, '');
    const version = aicert('--version');
    assert.equal(version.status, 0, version.stderr);
    assert.equal(version.stdout.trim(), AICERT_VERSION);
  });

  test('no command prints the help on stderr and exits 2, like a missing subcommand', () => {
    for (const args of [[], ['tpm']]) {
      const r = aicert(...args);
      assert.equal(r.status, 2, r.stderr);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, new RegExp(`^Usage: ${['aicert', ...args].join(' ')} `));
    }
  });
});
