import { TPM_CC } from '../constants.js';
import { PASSWORD, type TpmCommand } from '../command.js';

/**
 * ActivateCredential: the TPM releases the credential only if `activateHandle` is the object
 * whose Name the credential was made for, on the TPM that holds `keyHandle` (the EK).
 * `credentialBlob` and `secret` are the TPM2B contents (without their size prefix).
 */
export function activateCredential(
  activateHandle: number,
  keyHandle: number,
  ekPolicySession: number,
  credentialBlob: Uint8Array,
  secret: Uint8Array,
): TpmCommand<Buffer> {
  return {
    name: 'ActivateCredential',
    code: TPM_CC.ActivateCredential,
    handles: [activateHandle, keyHandle],
    authorizations: [PASSWORD, { kind: 'policy', session: ekPolicySession }],
    parameters: (w) => w.tpm2b(credentialBlob).tpm2b(secret),
    parse: (r) => r.tpm2b('certInfo', 64),
  };
}
