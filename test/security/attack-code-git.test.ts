import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { HashPool } from '../../src/measure/hash-pool.js';
import { measureCode, type CodeMeasurement } from '../../src/measure/code.js';
import { measureCodeArtifact } from '../../src/protocol/artifacts.js';
import { scratchDir, sha256sum, writeTree } from '../measure/helpers.js';

/**
 * Issue 16, item 3: the commit a certificate names must be the code that was hashed. `git
 * update-index --assume-unchanged` or `--skip-worktree` hide a modified file from `git status`,
 * `.git/info/exclude` and `core.excludesFile` hid files from the manifest, `core.fileMode=false`
 * hides a mode change, and the object store can be edited so that git lists the commit's tree
 * with other blobs (or `git replace` used). measureCode now compares the blob ids of the bytes it hashed with the blob
 * ids of the commit's verified tree, and lists files by the commit, the index and `.gitignore`.
 */

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
  return execFileSync('git', [...identity, '-c', 'protocol.file.allow=always', ...args], {
    cwd,
    encoding: 'utf8',
  }).trim();
}

/** A committed repository: train.py, lib/model.py, .gitignore (build/), and an ignored build output. */
function repository(...init: string[]): string {
  const dir = scratchDir('attack-code');
  git(dir, 'init', '-q', ...init);
  writeTree(dir, {
    'train.py': 'print("approved")\n',
    'lib/model.py': 'class Model: pass\n',
    '.gitignore': 'build/\n',
  });
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'approved');
  writeTree(dir, { 'build/out.bin': 'generated' });
  return dir;
}

const EVIL = 'import os; os.system("exfiltrate")\n';

function digestOf(result: CodeMeasurement, name: string): string | undefined {
  return result.manifest.entries.find((e) => e.name === name)?.digest;
}

function assertDirty(
  result: CodeMeasurement,
  change: string,
): asserts result is Extract<CodeMeasurement, { dirty: true }> {
  assert.ok(result.kind === 'git' && result.dirty, 'the measurement claims a clean checkout');
  assert.ok(!('tree' in result), 'a dirty measurement names no tree');
  assert.ok(
    result.changes.includes(change),
    `changes ${JSON.stringify(result.changes)} lack ${JSON.stringify(change)}`,
  );
}

