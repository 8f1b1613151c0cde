import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { EnvironmentError } from '../errors.js';
import { MAX_CERTIFICATE_BYTES } from '../cert/certificate.js';
import { collectReport } from '../report/collect-report.js';
import { renderReport } from '../report/render-report.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { readBoundedFile } from '../util/bounded-file.js';
import { verifyCertificate } from '../verify/verify-certificate.js';
import { readAuditReportFile } from './audit-report-file.js';
import { addVerifyOptions, formatVerificationReport, verifyOptionsFrom, type VerifyFlags } from './verify-options.js';

interface ReportFlags extends VerifyFlags {
  html: string;
  audit?: string;
  json?: boolean;
  app?: string;
}

/** `aicert report CERT --html OUT.html`: `aicert verify`, and the result as one self-contained page. */
export function registerReportCommand(program: Command): void {
  addVerifyOptions(
    program
      .command('report')
      .description('verify a certificate like `aicert verify` and write the result as a self-contained HTML page')
      .argument('<certificate>', 'the .aicert.json file'),
  )
    .requiredOption('--html <file>', 'where to write the page (written atomically)')
    .option('--audit <report>', 'the JSON report of `aicert audit … --out REPORT` for this certificate, to show too')
    .option('--json', 'print the verification report as JSON instead of the checklist')
    .option(
      '--app <dir>',
      'also write the verifier in the browser, DIR/aicert-verifier.html, to publish beside the model',
    )
    .addHelpText(
      'after',
      `
The page shows the verdict and every check with its reason, what was trained (inputs and
outputs by digest, dataset roots), on what (platform, TPM, attestation key and its trust, boot
PCRs, command isolation), when (the event log from commitment to end quote), and with --audit
the replayed segments, the memorization test and the auditor's endorsement. It loads nothing:
no scripts, fonts or images, and a Content-Security-Policy that forbids them (docs/report.md).
The page is written whenever the certificate could be read, failing or not; the exit status is
the verdict's, as for \`aicert verify\`: 0 verified, 1 not verified, 2 unusable input or usage.

Example:
  aicert report model.aicert.json --trust ca.pem --model ./model --html model.aicert.html
  aicert report model.aicert.json --trust ca.pem --audit audit.json \\
    --trust-auditor auditor.pub.pem --html model.aicert.html
`,
    )
    .action(async (path: string, flags: ReportFlags) => {
      const bytes = await readBoundedFile(path, MAX_CERTIFICATE_BYTES, 'certificate');
      const audit = flags.audit ? (await readAuditReportFile(flags.audit)).report : undefined;
      const verification = await verifyCertificate(bytes, path, await verifyOptionsFrom(path, flags));
      const model = collectReport(bytes, path, verification, audit);
      await writeFileAtomic(flags.html, renderReport(model));
      const { report } = verification;
      process.stdout.write(flags.json ? JSON.stringify(report, null, 2) + '\n' : formatVerificationReport(report));
      process.stderr.write(`report written to ${flags.html}\n`);
      if (flags.app) process.stderr.write(`verifier written to ${await writeVerifierApp(flags.app)}\n`);
      process.exitCode = report.exitStatus;
    });
}

/** The page `npm run build` makes (scripts/build-web.mjs), copied into `dir`. */
async function writeVerifierApp(dir: string): Promise<string> {
  let page: Buffer;
  try {
    page = await readFile(new URL('../../web/aicert-verifier.html', import.meta.url));
  } catch (err) {
    throw new EnvironmentError(
      'report.app-missing',
      `the verifier in the browser is not built (dist/web/aicert-verifier.html: ${(err as Error).message}); run npm run build`,
    );
  }
  await mkdir(dir, { recursive: true });
  const path = join(dir, 'aicert-verifier.html');
  await writeFileAtomic(path, page);
  return path;
}
