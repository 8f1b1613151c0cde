import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { MAX_ENDORSEMENT_BYTES } from '../cert/endorsement.js';
import { loadTrustAnchors, NO_TRUST_ANCHORS } from '../evidence/ak-trust.js';
import { loadPolicy } from '../evidence/policy.js';
import { readPublicKeyFile } from '../pki/key-files.js';
import { readBoundedFile } from '../util/bounded-file.js';
import type { VerificationReport } from '../verify/report.js';
import type { VerifyOptions } from '../verify/verify-certificate.js';

/**
 * The options of a certificate verification, shared by `aicert verify` and `aicert report` so
 * that a report checks exactly what `verify` checks, given the same flags.
 */
export interface VerifyFlags {
  model?: string;
  data?: string[];
  code?: string;
  policy?: string;
  trust?: string;
  allowUntrustedAk?: boolean;
  endorsement?: string[];
  trustAuditor?: string[];
}

const repeatable = (v: string, acc: string[] = []) => [...acc, v];

/** Adds the verification flags to `command`. */
export function addVerifyOptions(command: Command): Command {
  return command
    .option('--model <dir>', 're-hash this model and compare it with the certified output')
    .option('--data <path>', 're-hash this dataset and compare it with a certified dataset (repeatable)', repeatable)
    .option('--code <dir>', 're-hash this code and compare it with the certified code')
    .option('--policy <file>', 'YAML policy: boot PCRs, allowed inputs, minimum AK trust (docs/policy.md)')
    .option('--trust <file>', 'trusted AK CA certificates (PEM), or a YAML trust file listing several')
    .option('--allow-untrusted-ak', 'accept an attestation key nothing vouches for (testing only; labelled UNTRUSTED)')
    .option(
      '--endorsement <file>',
      "an auditor's endorsement to check (repeatable; default <certificate>.vsa.json when it exists)",
      repeatable,
    )
    .option('--trust-auditor <pem>', 'public key of an auditor whose endorsements you trust (repeatable)', repeatable);
}

/** The `verifyCertificate` options the flags ask for (reads the trust, policy, endorsement and key files). */
export async function verifyOptionsFrom(certificate: string, flags: VerifyFlags): Promise<VerifyOptions> {
  return {
    trust: flags.trust ? await loadTrustAnchors(flags.trust) : NO_TRUST_ANCHORS,
    allowUntrustedAk: flags.allowUntrustedAk ?? false,
    policy: flags.policy ? await loadPolicy(flags.policy) : undefined,
    model: flags.model,
    data: flags.data,
    code: flags.code,
    ...(await endorsementOptions(certificate, flags)),
  };
}

async function endorsementOptions(certificate: string, flags: VerifyFlags) {
  const defaultPath = certificate.replace(/\.json$/, '') + '.vsa.json';
  const paths = flags.endorsement ?? (flags.trustAuditor && existsSync(defaultPath) ? [defaultPath] : []);
  return {
    endorsements: await Promise.all(
      paths.map(async (p) => ({ name: p, bytes: await readBoundedFile(p, MAX_ENDORSEMENT_BYTES, 'endorsement') })),
    ),
    trustedAuditors: await Promise.all((flags.trustAuditor ?? []).map(readPublicKeyFile)),
  };
}

/** The checklist as `aicert verify` prints it. */
export function formatVerificationReport(r: VerificationReport): string {
  const mark = { ok: 'ok     ', failed: 'FAILED ', skipped: 'skipped' } as const;
  const lines = [`certificate ${r.certificate}`];
  for (const c of r.checks) lines.push(`  ${mark[c.status]}  ${c.id.padEnd(18)} ${c.reason}`);
  if (r.akTrust) {
    lines.push(
      `AK trust: ${r.akTrust.level}${r.akTrust.acceptedUntrusted ? '  *** UNTRUSTED KEY ACCEPTED (--allow-untrusted-ak): proves nothing about the hardware ***' : ''}`,
    );
  }
  lines.push(`verdict: ${r.verdict.toUpperCase()}`);
  return lines.join('\n') + '\n';
}
