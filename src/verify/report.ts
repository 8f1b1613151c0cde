import type { AkTrustLevel } from '../evidence/ak-trust.js';
import { QUOTE_CHECKS } from '../evidence/quote.js';
import { NV_CERTIFY_CHECKS } from '../evidence/nv-certify.js';
import type { CheckResult } from './checklist.js';

/** Every check `aicert verify` may report, in the order it runs them (docs/certificate.md). */
export const VERIFY_CHECKS = [
  'bundle.schema',
  'statement.signatures',
  'statement.schema',
  'ak.public',
  'ak.trust',
  'eventlog.order',
  'register',
  'bootlog.format',
  'quote.start',
  'quote.end',
  ...QUOTE_CHECKS.filter((c) => c !== 'quote.nonce'),
  'nv.start',
  'nv.end',
  ...NV_CERTIFY_CHECKS.filter((c) => c !== 'nv.nonce'),
  'quote.binding',
  'nv.binding',
  'quote.continuity',
  'boot.eventlog',
  'boot.facts',
  'eventlog.replay',
  'eventlog.sequence',
  'eventlog.content',
  'trainer.commitment',
  'statement.eventlog',
  'run.exit',
  'trainer.final',
  'group.commitment',
  'group.ranks',
  'group.node',
  'group.shards',
  'group.trainer',
  'policy.nodes',
  'policy',
  'policy.ak',
  'policy.pcr',
  'policy.register',
  'policy.boot',
  'policy.inputs',
  'policy.isolation',
  'policy.secureboot',
  'policy.bootapps',
  'policy.kernel',
  'policy.cmdline',
  'artifact.model',
  'artifact.data',
  'artifact.code',
  'audit.endorsement',
  'audit.endorsement.shape',
  'audit.endorsement.signature',
  'audit.endorsement.subject',
  'audit.endorsement.result',
] as const;
export type VerifyCheckId = (typeof VERIFY_CHECKS)[number];

/** What `aicert verify` prints (or emits as JSON): every check with its reason, then one verdict. */
export interface VerificationReport {
  certificate: string;
  verdict: 'verified' | 'not verified' | 'unusable';
  /** 0 verified, 1 not verified, 2 unusable input (docs/certificate.md, "Exit status"). */
  exitStatus: 0 | 1 | 2;
  akTrust?: { level: AkTrustLevel; reason: string; acceptedUntrusted?: boolean };
  checks: CheckResult<VerifyCheckId>[];
  /** Facts the verified evidence vouches for (present only when verified). */
  facts?: Record<string, unknown>;
}
