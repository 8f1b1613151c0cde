import type { Command } from 'commander';
import { MAX_CERTIFICATE_BYTES } from '../cert/certificate.js';
import { readBoundedFile } from '../util/bounded-file.js';
import { verifyCertificate } from '../verify/verify-certificate.js';
import { addVerifyOptions, formatVerificationReport, verifyOptionsFrom, type VerifyFlags } from './verify-options.js';

export function registerVerifyCommand(program: Command): void {
  addVerifyOptions(
    program
      .command('verify')
      .description('check an aicert certificate: TPM quotes, event log, statement, trust, policy, and local copies')
      .argument('<certificate>', 'the .aicert.json file'),
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
    .action(async (path: string, flags: VerifyFlags & { json?: boolean }) => {
      const bytes = await readBoundedFile(path, MAX_CERTIFICATE_BYTES, 'certificate');
      const { report } = await verifyCertificate(bytes, path, await verifyOptionsFrom(path, flags));
      process.stdout.write(flags.json ? JSON.stringify(report, null, 2) + '\n' : formatVerificationReport(report));
      process.exitCode = report.exitStatus;
    });
}
