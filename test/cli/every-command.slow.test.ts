import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Each command the help lists is registered by the module `aicert NAME` loads alone (src/cli/main.ts
 * loads only the named command's module). Slow, not a unit test: one CLI process per command, each
 * loading its command's modules, about 10 s of CPU in all.
 */
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const aicert = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

describe('aicert commands', () => {
  test('every command the help lists runs by its name alone (its own module registers it)', () => {
    const help = aicert('--help').stdout;
    const names = [...help.slice(help.indexOf('Commands:')).matchAll(/^ {2}(\S+)/gm)]
      .map((m) => m[1]!)
      .filter((n) => n !== 'help');
    assert.ok(names.includes('verify-signature') && names.includes('tpm') && names.length >= 12, names.join(' '));
    for (const name of names) {
      const r = aicert(name, '--help');
      assert.equal(r.status, 0, `${name}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^Usage: aicert ${name} `));
    }
  });
});
