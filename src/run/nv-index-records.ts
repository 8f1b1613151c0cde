import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, unlink } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EnvironmentError } from '../errors.js';
import type { Tpm } from '../tpm/client.js';
import { nvReadPublic } from '../tpm/commands/nv-read-public.js';
import { nvUndefineSpace } from '../tpm/commands/nv-undefine-space.js';
import { writtenPublic } from '../tpm/nv-extend-index.js';
import { nvName, type NvPublicArea } from '../tpm/nv-public.js';
import { TpmResponseError } from '../tpm/response-code.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { aicertHome } from '../util/state-dir.js';

/**
 * The NV extend indices that runs defined and have not removed yet, one record per run in the
 * state directory, so that an index left by a run killed with SIGKILL can be reclaimed by the
 * next run on that TPM. A record holds the owner's pid and start time (a pid the kernel reused
 * is not the owner), the TPM (its AK's Name, as the TPM lock names it) and the index's handle
 * and Names. The record is written *before* the index is defined, so no index is ever defined
 * without one.
 *
 * An index is undefined only when its owner is dead and the TPM names the index at that handle
 * exactly as recorded: the Name covers the index's write policy, a key that only that run ever
 * held, so an index anyone else defined (another program's, or a later one at the same handle)
 * is never touched.
 */
export interface NvIndexRecord {
  version: 1;
  pid: number;
  /** The owner's start time in clock ticks since boot (/proc/PID/stat field 22); null where unknown. */
  started: string | null;
  /** The TPM: hex Name of the AK whose lock the run held. */
  tpm: string;
  index: number;
  /** The index's Name as defined and once written (TPMA_NV_WRITTEN set), hex. */
  names: string[];
}

export function nvRecordsDirectory(): string {
  return join(aicertHome(), 'nv-indices');
}

/** One run's record: `write` before each define attempt, `remove` once the index is gone. */
export class NvIndexRecorder {
  private readonly path: string;

  constructor(
    private readonly tpmId: Buffer,
    private readonly directory = nvRecordsDirectory(),
  ) {
    this.path = join(directory, `run-${process.pid}-${randomBytes(4).toString('hex')}.json`);
  }

  async write(area: NvPublicArea): Promise<void> {
    try {
      await this.writeRecord(area);
    } catch (err) {
      throw new EnvironmentError(
        'run.state',
        `cannot record the NV index in ${this.directory} (needed to reclaim it if this run is killed): ${(err as Error).message}`,
      );
    }
  }

  private async writeRecord(area: NvPublicArea): Promise<void> {
    await mkdir(this.directory, { recursive: true, mode: 0o700 });
    const record: NvIndexRecord = {
      version: 1,
      pid: process.pid,
      started: processStart(process.pid),
      tpm: this.tpmId.toString('hex'),
      index: area.index,
      names: [nvName(area), nvName(writtenPublic(area))].map((n) => n.toString('hex')),
    };
    await writeFileAtomic(this.path, `${JSON.stringify(record)}\n`, { mode: 0o600 });
  }

  async remove(): Promise<void> {
    await unlink(this.path).catch(() => undefined);
  }
}

export interface ReclaimedIndex {
  index: number;
  pid: number;
}

/**
 * Undefines the indices that dead runs recorded for this TPM (`tpmId`) and removes their
 * records; a record whose index is gone, or is now another index, is removed without touching
 * the TPM. Records of live runs, of other TPMs, or that cannot be read are left as they are.
 */
export async function reclaimLeakedNvIndices(
  tpm: Tpm,
  tpmId: Buffer,
  directory = nvRecordsDirectory(),
): Promise<ReclaimedIndex[]> {
  let names: string[];
  try {
    names = (await readdir(directory)).filter((n) => n.startsWith('run-') && n.endsWith('.json'));
  } catch {
    return [];
  }
  const reclaimed: ReclaimedIndex[] = [];
  for (const name of names) {
    const path = join(directory, name);
    const record = await readRecord(path);
    if (!record || record.tpm !== tpmId.toString('hex') || isRunning(record)) continue;
    let current: Buffer | undefined;
    try {
      current = (await tpm.execute(nvReadPublic(record.index))).name;
    } catch (err) {
      // TPM_RC_HANDLE: nothing is defined there any more.
      if (!(err instanceof TpmResponseError && (err.responseCode & 0xbf) === 0x8b)) continue;
    }
    if (current && record.names.includes(current.toString('hex'))) {
      await tpm.execute(nvUndefineSpace(record.index));
      reclaimed.push({ index: record.index, pid: record.pid });
    }
    await unlink(path).catch(() => undefined);
  }
  return reclaimed;
}

async function readRecord(path: string): Promise<NvIndexRecord | undefined> {
  try {
    const r = JSON.parse(await readFile(path, 'utf8')) as Partial<NvIndexRecord>;
    const valid =
      r.version === 1 &&
      Number.isSafeInteger(r.pid) &&
      (r.started === null || typeof r.started === 'string') &&
      typeof r.tpm === 'string' &&
      Number.isSafeInteger(r.index) &&
      Array.isArray(r.names) &&
      r.names.every((n) => typeof n === 'string');
    return valid ? (r as NvIndexRecord) : undefined;
  } catch {
    return undefined;
  }
}

/** Alive, and the same process that wrote the record (not a later one the kernel gave its pid). */
function isRunning(record: NvIndexRecord): boolean {
  if (record.pid === process.pid) return true;
  try {
    process.kill(record.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const started = processStart(record.pid);
  return record.started === null || started === null || started === record.started;
}

/** Field 22 of /proc/PID/stat (after the command name, which may hold spaces and parentheses). */
function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}
