import { open } from 'node:fs/promises';
import { InputError } from '../../errors.js';
import { MAX_BOOT_LOG_BYTES } from './tcg-log.js';

/** Where Linux exposes the firmware's event log (securityfs). */
export const LINUX_BOOT_LOG_PATH = '/sys/kernel/security/tpm0/binary_bios_measurements';

/**
 * Reads a boot event log file of at most MAX_BOOT_LOG_BYTES. securityfs reports a size of 0, so
 * the bound is enforced while reading (at most one byte more than the limit is ever read), not
 * from the file's size. Errors are `InputError('bootlog.unreadable' | 'bootlog.malformed')`.
 */
export async function readBootLogFile(path: string): Promise<Buffer> {
  const handle = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
    throw new InputError('bootlog.unreadable', `cannot read the boot event log ${path}: ${err.code ?? err.message}`);
  });
  try {
    if (!(await handle.stat()).isFile())
      throw new InputError('bootlog.unreadable', `cannot read the boot event log ${path}: not a regular file`);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.alloc(Math.min(64 * 1024, MAX_BOOT_LOG_BYTES + 1 - total));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      total += bytesRead;
      if (total > MAX_BOOT_LOG_BYTES)
        throw new InputError(
          'bootlog.malformed',
          `the boot event log ${path} is over the ${MAX_BOOT_LOG_BYTES}-byte limit`,
        );
    }
    return Buffer.concat(chunks, total);
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError('bootlog.unreadable', `cannot read the boot event log ${path}: ${(err as Error).message}`);
  } finally {
    await handle.close();
  }
}
