/**
 * Runs the tamper corpus through the verifier and classifies each mutant:
 *   rejected      — the report's first failed check (recorded) stops it;
 *   equivalent    — verified, declared equivalent, and its decoded evidence proven identical;
 *   false-accept  — verified otherwise (or declared equivalent without being so);
 *   crash         — the verifier threw something other than an AicertError.
 * A verifier that throws an AicertError rejects the mutant at that error's code.
 */
import { AicertError } from '../../src/errors.js';
import { verifyCertificate } from '../../src/verify/verify-certificate.js';
import type { TrustAnchors } from '../../src/evidence/ak-trust.js';
import type { VerificationReport } from '../../src/verify/report.js';
import { jcs, type Json, type Mutant } from './tamper-corpus.js';

export type Outcome = 'rejected' | 'equivalent' | 'false-accept' | 'crash';

export interface MutantResult {
  mutant: Mutant;
  outcome: Outcome;
  /** The first failed check (rejected), or what went wrong. */
  check?: string;
  detail: string;
  /** Declared `expect`, and the check that failed was not among them. */
  unexpectedCheck?: boolean;
  /** Declared equivalent, but the verifier rejected it (safe, but the declaration is wrong). */
  equivalentRejected?: boolean;
}

export interface TamperSummary {
  tried: number;
  rejected: number;
  byCheck: Record<string, number>;
  equivalent: number;
  falseAccepts: MutantResult[];
  crashes: MutantResult[];
  unexpectedChecks: MutantResult[];
  equivalentsRejected: MutantResult[];
  byFamily: Record<string, number>;
  results: MutantResult[];
}

export async function runTamperCorpus(mutants: readonly Mutant[], anchors: TrustAnchors): Promise<TamperSummary> {
  const results: MutantResult[] = [];
  for (const mutant of mutants) results.push(await classify(mutant, anchors));
  const count = (o: Outcome) => results.filter((r) => r.outcome === o);
  const byCheck: Record<string, number> = {};
  for (const r of count('rejected')) byCheck[r.check!] = (byCheck[r.check!] ?? 0) + 1;
  const byFamily: Record<string, number> = {};
  for (const m of mutants) byFamily[m.family] = (byFamily[m.family] ?? 0) + 1;
  return {
    tried: results.length,
    rejected: count('rejected').length,
    byCheck: Object.fromEntries(Object.entries(byCheck).sort(([, a], [, b]) => b - a)),
    equivalent: count('equivalent').length,
    falseAccepts: count('false-accept'),
    crashes: count('crash'),
    unexpectedChecks: results.filter((r) => r.unexpectedCheck),
    equivalentsRejected: results.filter((r) => r.equivalentRejected),
    byFamily,
    results,
  };
}

async function classify(mutant: Mutant, anchors: TrustAnchors): Promise<MutantResult> {
  let report: VerificationReport;
  try {
    report = (
      await verifyCertificate(mutant.bytes, mutant.name, { trust: anchors, allowUntrustedAk: false, ...mutant.options })
    ).report;
  } catch (err) {
    if (err instanceof AicertError) return rejected(mutant, err.code, err.message);
    return { mutant, outcome: 'crash', detail: err instanceof Error ? (err.stack ?? err.message) : String(err) };
  }
  const failed = report.checks.find((c) => c.status === 'failed');
  if (failed) return rejected(mutant, failed.id, failed.reason);
  if (report.verdict !== 'verified')
    return { mutant, outcome: 'crash', detail: `verdict ${report.verdict} without a failed check` };
  if (!mutant.equivalent)
    return { mutant, outcome: 'false-accept', detail: 'verified, but the mutation is not declared equivalent' };
  const proof = sameEvidence(mutant, anchors);
  if (proof !== true) return { mutant, outcome: 'false-accept', detail: `declared equivalent, but ${proof}` };
  return { mutant, outcome: 'equivalent', detail: mutant.equivalent.reason };
}

function rejected(mutant: Mutant, check: string, detail: string): MutantResult {
  return {
    mutant,
    outcome: 'rejected',
    check,
    detail,
    ...(mutant.expect && !mutant.expect.includes(check) && { unexpectedCheck: true }),
    ...(mutant.equivalent && { equivalentRejected: true }),
  };
}

/** True, or what differs between the mutant's decoded evidence and its base certificate's. */
export function sameEvidence(mutant: Mutant, anchors: TrustAnchors): true | string {
  const anchorDers = mutant.equivalent?.same === 'anchor-copy' ? anchors.roots.map((r) => r.der.toString('hex')) : [];
  const mine = decodedEvidence(mutant.bytes, anchorDers);
  const base = decodedEvidence(mutant.base, anchorDers);
  if (mine === base) return true;
  const at = [...mine].findIndex((c, i) => c !== base[i]);
  return `the decoded evidence differs at character ${at}: …${mine.slice(Math.max(0, at - 40), at + 40)}… vs …${base.slice(Math.max(0, at - 40), at + 40)}…`;
}

/**
 * Everything a certificate carries, decoded: JSON values (so whitespace, key order, escapes and
 * number spellings vanish) and base64 blobs as bytes (so alphabet and padding vanish). Written
 * without the code under test: Node's JSON.parse and lenient base64, and jcs() for ordering.
 */
export function decodedEvidence(bytes: Buffer, dropDers: readonly string[] = []): string {
  let text = bytes.toString('utf8');
  if (text.startsWith('\ufeff')) text = text.slice(1);
  const c = JSON.parse(text) as Record<string, any>;
  const hex = (b64: string) => Buffer.from(b64, 'base64').toString('hex');
  const tpm = c.evidence.tpm;
  return jcs({
    mediaType: c.mediaType,
    statement: {
      payloadType: c.statement.payloadType,
      payload: hex(c.statement.payload),
      signatures: c.statement.signatures,
    },
    pcr: tpm.pcr,
    akPublic: hex(tpm.akPublic),
    chain: ((tpm.akCertificateChain ?? []) as string[]).map(hex).filter((der) => !dropDers.includes(der)),
    quotes: (tpm.quotes as Array<Record<string, any>>).map((q) => ({
      phase: q.phase,
      attest: hex(q.attest),
      signature: hex(q.signature),
      pcrs: q.pcrs,
    })),
    eventLog: tpm.eventLog as Json,
  } as Json);
}
