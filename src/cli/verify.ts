import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { readPublicKeyFile } from '../pki/key-files.js';
import { readBoundedFile } from '../util/bounded-file.js';
import { MAX_ENDORSEMENT_BYTES } from '../cert/endorsement.js';
import { MAX_CERTIFICATE_BYTES } from '../cert/certificate.js';
import { loadTrustAnchors, NO_TRUST_ANCHORS } from '../evidence/ak-trust.js';
import { loadPolicy } from '../evidence/policy.js';
import { verifyCertificate } from '../verify/verify-certificate.js';
import type { VerificationReport } from '../verify/report.js';

interface VerifyFlags {
  model?: string;
  data?: string[];
  code?: string;
  policy?: string;
  trust?: string;
  allowUntrustedAk?: boolean;
  json?: boolean;
  endorsement?: string[];
  trustAuditor?: string[];
}

export function registerVerifyCommand(program: Command): void {
  program
    .command('verify')
    .description('check an aicert certificate: TPM quotes, event log, statement, trust, policy, and local copies')
    .argument('<certificate>', 'the .aicert.json file')
    .option('--model <dir>', 're-hash this model and compare it with the certified output')
    .option(
      '--data <path>',
      're-hash this dataset and compare it with a certified dataset (repeatable)',
      (v: string, acc: string[] = []) => [...acc, v],
    )
    .option('--code <dir>', 're-hash this code and compare it with the certified code')
    .option('--policy <file>', 'YAML policy: boot PCRs, allowed inputs, minimum AK trust (docs/policy.md)')
    .option('--trust <file>', 'trusted AK CA certificates (PEM), or a YAML trust file listing several')
    .option('--allow-untrusted-ak', 'accept an attestation key nothing vouches for (testing only; labelled UNTRUSTED)')
    .option(
      '--endorsement <file>',
      "an auditor's endorsement to check (repeatable; default <certificate>.vsa.json when it exists)",
      (v: string, acc: string[] = []) => [...acc, v],
    )
    .option(
      '--trust-auditor <pem>',
      'public key of an auditor whose endorsements you trust (repeatable)',
      (v: string, acc: string[] = []) => [...acc, v],
    )
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      `
Each check prints ok, failed (with the reason) or skipped (with why); the first failure stops
the list. Exit status: 0 verified, 1 not verified, 2 unusable input or usage.

Example:
  aicert verify model.aicert.json --model ./model --trust ca.pem --policy policy.yaml
  aicert verify model.aicert.json --trust ca.pem --trust-auditor auditor.pub.pem   # + model.aicert.vsa.json
`,
    )
    .action(async (path: string, flags: VerifyFlags) => {
      const bytes = await readBoundedFile(path, MAX_CERTIFICATE_BYTES, 'certificate');
      const { report } = await verifyCertificate(bytes, path, {
        trust: flags.trust ? await loadTrustAnchors(flags.trust) : NO_TRUST_ANCHORS,
        allowUntrustedAk: flags.allowUntrustedAk ?? false,
        policy: flags.policy ? await loadPolicy(flags.policy) : undefined,
        model: flags.model,
        data: flags.data,
        code: flags.code,
        ...(await endorsementOptions(path, flags)),
      });
      process.stdout.write(flags.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report));
      process.exitCode = report.exitStatus;
    });
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

function formatReport(r: VerificationReport): string {
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
