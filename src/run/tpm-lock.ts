import { createHash } from 'node:crypto';
import { mkdir, open, readFile, unlink } from 'node:fs/promises';
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
    try {
      const handle = await open(path, 'wx', 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return async () => {
        await unlink(path).catch(() => undefined);
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (owner > 0 && isAlive(owner)) {
        throw new EnvironmentError('run.tpm-busy', `another aicert run (pid ${owner}) is using the TPM at ${address}; wait for it to finish`);
      }
      await unlink(path).catch(() => undefined); // stale: its owner is gone
    }
  }
  throw new EnvironmentError('run.tpm-busy', `could not take the TPM lock ${path}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
