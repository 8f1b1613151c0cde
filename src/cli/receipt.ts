import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { MAX_CERTIFICATE_BYTES } from '../cert/certificate.js';
import { loadTrustAnchors, NO_TRUST_ANCHORS } from '../evidence/ak-trust.js';
import { loadPolicy } from '../evidence/policy.js';
import { MAX_ATTESTATION_BYTES, parseAttestationDocument } from '../serve/attestation-document.js';
import { verifyReceipt } from '../serve/verify-receipt.js';
import { readBoundedFile } from '../util/bounded-file.js';

/** `aicert receipt verify` (docs/serving.md, "Receipts"). */
export function registerReceiptCommands(program: Command): void {
  const receipt = program.command('receipt').description('check the receipts an `aicert serve` endpoint signs');
  receipt
    .command('verify')
    .description("check a receipt offline against its serving session's attestation")
    .argument('<receipt>', 'the receipt: JSON, or the aicert-receipt header value')
    .requiredOption('--attestation <file>', 'the attestation document of the session (`aicert attest --save`)')
    .option('--certificate <file>', 'the training certificate the session must serve (default: the one it carries)')
    .option('--trust <file>', 'trusted AK CA certificates (PEM), or a YAML trust file')
    .option(
      '--policy <file>',
      'YAML policy the training certificate must meet (its pinnedAks also vouch for the serving AK)',
    )
    .option('--allow-untrusted-ak', 'accept an attestation key nothing vouches for (testing only; labelled UNTRUSTED)')
    .option('--request <file>', 'the request body: check the receipt is for it')
    .option('--response <file>', 'the response body: check the receipt is for it')
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      `
Checks the attestation (everything but its freshness and TLS channel, which only the client that
asked could see), then the receipt: same session, signed by the session's attested receipt key,
and, given --request/--response, for those bodies. Exit status: 0 valid, 1 not, 2 unusable input.

Example:
  aicert receipt verify receipt.json --attestation att.json --trust ca.pem --response answer.json
`,
    )
    .action(async (path: string, flags: ReceiptFlags) => {
      const text = (await readBoundedFile(path, 16 * 1024, 'receipt')).toString('utf8');
      const document = await readBoundedFile(flags.attestation, MAX_ATTESTATION_BYTES, 'attestation');
      const certificate = flags.certificate
        ? await readBoundedFile(flags.certificate, MAX_CERTIFICATE_BYTES, 'certificate')
        : Buffer.from(parseAttestationDocument(document).trainingCertificate, 'base64');
      const report = await verifyReceipt(text, document, {
        certificate,
        certificateName: flags.certificate ?? `the certificate in ${flags.attestation}`,
        trust: flags.trust ? await loadTrustAnchors(flags.trust) : NO_TRUST_ANCHORS,
        allowUntrustedAk: flags.allowUntrustedAk ?? false,
        ...(flags.policy && { policy: await loadPolicy(flags.policy) }),
        ...(flags.request && { request: await readFile(flags.request) }),
        ...(flags.response && { response: await readFile(flags.response) }),
      });
      const mark = { ok: 'ok     ', failed: 'FAILED ', skipped: 'skipped' } as const;
      const lines = [
        `receipt ${path}`,
        ...report.checks.map((c) => `  ${mark[c.status]}  ${c.id.padEnd(20)} ${c.reason}`),
      ];
      lines.push(`verdict: ${report.verdict.toUpperCase()}`);
      process.stdout.write(flags.json ? JSON.stringify(report, null, 2) + '\n' : lines.join('\n') + '\n');
      process.exitCode = report.exitStatus;
    });
}

interface ReceiptFlags {
  attestation: string;
  certificate?: string;
  trust?: string;
  policy?: string;
  allowUntrustedAk?: boolean;
  request?: string;
  response?: string;
  json?: boolean;
}
