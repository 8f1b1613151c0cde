import { existsSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { LINUX_BOOT_LOG_PATH, readBootLogFile } from '../evidence/boot-log/read-boot-log.js';
import { parseTcgLog } from '../evidence/boot-log/tcg-log.js';
import { bootLogPcrs } from '../protocol/quoted-pcrs.js';

/** The boot event log a run carries in its certificate, and the PCRs its quotes must then cover. */
export interface RunBootLog {
  bytes: Buffer;
  pcrs: number[];
}

/**
 * The firmware's boot event log for the certificate: `path` when given (`--boot-log FILE`; an
 * unreadable, malformed or SHA-256-less file is a usage error), else Linux's securityfs log
 * when the machine has one (when it cannot be read or used, the run goes on without it and
 * says so). A software TPM has no firmware log: then there is none, and nothing is carried.
 */
export async function findBootLog(
  path: string | undefined,
  log: (line: string) => void,
): Promise<RunBootLog | undefined> {
  if (path !== undefined) return usable(await readBootLogFile(path), path);
  if (!existsSync(LINUX_BOOT_LOG_PATH)) return undefined;
  try {
    const found = usable(await readBootLogFile(LINUX_BOOT_LOG_PATH), LINUX_BOOT_LOG_PATH);
    log(`carrying the boot event log ${LINUX_BOOT_LOG_PATH} (PCRs ${found.pcrs.join(', ')})`);
    return found;
  } catch (err) {
    log(`note: no boot event log in the certificate: ${(err as Error).message}`);
    return undefined;
  }
}

function usable(bytes: Buffer, path: string): RunBootLog {
  const parsed = parseTcgLog(bytes);
  if (!parsed.algorithms.some((a) => a.name === 'sha256'))
    throw new UsageError('usage.boot-log', `the boot event log ${path} has no SHA-256 digests, which the quotes use`);
  return { bytes, pcrs: bootLogPcrs(parsed) };
}
