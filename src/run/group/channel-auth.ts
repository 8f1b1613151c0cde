import { createHash } from 'node:crypto';
import { AicertError } from '../../errors.js';
import { verifyQuote } from '../../evidence/quote.js';
import type { GroupMember } from '../../protocol/group-commitment.js';
import type { PcrAttestation } from '../../tpm/attest-pcrs.js';
import { TPM_ALG } from '../../tpm/constants.js';
import { objectName, parsePublic2b, public2b, type PublicArea } from '../../tpm/public.js';
import { decodeBase64Strict, encodeBase64 } from '../../util/base64.js';
import { canonicalize } from '../../util/jcs.js';
import { GroupFailure } from './channel.js';
import type { ChannelQuote } from './messages.js';

/**
 * The channel between nodes is authenticated by their AKs (docs/distributed.md): a node joins
 * with a quote over rank 0's fresh nonce and its member entry; rank 0 sends the group commitment
 * with a quote over its digest and every member's nonce. A peer without the AK it names cannot
 * produce either.
 */

const sha256 = (value: unknown) => createHash('sha256').update(canonicalize(value), 'utf8').digest();

/** What a node's join quote covers. */
export function joinChallenge(welcomeNonce: string, member: GroupMember, memberNonce: string): Buffer {
  return sha256({ purpose: 'aicert-group-join', nonce: welcomeNonce, member, memberNonce });
}

/** What rank 0's commitment quote covers: the commitment's digest and every member's nonce, in rank order. */
export function commitmentChallenge(digest: Buffer, nonces: readonly string[]): Buffer {
  return sha256({ purpose: 'aicert-group-commitment', digest: digest.toString('hex'), nonces });
}

/** An AK's public area as the channel (and the certificate) carries it: base64 TPM2B_PUBLIC. */
export function akPublicBase64(ak: PublicArea): string {
  return encodeBase64(public2b(ak.bytes));
}

export function channelQuote(q: PcrAttestation): ChannelQuote {
  const sha256Bank = q.pcrs.get(TPM_ALG.SHA256) ?? new Map<number, Buffer>();
  return {
    attest: encodeBase64(q.attest),
    signature: encodeBase64(q.signature),
    pcrs: Object.fromEntries([...sha256Bank].map(([pcr, v]) => [String(pcr), v.toString('hex')])),
  };
}

/**
 * Checks a peer's channel quote: signed by the AK in `akPublic`, whose Name must be `akName`,
 * over exactly `qualifyingData`. Returns the AK. Any failure is the group's failure.
 */
export async function checkChannelQuote(
  q: ChannelQuote,
  akPublic: string,
  akName: string,
  qualifyingData: Buffer,
  who: string,
): Promise<PublicArea> {
  try {
    const ak = parsePublic2b(decodeBase64Strict(akPublic, `${who}'s AK`));
    const name = objectName(ak).toString('hex');
    if (name !== akName) throw new GroupFailure(`${who} sent AK ${name} but names AK ${akName}`);
    const pcrs = new Map(Object.entries(q.pcrs).map(([k, v]) => [Number(k), Buffer.from(v, 'hex')] as const));
    await verifyQuote(
      {
        attest: decodeBase64Strict(q.attest, `${who}'s quote`),
        signature: decodeBase64Strict(q.signature, `${who}'s quote signature`),
        akPublic: ak,
        pcrs: new Map([[TPM_ALG.SHA256, pcrs]]),
      },
      { nonce: qualifyingData, selection: [{ hashAlg: TPM_ALG.SHA256, pcrs: [...pcrs.keys()].sort((a, b) => a - b) }] },
    );
    return ak;
  } catch (err) {
    if (err instanceof GroupFailure || !(err instanceof AicertError)) throw err;
    throw new GroupFailure(`${who} is not authenticated by its AK: ${err.message} [${err.code}]`);
  }
}
