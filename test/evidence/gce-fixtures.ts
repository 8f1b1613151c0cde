import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadTrustAnchors } from '../../src/evidence/ak-trust.js';
import { parseTcgLog } from '../../src/evidence/boot-log/tcg-log.js';
import { parseGceAttestation } from '../../src/evidence/gce-attestation.js';
import { parseCertificatesPem } from '../../src/pki/x509-path.js';
import { verifyGceAttestation, type GceAttestationOptions } from '../../src/verify/gce-attestation.js';

/** go-tpm-tools' recorded Google Cloud attestations (test/fixtures/gce-attestations/README.md). */
export const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/gce-attestations/', import.meta.url));
export const fixture = (name: string): Buffer => readFileSync(`${FIXTURES}${name}`);

/** The nonces go-tpm-tools' server/verify_test.go verifies them with. */
export const RECORDINGS = [
  { file: 'gce-cos-85-nonce9009.pb', nonce: Buffer.from([0x90, 0x09]) },
  { file: 'gce-cos-85-no-nonce.pb', nonce: Buffer.alloc(0) },
] as const;

/** Before the AK certificate expires (2051): the chain is judged at a fixed date. */
export const AT = new Date('2025-06-01T00:00:00Z');

export const GOOGLE_INTERMEDIATES = parseCertificatesPem(
  readFileSync(`${FIXTURES}tpm_ek_intermediate_2.pem`, 'utf8'),
  'tpm_ek_intermediate_2.pem',
).map((c) => c.der);

/** Google's EK/AK root and intermediate as a verifier holds them, at `AT`. */
export async function googleOptions(nonce: Uint8Array): Promise<GceAttestationOptions> {
  return {
    nonce,
    trust: await loadTrustAnchors(`${FIXTURES}tpm_ek_root_1.pem`),
    intermediates: GOOGLE_INTERMEDIATES,
    at: AT,
  };
}

export async function firstFailure(bytes: Buffer, options: GceAttestationOptions): Promise<string | undefined> {
  return (await verifyGceAttestation(bytes, options)).checks.find((c) => c.status === 'failed')?.id;
}

/** A byte range of the recording whose change must fail `check`. */
export interface SignedRegion {
  what: string;
  offset: number;
  length: number;
  check: 'quote.signature' | 'pcr.digest' | 'boot.eventlog';
}

/**
 * Where each quote, signature and PCR value lies in the recording, found by a pattern that
 * occurs once: the quote and signature bytes themselves, and for a PCR value its map entry's
 * key and value header (values repeat across PCRs, keys do not).
 */
export function signedRegions(bytes: Buffer): SignedRegion[] {
  const regions: SignedRegion[] = [];
  const place = (what: string, pattern: Buffer, skip: number, check: SignedRegion['check']) => {
    const at = bytes.indexOf(pattern);
    if (at < 0 || bytes.indexOf(pattern, at + 1) >= 0) throw new Error(`${what} does not occur exactly once`);
    regions.push({ what, offset: at + skip, length: pattern.length - skip, check });
  };
  for (const q of parseGceAttestation(bytes).quotes) {
    place(`quote ${q.hashAlg}`, q.attest, 0, 'quote.signature');
    place(`signature ${q.hashAlg}`, q.signature, 0, 'quote.signature');
    for (const [pcr, value] of q.pcrs.get(q.hashAlg)!) {
      const head = Buffer.from([0x08, pcr, 0x12, value.length]);
      place(`PCR ${q.hashAlg}:${pcr}`, Buffer.concat([head, value]), head.length, 'pcr.digest');
    }
  }
  return regions;
}

/**
 * The bytes of the recording's boot event log that replay depends on: for every event after the
 * Spec ID event, its PCR index, digest count, each algorithm id and digest, and its data size.
 * Not the event type nor the event data: no digest covers them (TCG PC Client), so a verifier
 * can only interpret them, and only `boot.facts` checks the data of the event types it reads.
 */
export function replayedLogRegions(bytes: Buffer): SignedRegion[] {
  const attestation = parseGceAttestation(bytes);
  const logAt = bytes.indexOf(attestation.eventLog);
  if (logAt < 0 || bytes.indexOf(attestation.eventLog, logAt + 1) >= 0)
    throw new Error('the event log is not found once');
  const log = parseTcgLog(attestation.eventLog);
  const regions: SignedRegion[] = [];
  for (const event of log.events.slice(1)) {
    const dataAt = event.data.byteOffset - attestation.eventLog.byteOffset;
    const digestsLength = log.algorithms.reduce((n, a) => n + (event.digests.has(a.name) ? 2 + a.size : 0), 0);
    const headerAt = dataAt - 4 - digestsLength - 12;
    const at = (offset: number, length: number, what: string) =>
      regions.push({ what: `event ${event.seq} ${what}`, offset: logAt + offset, length, check: 'boot.eventlog' });
    at(headerAt, 4, 'PCR index');
    at(headerAt + 8, 4 + digestsLength + 4, 'digests and data size');
  }
  return regions;
}
