import type { Tpm } from './client.js';
import type { PcrSelection, PcrValues } from './pcr-selection.js';
import { AICERT_AK, withAk, type AkSource } from './ak-source.js';
import type { PublicArea } from './public.js';
import { EnvironmentError } from '../errors.js';

/** A quote by the run's AK with the PCR values it covers: everything a verifier needs. */
export interface PcrAttestation {
  attest: Buffer;
  signature: Buffer;
  akPublic: PublicArea;
  nonce: Buffer;
  pcrs: PcrValues;
}

/**
 * Loads the AK of `source` (aicert's own by default), quotes `selections` over `nonce`, reads
 * the PCR values the quote covers, and flushes the AK if it is transient. PCRs are read before
 * and after the quote; if another program extended one in between, the pair would not match the
 * quote's digest, so it tries again.
 */
export async function attestPcrs(
  tpm: Tpm,
  nonce: Buffer,
  selections: PcrSelection[],
  source: AkSource = AICERT_AK,
): Promise<PcrAttestation> {
  return withAk(tpm, source, async ({ handle, public: akPublic }) => {
    for (let attempt = 0; attempt < 5; attempt++) {
      const before = await readSelection(tpm, selections);
      const { attest, signature } = await tpm.quote(handle, nonce, selections);
      const after = await readSelection(tpm, selections);
      if (samePcrValues(before, after)) return { attest, signature, akPublic, nonce, pcrs: after };
    }
    throw new EnvironmentError(
      'tpm.pcr-churn',
      'PCR values kept changing while the quote was taken; another program is extending them',
    );
  });
}

async function readSelection(tpm: Tpm, selections: PcrSelection[]): Promise<PcrValues> {
  const out: PcrValues = new Map();
  for (const s of selections) out.set(s.hashAlg, await tpm.pcrRead(s.hashAlg, s.pcrs));
  return out;
}

function samePcrValues(a: PcrValues, b: PcrValues): boolean {
  for (const [bank, values] of a) {
    for (const [pcr, value] of values) if (!b.get(bank)?.get(pcr)?.equals(value)) return false;
  }
  return true;
}
