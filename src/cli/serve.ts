import type { Command } from 'commander';
import { writeFile } from 'node:fs/promises';
import { UsageError } from '../errors.js';
import { MAX_CERTIFICATE_BYTES } from '../cert/certificate.js';
import { loadTrustAnchors, NO_TRUST_ANCHORS } from '../evidence/ak-trust.js';
import { attestConnection } from '../serve/attest-connection.js';
import { startServe } from '../serve/serve.js';
import { verifyTrainingCertificate } from '../serve/training-certificate.js';
import type { AttestationReport } from '../serve/verify-attestation.js';
import { TPM_ADDRESS_HELP, defaultTpmAddress } from '../tpm/address.js';
import { readBoundedFile } from '../util/bounded-file.js';
import { verifyOptionsFrom } from './verify-options.js';

/** `aicert serve`, `aicert attest` (docs/serving.md). `aicert receipt verify` is in receipt.ts. */
export function registerServeCommands(program: Command): void {
  program
    .command('serve')
    .description('serve a certified model over attested TLS: every answer carries a signed receipt')
    .argument('[command...]', 'the inference server to start, after -- (it must listen on --upstream)')
    .requiredOption('--certificate <file>', 'the training certificate of the model')
    .requiredOption('--model <dir>', 'the model directory served: it must be the certified output')
    .option('--code <dir>', 'the serving code, measured into the session')
    .option('--tpm <address>', `TPM to use: ${TPM_ADDRESS_HELP}`)
    .option('--listen <host:port>', 'where TLS is terminated', '127.0.0.1:8443')
    .option('--upstream <url>', 'the inference server, on loopback', 'http://127.0.0.1:8080')
    .option('--trust <file>', 'trusted AK CA certificates (PEM) to verify the training certificate with')
    .option('--policy <file>', 'YAML policy the training certificate must meet')
    .option('--allow-untrusted-ak', 'accept a training certificate whose AK nothing vouches for (testing only)')
    .addHelpText(
      'after',
      `
Verifies the certificate and re-hashes --model (exit 1 naming the files that differ), opens a
serving session in a fresh NV extend index, starts the command, and answers on --listen with
TLS keys generated in memory. Runs until the command exits (exit 3) or SIGINT/SIGTERM (exit 0).

Example:
  aicert serve --certificate model.aicert.json --model ./model --trust ca.pem \\
    --listen 0.0.0.0:8443 --upstream http://127.0.0.1:8080 -- node serve.js ./model 8080
`,
    )
    .action(async (command: string[], flags: ServeFlags) => {
      const listen = parseListen(flags.listen);
      const verify = await verifyOptionsFrom(flags.certificate, {
        trust: flags.trust,
        policy: flags.policy,
        allowUntrustedAk: flags.allowUntrustedAk,
      });
      const serving = await startServe({
        certificate: flags.certificate,
        model: flags.model,
        ...(flags.code && { code: flags.code }),
        tpm: defaultTpmAddress(flags.tpm),
        ...listen,
        upstream: flags.upstream,
        command,
        verify,
        log: (line) => process.stderr.write(`aicert serve: ${line}\n`),
      });
      // Printed on stdout so that a script can read where to connect.
      process.stdout.write(`https://${listen.host}:${serving.port} session ${serving.sessionId}\n`);
      const stop = () => void serving.stop();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      await serving.done;
    });

  program
    .command('attest')
    .description("check that an endpoint serves a certificate's model: attested TLS, fresh quote, event log")
    .argument('<url>', 'https://HOST:PORT of an `aicert serve` endpoint')
    .requiredOption('--certificate <file>', 'the training certificate the endpoint must serve')
    .option('--trust <file>', 'trusted AK CA certificates (PEM), or a YAML trust file')
    .option('--policy <file>', 'YAML policy the training certificate must meet')
    .option('--allow-untrusted-ak', 'accept an attestation key nothing vouches for (testing only; labelled UNTRUSTED)')
    .option('--save <file>', 'write the attestation document (for `aicert receipt verify`)')
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      `
Each check prints ok, failed (with the reason) or skipped; the first failure stops the list.
Exit status: 0 verified, 1 not verified, 2 unusable input or usage.

Example:
  aicert attest https://model.example:8443 --certificate model.aicert.json --trust ca.pem --save att.json
`,
    )
    .action(async (url: string, flags: AttestFlags) => {
      const endpoint = parseEndpoint(url);
      const trust = flags.trust ? await loadTrustAnchors(flags.trust) : NO_TRUST_ANCHORS;
      const allowUntrustedAk = flags.allowUntrustedAk ?? false;
      const bytes = await readBoundedFile(flags.certificate, MAX_CERTIFICATE_BYTES, 'certificate');
      const { policy } = await verifyOptionsFrom(flags.certificate, { policy: flags.policy });
      const training = await verifyTrainingCertificate(bytes, flags.certificate, { trust, allowUntrustedAk, policy });
      const connection = await attestConnection(endpoint, { training, trust, allowUntrustedAk, policy });
      connection.socket.destroy();
      if (flags.save && connection.attestation) await writeFile(flags.save, connection.document);
      const r = connection.report;
      process.stdout.write(flags.json ? JSON.stringify(r, null, 2) + '\n' : formatAttestationReport(r));
      process.exitCode = r.exitStatus;
    });
}

interface ServeFlags {
  certificate: string;
  model: string;
  code?: string;
  tpm?: string;
  listen: string;
  upstream: string;
  trust?: string;
  policy?: string;
  allowUntrustedAk?: boolean;
}

interface AttestFlags {
  certificate: string;
  trust?: string;
  policy?: string;
  allowUntrustedAk?: boolean;
  save?: string;
  json?: boolean;
}

function parseListen(listen: string): { host: string; port: number } {
  const m = /^(\[[0-9a-f:]+\]|[^:]+):(\d{1,5})$/i.exec(listen);
  const port = Number(m?.[2]);
  if (!m || port > 65535) throw new UsageError('usage.listen', `--listen ${listen} must be HOST:PORT`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

function parseEndpoint(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError('usage.url', `${url} is not a URL; expected https://HOST:PORT`);
  }
  if (parsed.protocol !== 'https:') throw new UsageError('usage.url', `${url} must be an https:// URL`);
  return parsed;
}

/** The checklist as `aicert attest` prints it, in the layout of `aicert verify`. */
export function formatAttestationReport(r: AttestationReport): string {
  const mark = { ok: 'ok     ', failed: 'FAILED ', skipped: 'skipped' } as const;
  const lines = [`endpoint ${r.endpoint}`];
  for (const c of r.checks) lines.push(`  ${mark[c.status]}  ${c.id.padEnd(20)} ${c.reason}`);
  if (r.akTrust)
    lines.push(
      `AK trust: ${r.akTrust.level}${r.akTrust.acceptedUntrusted ? '  *** UNTRUSTED KEY ACCEPTED (--allow-untrusted-ak): proves nothing about the hardware ***' : ''}`,
    );
  lines.push(`verdict: ${r.verdict.toUpperCase()}`);
  return lines.join('\n') + '\n';
}
