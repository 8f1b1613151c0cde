import { existsSync } from 'node:fs';
import { InputError, EnvironmentError } from '../errors.js';
import type { SocketEndpoint } from './transport/socket-exchange.js';

/**
 * Where the TPM is. One syntax for users:
 *   device:/dev/tpmrm0            a TPM character device (kernel resource manager)
 *   swtpm:tcp://127.0.0.1:2321    swtpm data channel over TCP; control channel on port+1
 *   swtpm:unix:/path/tpm.sock     swtpm data channel on a Unix socket; control at PATH.ctrl
 *   auto                          /dev/tpmrm0, else /dev/tpm0, else an error naming the options
 */
export type TpmAddress =
  | { kind: 'device'; path: string }
  | { kind: 'swtpm'; data: SocketEndpoint; control: SocketEndpoint };

export const TPM_ADDRESS_HELP =
  'device:/dev/tpmrm0 | swtpm:tcp://HOST:PORT | swtpm:unix:PATH | auto (default; also $AICERT_TPM)';

export function parseTpmAddress(text: string): TpmAddress {
  if (text === 'auto') return resolveAuto();
  if (text.startsWith('device:')) {
    const path = text.slice('device:'.length);
    if (!path.startsWith('/')) throw new InputError('tpm.address', `TPM device path must be absolute: "${text}"`);
    return { kind: 'device', path };
  }
  const tcp = /^swtpm:tcp:\/\/(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
  if (tcp) {
    const host = tcp[1]!.replace(/^\[|\]$/g, '');
    const port = Number(tcp[2]);
    if (port < 1 || port > 65534) throw new InputError('tpm.address', `TPM port out of range in "${text}"`);
    return { kind: 'swtpm', data: { kind: 'tcp', host, port }, control: { kind: 'tcp', host, port: port + 1 } };
  }
  if (text.startsWith('swtpm:unix:') && text.length > 'swtpm:unix:'.length) {
    const path = text.slice('swtpm:unix:'.length);
    return { kind: 'swtpm', data: { kind: 'unix', path }, control: { kind: 'unix', path: `${path}.ctrl` } };
  }
  throw new InputError('tpm.address', `cannot understand TPM address "${text}"; expected ${TPM_ADDRESS_HELP}`);
}

function resolveAuto(): TpmAddress {
  for (const path of ['/dev/tpmrm0', '/dev/tpm0']) if (existsSync(path)) return { kind: 'device', path };
  throw new EnvironmentError(
    'tpm.not-found',
    'no TPM found: /dev/tpmrm0 and /dev/tpm0 do not exist. Choose one with --tpm (or $AICERT_TPM): ' +
      'device:PATH for a TPM device, swtpm:tcp://HOST:PORT or swtpm:unix:PATH for a software TPM. ' +
      'To try aicert without TPM hardware, run `aicert tpm simulator start` and use the address it prints.',
  );
}

/** The address the user asked for: the flag, else $AICERT_TPM, else auto. */
export function defaultTpmAddress(flag?: string): string {
  return flag ?? process.env.AICERT_TPM ?? 'auto';
}