describe('attack: a git commit named for code that differs from it', () => {
  for (const flag of ['--assume-unchanged', '--skip-worktree']) {
    it(`a file modified under ${flag} is measured as dirty, with its modified content in the manifest`, async () => {
      const dir = repository();
      git(dir, 'update-index', flag, 'train.py');
      writeFileSync(join(dir, 'train.py'), EVIL);
      assert.equal(
        git(dir, 'status', '--porcelain', '--untracked-files=all'),
        '',
        'the attack premise: git status is clean',
      );
      const result = await measureCode(dir, { pool });
      assertDirty(result, ' M train.py');
      assert.equal(result.commit, git(dir, 'rev-parse', 'HEAD'));
      assert.equal(digestOf(result, 'train.py'), sha256sum(join(dir, 'train.py')));
      // What a run records: no commit id for a policy's "git:" entry to match.
      const event = await measureCodeArtifact(dir, pool);
      assert.deepEqual([event.git?.dirty, event.digest.gitCommit], [true, undefined]);
    });
  }

  it('a file listed in .git/info/exclude is measured (and so makes the checkout dirty)', async () => {
    const dir = repository();
    writeFileSync(join(dir, '.git', 'info', 'exclude'), 'helper.py\n');
    writeTree(dir, { 'helper.py': EVIL });
    assert.equal(
      git(dir, 'status', '--porcelain', '--untracked-files=all'),
      '',
      'the attack premise: git status is clean',
    );
    const result = await measureCode(dir, { pool });
    assertDirty(result, '?? helper.py');
    assert.equal(digestOf(result, 'helper.py'), sha256sum(join(dir, 'helper.py')));
  });

  it('a file excluded by core.excludesFile is measured', async () => {
    const dir = repository();
    const excludes = join(scratchDir('attack-code-excludes'), 'ignore');
    writeFileSync(excludes, 'helper.py\n');
    git(dir, 'config', 'core.excludesFile', excludes);
    writeTree(dir, { 'helper.py': EVIL });
    assert.equal(
      git(dir, 'status', '--porcelain', '--untracked-files=all'),
      '',
      'the attack premise: git status is clean',
    );
    assertDirty(await measureCode(dir, { pool }), '?? helper.py');
  });

  it('an untracked .gitignore that ignores itself is measured, so what it leaves out is visible', async () => {
    const dir = repository();
    writeTree(dir, { 'lib/.gitignore': '.gitignore\nhelper.py\n', 'lib/helper.py': EVIL });
    assert.equal(
      git(dir, 'status', '--porcelain', '--untracked-files=all'),
      '',
      'the attack premise: git status is clean',
    );
    const result = await measureCode(dir, { pool });
    assertDirty(result, '?? lib/.gitignore');
    // helper.py itself is left out by the .gitignore that is now in the manifest (docs/measure.md).
    assert.ok(!result.manifest.entries.some((e) => e.name === 'lib/helper.py'));
  });

  it('an executable bit hidden by core.fileMode=false makes the checkout dirty', async () => {
    const dir = repository();
    git(dir, 'config', 'core.fileMode', 'false');
    chmodSync(join(dir, 'train.py'), 0o755);
    assert.equal(
      git(dir, 'status', '--porcelain', '--untracked-files=all'),
      '',
      'the attack premise: git status is clean',
    );
    assertDirty(await measureCode(dir, { pool }), ' M train.py');
  });

  /** Commits train.py modified, in a second commit whose tree is returned; HEAD stays the approved commit. */
  function forgedTree(dir: string): { genuine: string; forged: string } {
    writeFileSync(join(dir, 'train.py'), EVIL);
    git(dir, 'add', 'train.py'); // writes the modified blob; the index now matches the work tree
    return { genuine: git(dir, 'rev-parse', 'HEAD^{tree}'), forged: git(dir, 'write-tree') };
  }

  it('a tree object overwritten in the object store (git cat-file then serves the forged tree) is refused', async () => {
    const dir = repository();
    const { genuine, forged } = forgedTree(dir);
    const object = (id: string) => join(dir, '.git', 'objects', id.slice(0, 2), id.slice(2));
    rmSync(object(genuine), { force: true });
    copyFileSync(object(forged), object(genuine));
    const served = execFileSync('git', ['cat-file', '--batch'], { cwd: dir, input: `${genuine}\n` });
    const evilBlob = Buffer.from(git(dir, 'hash-object', 'train.py'), 'hex');
    assert.ok(
      served.includes(evilBlob),
      'the attack premise: git cat-file serves the forged tree under the genuine id',
    );
    await assert.rejects(measureCode(dir, { pool }), { code: 'measure.git-bad-object' });
  });

  it('a tree replaced with git replace (git status and ls-tree then show the forged tree) is measured as dirty', async () => {
    const dir = repository();
    const { genuine, forged } = forgedTree(dir);
    git(dir, 'replace', genuine, forged);
    assert.match(
      git(dir, 'ls-tree', 'HEAD', 'train.py'),
      new RegExp(git(dir, 'hash-object', 'train.py')),
      'the attack premise',
    );
    assert.equal(
      git(dir, 'status', '--porcelain', '--untracked-files=all'),
      '',
      'the attack premise: git status is clean',
    );
    const result = await measureCode(dir, { pool });
    assertDirty(result, ' M train.py');
    assert.equal(digestOf(result, 'train.py'), sha256sum(join(dir, 'train.py')));
  });

  it('an honest clean checkout is named by its commit and tree', async () => {
    const dir = repository();
    chmodSync(join(dir, 'train.py'), 0o755);
    git(dir, 'commit', '-q', '-am', 'executable');
    const result = await measureCode(dir, { pool });
    assert.ok(result.kind === 'git' && !result.dirty, JSON.stringify(result));
    assert.equal(result.commit, git(dir, 'rev-parse', 'HEAD'));
    assert.equal(result.tree, git(dir, 'rev-parse', 'HEAD^{tree}'));
    const sub = await measureCode(join(dir, 'lib'), { pool });
    assert.ok(sub.kind === 'git' && !sub.dirty && sub.tree === git(dir, 'rev-parse', 'HEAD:lib'));
  });

  it('a SHA-256 repository: clean when honest, dirty when a file is modified under --assume-unchanged', async () => {
    const dir = repository('--object-format=sha256');
    const honest = await measureCode(dir, { pool });
    assert.ok(
      honest.kind === 'git' && !honest.dirty && honest.commit === git(dir, 'rev-parse', 'HEAD'),
      JSON.stringify(honest),
    );
    assert.equal(honest.commit.length, 64);
    git(dir, 'update-index', '--assume-unchanged', 'lib/model.py');
    writeFileSync(join(dir, 'lib', 'model.py'), EVIL);
    assertDirty(await measureCode(dir, { pool }), ' M lib/model.py');
  });

  it('a submodule: clean when honest, dirty when one of its files is modified under --assume-unchanged', async () => {
    const library = repository();
    const dir = repository();
    git(dir, 'submodule', 'add', '-q', library, 'vendor/library');
    git(dir, 'commit', '-q', '-m', 'submodule');
    const honest = await measureCode(dir, { pool });
    assert.ok(honest.kind === 'git' && !honest.dirty, JSON.stringify(honest));
    assert.ok(honest.manifest.entries.some((e) => e.name === 'vendor/library/train.py'));
    assert.ok(!honest.manifest.entries.some((e) => /^vendor\/library\/\.git(\/|$)/.test(e.name)));
    const submodule = join(dir, 'vendor', 'library');
    git(submodule, 'update-index', '--assume-unchanged', 'train.py');
    writeFileSync(join(submodule, 'train.py'), EVIL);
    assert.equal(
      git(dir, 'status', '--porcelain', '--untracked-files=all'),
      '',
      'the attack premise: git status is clean',
    );
    assertDirty(await measureCode(dir, { pool }), ' M vendor/library/train.py');
  });

  it('a submodule that is not checked out leaves the checkout dirty, naming the submodule', async () => {
    const library = repository();
    const dir = repository();
    git(dir, 'submodule', 'add', '-q', library, 'vendor/library');
    git(dir, 'commit', '-q', '-m', 'submodule');
    const clone = join(scratchDir('attack-code-clone'), 'clone');
    git(dir, 'clone', '-q', dir, clone); // without --recurse-submodules: vendor/library stays empty
    assertDirty(await measureCode(clone, { pool }), ' D vendor/library');
  });
});
