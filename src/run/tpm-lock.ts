import { createHash, randomBytes } from 'node:crypto';
import { constants, existsSync } from 'node:fs';
import { type FileHandle, link, mkdir, open, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EnvironmentError } from '../errors.js';

/**
 * One aicert run per TPM at a time: two runs extending the same PCR would interleave their
 * events and make both logs unverifiable, so a second run is refused, never interleaved.
 *
 * The lock is named by the TPM itself, not by how it was reached: by the Name of aicert's AK, a
 * primary key the TPM derives from its endorsement seed and a fixed template, so one TPM always
 * gives one Name and two TPMs two. Every spelling of an address (`tcp://127.0.0.1:P`,
 * `tcp://localhost:P`, a device and a proxy to it), every `$AICERT_HOME` and every user of the
 * host meet at one lock file, in a directory fixed for the host (LOCK_DIRECTORY; no environment
 * variable moves it). The file holds the owner's pid; a lock whose owner died is taken over.
 *
 * The directory is shared by all users, like /tmp: created world-writable with the sticky bit,
 * so nobody can remove another user's lock; lock files are created with O_EXCL and hard links,
 * which never follow a symbolic link. A directory that is a symbolic link, or that others could
 * write without the sticky bit, is refused. The lock keeps honest runs apart; it is not a
 * barrier against a hostile user of the host who can reach the TPM (docs/security.md).
 */
export const LOCK_DIRECTORY = existsSync('/run/lock') ? '/run/lock/aicert' : '/tmp/aicert-locks';

/** The lock file of the TPM whose AK has Name `akName`. */
export function tpmLockPath(akName: Buffer, directory = LOCK_DIRECTORY): string {
  return join(directory, `tpm-${createHash('sha256').update(akName).digest('hex').slice(0, 32)}.lock`);
}

/**
 * Takes the lock of the TPM whose AK has Name `akName` (`description` names it in messages);
 * resolves with the function that releases it. Refuses with `run.tpm-busy` while another live
 * process holds it.
 */
export async function lockTpm(
  akName: Buffer,
  description: string,
  directory = LOCK_DIRECTORY,
): Promise<() => Promise<void>> {
  await prepareDirectory(directory);
  const path = tpmLockPath(akName, directory);
  for (let attempt = 0; attempt < 3; attempt++) {
    if (await claim(path)) {
      return async () => {
        await unlink(path).catch(() => undefined);
      };
    }
    const owner = await readOwner(path);
    if (owner !== undefined && isAlive(owner)) {
      throw new EnvironmentError(
        'run.tpm-busy',
        `another aicert run (pid ${owner}) is using this TPM (${description}, AK ${akName.toString('hex').slice(0, 16)}…); wait for it to finish`,
      );
    }
    await takeAwayStale(path);
  }
  throw new EnvironmentError('run.tpm-busy', `could not take the TPM lock ${path}`);
}

/**
 * Creates the shared lock directory (mode 1777) if need be, and checks that it can be trusted.
 * It is opened without following a symbolic link, and its mode set and checked through that one
 * open file, so nothing can swap it for a link between the check and the use.
 */
async function prepareDirectory(directory: string): Promise<void> {
  const created = await mkdir(directory).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'EEXIST') return false;
      throw new EnvironmentError(
        'run.lock-directory',
        `cannot create the TPM lock directory ${directory}: ${err.message}`,
      );
    },
  );
  const unsafe = (why: string) =>
    new EnvironmentError(
      'run.lock-directory',
      `the TPM lock directory ${directory} ${why}; remove it (aicert recreates it, mode 1777)`,
    );
  let handle: FileHandle;
  try {
    handle = await open(directory, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code;
    if (errno === 'ELOOP') throw unsafe('is a symbolic link');
    if (errno === 'ENOTDIR') throw unsafe('is not a directory');
    throw new EnvironmentError(
      'run.lock-directory',
      `cannot open the TPM lock directory ${directory}: ${(err as Error).message}`,
    );
  }
  try {
    if (created) await handle.chmod(0o1777); // mkdir's mode is cut by the umask
    const { mode } = await handle.stat();
    const writableByOthers = (mode & 0o022) !== 0;
    const sticky = (mode & 0o1000) !== 0;
    if (writableByOthers && !sticky)
      throw unsafe('is writable by other users without the sticky bit, so they could remove a lock');
  } finally {
    await handle.close();
  }
}

/**
 * Creates the lock already holding our pid (written beside it, then hard-linked into place),
 * so no other process can ever read it empty and mistake it for a dead owner's. Readable by all,
 * so that other users' runs can tell whether its owner is alive.
 */
async function claim(path: string): Promise<boolean> {
  const mine = `${path}.${process.pid}.${randomBytes(6).toString('hex')}`;
  await writeFile(mine, `${process.pid}\n`, { mode: 0o644, flag: 'wx' });
  try {
    await link(mine, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return false;
  } finally {
    await unlink(mine).catch(() => undefined);
  }
}

/**
 * Removes a dead owner's lock by renaming it aside, which only one process can do to a given
 * file. Two processes may both have judged it stale: if the file renamed aside turns out to be
 * the fresh lock of the one that got there first, it is put back.
 */
async function takeAwayStale(path: string): Promise<void> {
  const aside = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.stale`;
  try {
    await rename(path, aside);
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code;
    if (errno === 'ENOENT') return; // its owner just unlocked
    if (errno === 'EPERM' || errno === 'EACCES') {
      throw new EnvironmentError(
        'run.tpm-busy',
        `the TPM lock ${path} belongs to another user and its owner is gone; that user (or root) must remove it`,
      );
    }
    throw err;
  }
  const owner = await readOwner(aside);
  if (owner !== undefined && owner !== process.pid && isAlive(owner)) await link(aside, path).catch(() => undefined);
  await unlink(aside).catch(() => undefined);
}

/** The pid in a lock file; undefined when it holds none, or is not a regular file (a link, a pipe). */
async function readOwner(path: string): Promise<number | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    if (!(await handle.stat()).isFile()) return undefined;
    const buffer = Buffer.alloc(32);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const pid = Number(buffer.subarray(0, bytesRead).toString('latin1').trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } finally {
    await handle.close();
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
