import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));

test('aicert report --app DIR writes the built verifier page into DIR, beside the report', async () => {
  execFileSync(process.execPath, [join(root, 'scripts/build-web.mjs')], { stdio: 'pipe' });
  const dir = await mkdtemp(join(tmpdir(), 'aicert-app-'));
  try {
    const certificate = join(dir, 'model.aicert.json');
    await writeFile(certificate, '{"version":1}\n');
    const run = spawnSync(
      process.execPath,
      [
        join(root, 'dist/src/cli/main.js'),
        'report',
        certificate,
        '--allow-untrusted-ak',
        '--html',
        join(dir, 'r.html'),
        '--app',
        join(dir, 'site'),
      ],
      { encoding: 'utf8' },
    );
    // An unusable certificate still gets its report page, and the verifier is written too.
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, /verifier written to .*site\/aicert-verifier\.html/);
    assert.deepEqual(
      await readFile(join(dir, 'site/aicert-verifier.html')),
      await readFile(join(root, 'dist/web/aicert-verifier.html')),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
