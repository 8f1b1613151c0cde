/**
 * `aicert ak enroll` and `aicert ak show`: the TPM's attestation key and its certificate.
 * Logic lives in src/ca/.
 */
import { type Command, Option } from 'commander';
import { akCertificateChainPath, loadAkCertificateChain } from '../ca/ak-store.js';
import { enrollAk, openCaEndpoint } from '../ca/enroll-client.js';
import { readCertificateFiles } from '../pki/key-files.js';
import { describeCertificate, parseCertificateDer } from '../pki/x509-path.js';
import { Tpm } from '../tpm/client.js';
import { createAk, type EkKind } from '../tpm/keys.js';
import { tpmAddressFrom, tpmOption } from './tpm.js';

export function registerAkCommands(program: Command): void {
  const ak = program
    .command('ak')
    .description("the TPM's attestation key (AK), which signs the quotes of certified runs")
    .addHelpText(
      'after',
      '\nThe AK is recreated from a fixed template on every use, so only its certificate is stored:\n' +
        '$AICERT_HOME/ak/<AK Name>/chain.pem. `aicert run` embeds it in every certificate it writes.\n',
    );

  tpmOption(
    ak
      .command('enroll')
      .description('get a certificate for the AK from an attestation CA (EK check + credential activation)')
      .requiredOption('--ca <url|dir>', 'the CA: the URL `aicert ca serve` printed, or a CA directory used in-process')
      .addOption(
        new Option('--ek <kind>', 'which endorsement key proves the TPM').choices(['rsa', 'ecc']).default('rsa'),
      )
      .option('--ek-intermediates <pem...>', 'EK intermediate CA certificates to send, if the CA lacks them'),
  )
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  aicert ak enroll --ca http://127.0.0.1:8420\n' +
        '  aicert ak enroll --ca ./ca --tpm swtpm:unix:/tmp/sim/tpm.sock\n' +
        "\nA TPM whose EK certificate does not chain to the CA's EK roots, or that cannot activate the\n" +
        "CA's credential for this AK, gets no certificate (exit 1).\n",
    )
    .action(async (options: { ca: string; ek: EkKind; ekIntermediates?: string[]; tpm?: string }) => {
      const intermediates = (await readCertificateFiles(options.ekIntermediates ?? [])).map((c) => c.der);
      const endpoint = await openCaEndpoint(options.ca);
      const tpm = await Tpm.open(tpmAddressFrom(options));
      try {
        const enrolled = await enrollAk({ tpm, endpoint, ek: options.ek, ekIntermediates: intermediates });
        process.stdout.write(
          `AK ${enrolled.akName.toString('hex')} enrolled\n` +
            `certificate: ${enrolled.subject}, issued by ${enrolled.issuer}, valid until ${enrolled.notAfter.toISOString()}\n` +
            `stored in ${enrolled.chainPath}\n`,
        );
      } finally {
        await tpm.close();
      }
    });

  tpmOption(
    ak.command('show').description("print the AK's Name (what a policy's pinnedAks lists) and its stored certificate"),
  ).action(async (options: { tpm?: string }) => {
    const tpm = await Tpm.open(tpmAddressFrom(options));
    let name: Buffer;
    try {
      const loaded = await createAk(tpm);
      name = loaded.name;
      await tpm.flushContext(loaded.handle);
    } finally {
      await tpm.close();
    }
    const chain = await loadAkCertificateChain(name);
    const leaf = chain?.[0] && parseCertificateDer(chain[0], 'the stored AK certificate');
    process.stdout.write(
      `AK Name      ${name.toString('hex')}\n` +
        (leaf
          ? `certificate  ${describeCertificate(leaf)}, valid until ${leaf.notAfter.toISOString()}\n             ${akCertificateChainPath(name)}\n`
          : 'certificate  none (run `aicert ak enroll --ca URL|DIR`)\n'),
    );
  });
}
