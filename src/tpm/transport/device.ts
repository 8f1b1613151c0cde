import { open, type FileHandle } from 'node:fs/promises';
import { EnvironmentError } from '../../errors.js';
import { MAX_RESPONSE_SIZE } from '../command.js';
import type { TpmTransport } from './transport.js';

/**
 * A TPM character device (/dev/tpmrm0 or /dev/tpm0): one write() of a whole command, one
 * read() of the whole response. Position must be null: character devices reject pread/pwrite.
 * The kernel resource manager behind /dev/tpmrm0 flushes this descriptor's objects on close.
 */
export class DeviceTransport implements TpmTransport {
  readonly description: string;
  private readonly buffer = Buffer.alloc(MAX_RESPONSE_SIZE);

  private constructor(
    private readonly path: string,
    private readonly handle: FileHandle,
  ) {
    this.description = `device:${path}`;
  }

  static async open(path: string): Promise<DeviceTransport> {
    try {
      return new DeviceTransport(path, await open(path, 'r+'));
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const hint = e.code === 'EACCES' ? ' (add your user to the group that owns it, usually `tss`)' : '';
      throw new EnvironmentError('tpm.transport', `cannot open TPM device ${path}: ${e.code ?? e.message}${hint}`, {
        cause: err,
      });
    }
  }

  async send(command: Buffer): Promise<Buffer> {
    try {
      await this.handle.write(command, 0, command.length, null);
      const { bytesRead } = await this.handle.read(this.buffer, 0, this.buffer.length, null);
      return Buffer.from(this.buffer.subarray(0, bytesRead));
    } catch (err) {
      throw new EnvironmentError('tpm.transport', `TPM device ${this.path}: ${(err as Error).message}`, { cause: err });
    }
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}
