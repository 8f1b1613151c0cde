import type { Command } from 'commander';
import { InputError } from '../errors.js';
import { readPrivateKeyFile } from '../pki/key-files.js';
import { readBoundedFile } from '../util/bounded-file.js';
import { MAX_CERTIFICATE_BYTES } from '../cert/certificate.js';
import { endorse, sha256Hex } from '../cert/endorsement.js';
import { readAuditReportFile } from './audit-report-file.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { AICERT_VERSION } from '../version.js';
import { NO_TRUST_ANCHORS } from '../evidence/ak-trust.js';
import { verifyCertificate } from '../verify/verify-certificate.js';

/** `aicert endorse CERT --audit REPORT --key KEY`: an auditor vouches for an audited run. */
export function registerEndorseCommand(program: Command): void {
  program
    .command('endorse')
    .description("sign a SLSA verification summary for a certificate whose audit passed (an auditor's endorsement)")
    .argument('<certificate>', 'the .aicert.json file that was audited')
    .requiredOption('--audit <report>', 'the JSON report of `aicert audit … --out REPORT`')
    .requiredOption('--key <pem>', "the auditor's private key (ECDSA P-256/384/521 or Ed25519, PEM)")
    .option('--out <file>', 'where to write the endorsement (default: <certificate without .json>.vsa.json)')
    .addHelpText(
      'after',
      `
The endorsement is a DSSE envelope around an in-toto statement with predicate
https://slsa.dev/verification_summary/v1: it names the certified model, the certificate file
and the audit report by SHA-256. Only a passed audit of this very certificate is endorsed.
Verifiers check it with: aicert verify CERT --trust-auditor AUDITOR.pub.pem [--endorsement FILE]

Example:
  aicert audit model.aicert.json --transcript model.transcript --data data.jsonl --out audit.json -- node train.js
  aicert endorse model.aicert.json --audit audit.json --key auditor.key.pem
`,
    )
    .action(async (certificatePath: string, flags: { audit: string; key: string; out?: string }) => {
      const certificateBytes = await readBoundedFile(certificatePath, MAX_CERTIFICATE_BYTES, 'certificate');
      const { bytes: reportBytes, report } = await readAuditReportFile(flags.audit);
      if (report.certificateSha256 !== sha256Hex(certificateBytes)) {
        throw new InputError(
          'endorse.mismatch',
          `the audit report ${flags.audit} is about another certificate (sha256 ${report.certificateSha256})`,
        );
      }
      if (report.verdict !== 'passed')
        throw new InputError(
          'endorse.failed-audit',
          `the audit did not pass (verdict: ${report.verdict}); a failed audit is not endorsed`,
        );
      const subject = await subjectOf(certificateBytes, certificatePath);
      const envelope = endorse({
        subject,
        certificateBytes,
        auditReportBytes: reportBytes,
        auditPassed: true,
        auditorKey: await readPrivateKeyFile(flags.key),
        time: new Date(),
        aicertVersion: AICERT_VERSION,
      });
      const out = flags.out ?? `${certificatePath.replace(/\.json$/, '')}.vsa.json`;
      await writeFileAtomic(out, JSON.stringify(envelope, null, 2) + '\n');
      process.stderr.write(`endorsement written to ${out}\n`);
    });
}

/** The certified model descriptors, from a certificate whose evidence checks out (AK trust is the verifier's call). */
async function subjectOf(certificateBytes: Buffer, name: string) {
  const { report, run } = await verifyCertificate(certificateBytes, name, {
    trust: NO_TRUST_ANCHORS,
    allowUntrustedAk: true,
  });
  if (!run) {
    const failed = report.checks.find((c) => c.status === 'failed');
    throw new InputError(
      'endorse.unverifiable',
      `the certificate does not verify (${failed ? `${failed.id}: ${failed.reason}` : report.verdict}); a certificate that does not verify is not endorsed`,
    );
  }
  return run.statement.subject;
}
