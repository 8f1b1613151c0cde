import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { HashPool } from '../../src/measure/hash-pool.js';
import { measureCode } from '../../src/measure/code.js';
import { scratchDir, sha256sum, writeTree } from './helpers.js';

const pool = new HashPool({ workers: 2 });
after(() => pool.close());

function git(cwd: string, ...args: string[]): string {
  const identity = [
    '-c',
    'user.name=aicert test',
    '-c',
    'user.email=test@example.invalid',
    '-c',
    'init.defaultBranch=main',
  ];
  return execFileSync('git', [...identity, ...args], { cwd, encoding: 'utf8' }).trim();
}

/** A committed repository with a .gitignore'd build directory. */
function repository(): string {
  const dir = scratchDir('code');
  git(dir, 'init', '-q');
  writeTree(dir, {
    'train.py': 'print("train")\n',
    'lib/model.py': 'class Model: pass\n',
    '.gitignore': 'build/\n',
    '.github/workflows/ci.yml': 'on: push\n',
  });
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'initial');
  writeTree(dir, { 'build/out.bin': 'generated' });
  return dir;
}

function entryNames(manifest: { entries: Array<{ name: string }> }): string[] {
  return manifest.entries.map((e) => e.name);
}

describe('measureCode', () => {
  it('a clean checkout is named by commit and tree, with a manifest of the files git sees', async () => {
    const dir = repository();
    const result = await measureCode(dir, { pool });
    assert.equal(result.kind, 'git');
    assert.ok(result.kind === 'git' && !result.dirty);
    assert.equal(result.commit, git(dir, 'rev-parse', 'HEAD'));
    assert.equal(result.tree, git(dir, 'rev-parse', 'HEAD^{tree}'));
    assert.equal(result.pathInRepository, '');
    // .gitignore and .github are code; the ignored build output and .git are not.
    assert.deepEqual(entryNames(result.manifest), [
      '.github/workflows/ci.yml',
      '.gitignore',
      'lib/model.py',
      'train.py',
    ]);
    assert.equal(result.manifest.entries.at(-1)!.digest, sha256sum(join(dir, 'train.py')));
  });

  it('a modified file makes it dirty: commit kept, no tree, manifest of the current files', async () => {
    const dir = repository();
    appendFileSync(join(dir, 'train.py'), 'print("changed")\n');
    const result = await measureCode(dir, { pool });
    assert.ok(result.kind === 'git' && result.dirty);
    assert.equal(result.commit, git(dir, 'rev-parse', 'HEAD'));
    assert.ok(!('tree' in result));
    assert.ok(result.changes.some((line) => line.includes('train.py')));
    assert.equal(result.manifest.entries.find((e) => e.name === 'train.py')!.digest, sha256sum(join(dir, 'train.py')));
  });

  it('an untracked file makes it dirty and is measured', async () => {
    const dir = repository();
    writeTree(dir, { 'new.py': 'x = 1\n' });
    const result = await measureCode(dir, { pool });
    assert.ok(result.kind === 'git' && result.dirty);
    assert.ok(entryNames(result.manifest).includes('new.py'));
  });

  it('a deleted tracked file makes it dirty and is absent from the manifest', async () => {
    const dir = repository();
    rmSync(join(dir, 'lib', 'model.py'));
    const result = await measureCode(dir, { pool });
    assert.ok(result.kind === 'git' && result.dirty);
    assert.ok(!entryNames(result.manifest).includes('lib/model.py'));
  });

  it('a subdirectory of a clean checkout is named by its subtree id', async () => {
    const dir = repository();
    const result = await measureCode(join(dir, 'lib'), { pool });
    assert.ok(result.kind === 'git' && !result.dirty);
    assert.equal(result.tree, git(dir, 'rev-parse', 'HEAD:lib'));
    assert.equal(result.pathInRepository, 'lib');
    assert.deepEqual(entryNames(result.manifest), ['model.py']);
  });

  it('a repository without commits is dirty and has no commit', async () => {
    const dir = scratchDir('code-unborn');
    git(dir, 'init', '-q');
    writeTree(dir, { 'a.py': 'pass\n' });
    const result = await measureCode(dir, { pool });
    assert.ok(result.kind === 'git' && result.dirty);
    assert.ok(!('commit' in result));
    assert.deepEqual(entryNames(result.manifest), ['a.py']);
  });

  it('a nested repository inside the checkout contributes files but not its .git', async () => {
    const dir = repository();
    const nested = join(dir, 'vendor');
    mkdirSync(nested);
    git(nested, 'init', '-q');
    writeTree(nested, { 'dep.py': 'pass\n' });
    const result = await measureCode(dir, { pool });
    assert.ok(entryNames(result.manifest).includes('vendor/dep.py'));
    assert.ok(!entryNames(result.manifest).some((name) => name.startsWith('vendor/.git')));
  });

  it('a directory outside git is measured by files, without .git but with .gitignore', async () => {
    const dir = scratchDir('code-plain');
    writeTree(dir, { 'run.sh': 'echo\n', '.gitignore': 'x\n', '.git/stray': 'not a repository' });
    const result = await measureCode(dir, { pool });
    assert.equal(result.kind, 'files');
    assert.deepEqual(entryNames(result.manifest), ['.gitignore', 'run.sh']);
  });

  it('a file is measure.not-a-directory, a missing path measure.not-found', async () => {
    const dir = repository();
    await assert.rejects(measureCode(join(dir, 'train.py'), { pool }), { code: 'measure.not-a-directory' });
    await assert.rejects(measureCode(join(dir, 'missing'), { pool }), { code: 'measure.not-found' });
  });
});
