import { MAX_RESPONSE_SIZE } from '../command.js';
import type { TpmTransport } from './transport.js';
import { describeEndpoint, exchange, type SocketEndpoint } from './socket-exchange.js';

/** Command timeout: a real TPM can take tens of seconds to create an RSA primary key. */
const TIMEOUT_MS = 120_000;

/**
 * swtpm's data channel with raw TPM framing. swtpm serves one client at a time and has no
 * resource manager, so each command uses its own short connection: other processes (and
 * swtpm's control channel users) are never locked out between commands, and transient objects
 * survive because swtpm keeps them across connections.
 */
export class SwtpmSocketTransport implements TpmTransport {
  readonly description: string;

  constructor(private readonly endpoint: SocketEndpoint) {
    this.description = `swtpm:${describeEndpoint(endpoint)}`;
  }

  send(command: Buffer): Promise<Buffer> {
    return exchange(
      this.endpoint,
      command,
      (received) => {
        if (received.length < 10) return undefined;
        const size = received.readUInt32BE(2);
        // A size below the header is malformed; hand back what came so the decoder reports it.
        if (size < 10) return received.length;
        return received.length >= size ? size : undefined;
      },
      { maxBytes: MAX_RESPONSE_SIZE, timeoutMs: TIMEOUT_MS, what: 'TPM' },
    );
  }

  async close(): Promise<void> {}
}
