import { createHash, randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EnvironmentError } from '../errors.js';
import { aicertHome } from '../util/state-dir.js';

/**
 * One aicert run per TPM at a time: two runs extending the same PCR would interleave their
 * events and make both logs unverifiable, so a second run is refused, never interleaved.
 * The lock is a file holding the owner's pid; a lock whose owner died is taken over.
 */
export async function lockTpm(address: string): Promise<() => Promise<void>> {
  const dir = join(aicertHome(), 'locks');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, `${createHash('sha256').update(address).digest('hex').slice(0, 16)}.lock`);
  for (let attempt = 0; attempt < 3; attempt++) {
    if (await claim(path)) {
      return async () => {
        await unlink(path).catch(() => undefined);
      };
    }
    const owner = await readOwner(path);
    if (owner !== undefined && isAlive(owner)) {
      throw new EnvironmentError('run.tpm-busy', `another aicert run (pid ${owner}) is using the TPM at ${address}; wait for it to finish`);
    }
    await takeAwayStale(path);
  }
  throw new EnvironmentError('run.tpm-busy', `could not take the TPM lock ${path}`);
}

/**
 * Creates the lock already holding our pid (written beside it, then hard-linked into place),
 * so no other process can ever read it empty and mistake it for a dead owner's.
 */
async function claim(path: string): Promise<boolean> {
  const mine = `${path}.${process.pid}.${randomBytes(6).toString('hex')}`;
  await writeFile(mine, `${process.pid}\n`, { mode: 0o600, flag: 'wx' });
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
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // its owner just unlocked
    throw err;
  }
  const owner = await readOwner(aside);
  if (owner !== undefined && owner !== process.pid && isAlive(owner)) await link(aside, path).catch(() => undefined);
  await unlink(aside).catch(() => undefined);
}

async function readOwner(path: string): Promise<number | undefined> {
  const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
