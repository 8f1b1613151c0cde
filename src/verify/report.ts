import type { AkTrustLevel } from '../evidence/ak-trust.js';

export type CheckStatus = 'ok' | 'failed' | 'skipped';

export interface CheckResult {
  id: string;
  status: CheckStatus;
  reason: string;
}

/** What `aicert verify` prints (or emits as JSON): every check with its reason, then one verdict. */
export interface VerificationReport {
  certificate: string;
  verdict: 'verified' | 'not verified' | 'unusable';
  /** 0 verified, 1 not verified, 2 unusable input (DESIGN §6). */
  exitStatus: 0 | 1 | 2;
  akTrust?: { level: AkTrustLevel; reason: string; acceptedUntrusted?: boolean };
  checks: CheckResult[];
  /** Facts the verified evidence vouches for (present only when verified). */
  facts?: Record<string, unknown>;
}

/** Collects check results in order; a failed check stops the list (fail closed). */
export class CheckList {
  readonly results: CheckResult[] = [];

  ok(id: string, reason: string): void {
    this.results.push({ id, status: 'ok', reason });
  }

  skipped(id: string, reason: string): void {
    this.results.push({ id, status: 'skipped', reason });
  }

  failed(id: string, reason: string): void {
    this.results.push({ id, status: 'failed', reason });
  }

  get failures(): CheckResult[] {
    return this.results.filter((r) => r.status === 'failed');
  }
}
