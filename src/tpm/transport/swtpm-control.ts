import { EnvironmentError } from '../../errors.js';
import { exchange, type SocketEndpoint } from './socket-exchange.js';

/** swtpm control-channel commands (swtpm_ioctls(3)); not the MS simulator's platform port. */
const CMD = { INIT: 0x02, SHUTDOWN: 0x03, SET_LOCALITY: 0x05 } as const;

/**
 * swtpm's control channel: power cycle (INIT), shutdown and locality. Each command is
 * `u32 code ‖ payload`, each answer starts with `u32 result` (0 = success).
 */
export class SwtpmControl {
  constructor(readonly endpoint: SocketEndpoint) {}

  private async call(code: number, name: string, payload: Buffer = Buffer.alloc(0)): Promise<void> {
    const request = Buffer.alloc(4 + payload.length);
    request.writeUInt32BE(code);
    payload.copy(request, 4);
    const answer = await exchange(this.endpoint, request, (r) => (r.length >= 4 ? 4 : undefined), {
      maxBytes: 64,
      timeoutMs: 30_000,
      what: 'swtpm control channel',
    });
    const result = answer.readUInt32BE(0);
    if (result !== 0)
      throw new EnvironmentError('tpm.control', `swtpm control ${name} failed with result 0x${result.toString(16)}`);
  }

  /**
   * Power cycle: swtpm resets PCRs and increments resetCount. The TPM then needs
   * Startup(CLEAR) before it answers other commands.
   */
  init(): Promise<void> {
    const flags = Buffer.alloc(4);
    return this.call(CMD.INIT, 'INIT', flags);
  }

  /** Stops swtpm; it exits after answering. */
  shutdown(): Promise<void> {
    return this.call(CMD.SHUTDOWN, 'SHUTDOWN');
  }

  setLocality(locality: number): Promise<void> {
    return this.call(CMD.SET_LOCALITY, 'SET_LOCALITY', Buffer.of(locality));
  }
}
