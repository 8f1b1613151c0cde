/**
 * The files of a git commit, read from the object store with every object verified by its id
 * (git-objects.ts), from the commit down through its trees. So a blob id listed here is the one
 * the commit names, whatever was done to the index, the object files or git's caches. Code
 * measurement (code.ts) compares these blob ids with the blob ids of the files it hashed to
 * decide whether a checkout is clean.
 */
import { createHash } from 'node:crypto';
import { lstat, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../errors.js';
import { GitFailed, runGit } from './git-command.js';
import { badObject, GitObjectReader, ID_BYTES, type ObjectFormat } from './git-objects.js';

export type { ObjectFormat };

/** A non-tree entry of a commit's tree, named relative to the measured directory. */
export interface TreeEntry {
  /** Git's mode: 100644 or 100755 (regular file), 120000 (symbolic link), 160000 (submodule commit not readable here). */
  mode: string;
  /** Object id (hex): the blob, or for 160000 the submodule's commit. */
  id: string;
}

export interface CommitFiles {
  /** Id of the tree of the measured directory in the commit. */
  tree: string;
  /** Every file of that tree, recursively, including the files of readable submodules. */
  entries: Map<string, TreeEntry>;
  /** Paths of the submodules in it, readable or not. */
  submodules: string[];
}

/** Modes a tree may hold (100664 is written by very old git and means a regular file). */
const FILE_MODES = new Set(['100644', '100755', '100664', '120000', '160000']);
const TREE_MODE = '40000';

export async function objectFormatOf(dir: string): Promise<ObjectFormat> {
  const out = (await runGit(dir, ['rev-parse', '--show-object-format'])).toString('utf8').trim();
  if (out !== 'sha1' && out !== 'sha256')
    throw new InputError('measure.git-object-format', `unknown git object format ${JSON.stringify(out)}`);
  return out;
}

/** The id git gives a blob with `content`: hash of "blob <size>\0<content>". Callers feed the content. */
export function blobIdHasher(format: ObjectFormat, size: number) {
  return createHash(format).update(`blob ${size}\0`);
}

/**
 * The files of `commit` under `prefix` (the measured directory relative to the top of the work
 * tree `top`, '' or ending in '/'), or undefined when the commit has no such directory.
 */
export async function readCommitFiles(
  top: string,
  commit: string,
  prefix: string,
  format: ObjectFormat,
): Promise<CommitFiles | undefined> {
  const objects = new GitObjectReader(top, format);
  try {
    let tree = await treeOfCommit(objects, commit);
    for (const component of prefix.split('/').filter((part) => part !== '')) {
      const [content] = await objects.read([tree], 'tree');
      const entry = parseTree(tree, content!, format).find((e) => e.name === component);
      if (!entry || entry.mode !== TREE_MODE) return undefined;
      tree = entry.id;
    }
    const files: CommitFiles = { tree, entries: new Map(), submodules: [] };
    await collectFiles(objects, join(top, ...prefix.split('/')), tree, '', files);
    return files;
  } finally {
    objects.close();
  }
}

async function treeOfCommit(objects: GitObjectReader, commit: string): Promise<string> {
  const [content] = await objects.read([commit], 'commit');
  const treeLine = /^tree ([0-9a-f]+)\n/.exec(content!.toString('latin1'));
  if (!treeLine || treeLine[1]!.length !== ID_BYTES[objects.format] * 2)
    throw badObject(commit, 'is a commit without a tree line');
  return treeLine[1]!;
}

/**
 * Adds the files of `tree` (read with `objects`) to `files` under
 * `namePrefix`, one level of trees per git call. Names are relative to the measured directory
 * `workDir`. Submodules whose own checkout holds the commit named are read recursively; the
 * others stay 160000 entries.
 */
async function collectFiles(
  objects: GitObjectReader,
  workDir: string,
  tree: string,
  namePrefix: string,
  files: CommitFiles,
): Promise<void> {
  let level: Array<{ id: string; name: string }> = [{ id: tree, name: namePrefix }];
  while (level.length > 0) {
    const contents = await objects.read(
      level.map((t) => t.id),
      'tree',
    );
    const next: typeof level = [];
    for (const [i, { id, name: dir }] of level.entries()) {
      for (const entry of parseTree(id, contents[i]!, objects.format)) {
        const name = dir === '' ? entry.name : `${dir}/${entry.name}`;
        if (entry.mode === TREE_MODE) {
          next.push({ id: entry.id, name });
          continue;
        }
        if (entry.mode === '160000') {
          files.submodules.push(name);
          if (await collectSubmodule(workDir, name, entry.id, objects.format, files)) continue;
        }
        files.entries.set(name, { mode: entry.mode === '100664' ? '100644' : entry.mode, id: entry.id });
      }
    }
    level = next;
  }
}

/** Reads the submodule checked out at `name` at `commit`; false when that checkout cannot show it. */
async function collectSubmodule(
  workDir: string,
  name: string,
  commit: string,
  format: ObjectFormat,
  files: CommitFiles,
): Promise<boolean> {
  const path = join(workDir, ...name.split('/'));
  if (
    !(await lstat(path).then(
      (stats) => stats.isDirectory(),
      () => false,
    ))
  )
    return false;
  try {
    // An uninitialised submodule is an empty directory inside the superproject's work tree.
    const top = (await runGit(path, ['rev-parse', '--show-toplevel'])).toString('utf8').trim();
    if ((await realpath(top)) !== (await realpath(path)) || (await objectFormatOf(path)) !== format) return false;
    const objects = new GitObjectReader(path, format);
    const submodule: CommitFiles = { tree: '', entries: new Map(), submodules: [] };
    try {
      await collectFiles(objects, workDir, await treeOfCommit(objects, commit), name, submodule);
    } finally {
      objects.close();
    }
    for (const [file, entry] of submodule.entries) files.entries.set(file, entry);
    files.submodules.push(...submodule.submodules);
    return true;
  } catch (err) {
    // A submodule checked out at another commit may not hold the one the tree names.
    if (err instanceof GitFailed || (err as InputError).code === 'measure.git-object-missing') return false;
    throw err;
  }
}

/** Entries of a verified tree object: "<mode> <name>\0<raw id>" repeated. */
function parseTree(
  id: string,
  content: Buffer,
  format: ObjectFormat,
): Array<{ mode: string; name: string; id: string }> {
  const entries: Array<{ mode: string; name: string; id: string }> = [];
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for (let offset = 0; offset < content.length; ) {
    const space = content.indexOf(0x20, offset);
    const nul = space < 0 ? -1 : content.indexOf(0x00, space);
    if (space < 0 || nul < 0 || nul + 1 + ID_BYTES[format] > content.length) throw badObject(id, 'is a malformed tree');
    const mode = content.subarray(offset, space).toString('latin1');
    if (mode !== TREE_MODE && !FILE_MODES.has(mode))
      throw badObject(id, `is a tree with an entry of unknown mode ${JSON.stringify(mode)}`);
    let name: string;
    try {
      name = decoder.decode(content.subarray(space + 1, nul));
    } catch {
      throw new InputError(
        'measure.bad-filename',
        `the commit's tree ${id} names a file that is not valid UTF-8; OMS manifests need UTF-8 names`,
      );
    }
    if (name === '' || name === '.' || name === '..' || name.includes('/'))
      throw badObject(id, `is a tree with an entry named ${JSON.stringify(name)}`);
    entries.push({ mode, name, id: content.subarray(nul + 1, nul + 1 + ID_BYTES[format]).toString('hex') });
    offset = nul + 1 + ID_BYTES[format];
  }
  return entries;
}
