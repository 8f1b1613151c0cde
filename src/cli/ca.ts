/**
 * `aicert ca init` and `aicert ca serve`: the attestation CA (docs/attestation-ca.md). Logic
 * lives in src/ca/.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { join } from 'node:path';
import { CA_FILES, initCa, openCa } from '../ca/ca-directory.js';
import { EnrollmentAuthority } from '../ca/enrollment.js';
import { startCaServer } from '../ca/server.js';

export function registerCaCommands(program: Command): void {
  const ca = program
    .command('ca')
    .description('run an attestation CA: it certifies attestation keys of TPMs whose EK certificate it trusts')
    .addHelpText(
      'after',
      "\nThe CA checks the TPM's EK certificate against its EK roots, then proves with a credential\n" +
        'only that TPM can activate that the AK lives in the same TPM, and only then issues an AK\n' +
        'certificate. Verifiers trust AKs certified by the CA with `aicert verify --trust DIR/ca.pem`.\n' +
        'See docs/attestation-ca.md.\n',
    );

  ca.command('init')
    .description('create a new attestation CA in DIR (a P-256 key, a self-signed CA certificate, the EK roots)')
    .argument('<dir>', 'directory to create (must not exist or be empty)')
    .requiredOption(
      '--ek-roots <pem...>',
      'PEM files of the EK root CAs whose TPMs may enroll (TPM vendors, cloud vTPM roots)',
    )
    .option(
      '--ek-intermediates <pem...>',
      'PEM files of EK intermediate CAs that help chain EK certificates to the roots',
    )
    .addHelpText(
      'after',
      '\nFiles written: DIR/ca.key (0600), DIR/ca.pem, DIR/ek-roots/, DIR/ek-intermediates/, DIR/issued/.\n' +
        '\nExample, for a software TPM started with `aicert tpm simulator start` (state in SIM):\n' +
        '  aicert ca init ./ca --ek-roots SIM/ca/swtpm-localca-rootca-cert.pem --ek-intermediates SIM/ca/issuercert.pem\n',
    )
    .action(async (dir: string, options: { ekRoots: string[]; ekIntermediates?: string[] }) => {
      const created = await initCa(dir, options.ekRoots, { ekIntermediatePemFiles: options.ekIntermediates ?? [] });
      process.stderr.write(
        `attestation CA created in ${dir}: ${created.ekRoots.length} EK root certificate(s), ${created.ekIntermediates.length} intermediate(s)\n` +
          `verifiers trust it with: aicert verify CERT --trust ${join(dir, CA_FILES.certificate)}\n`,
      );
    });

  ca.command('serve')
    .description('serve the CA in DIR over HTTP until interrupted')
    .argument('<dir>', 'a directory made by `aicert ca init`')
    .option('--port <port>', 'TCP port; 0 picks a free one', parsePort, 0)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .addHelpText(
      'after',
      '\nPrints the URL on stdout (for `aicert ak enroll --ca URL`), logs issued certificates and\n' +
        'refusals on stderr, stops cleanly on SIGINT or SIGTERM.\n' +
        '\nExample:\n  aicert ca serve ./ca --port 8420\n',
    )
    .action(async (dir: string, options: { port: number; host: string }) => {
      const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
      const authority = new EnrollmentAuthority(await openCa(dir), { log });
      const server = await startCaServer(authority, { host: options.host, port: options.port, log });
      process.stdout.write(`${server.url}\n`);
      log(`attestation CA ${dir} serving at ${server.url}`);
      const signal = await new Promise<NodeJS.Signals>((resolve) => {
        process.once('SIGINT', () => resolve('SIGINT'));
        process.once('SIGTERM', () => resolve('SIGTERM'));
      });
      await server.close();
      log(`stopped (${signal})`);
    });
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d{1,5}$/.test(text) || port > 65535) throw new InvalidArgumentError('a TCP port number from 0 to 65535');
  return port;
}
