/**
 * `aicert ak enroll`, `aicert ak use` and `aicert ak show`: the TPM's attestation key and its
 * certificate. Logic lives in src/ca/.
 */
import { type Command, Option } from 'commander';
import { akCertificateChainPath, loadAkCertificateChain } from '../ca/ak-store.js';
import { akSelectionPath, clearAkSelection, loadRunAk } from '../ca/ak-selection.js';
import { useCloudAk } from '../ca/use-cloud-ak.js';
import { UsageError } from '../errors.js';
import { enrollAk, openCaEndpoint } from '../ca/enroll-client.js';
import { readCertificateFiles } from '../pki/key-files.js';
import { describeCertificate, parseCertificateDer } from '../pki/x509-path.js';
import { Tpm } from '../tpm/client.js';
import type { EkKind } from '../tpm/keys.js';
import { CLOUDS, CLOUD_KEY_KINDS, type Cloud, type CloudKeyKind } from '../tpm/cloud-ak.js';
import { tpmAddressFrom, tpmOption } from './tpm.js';

export function registerAkCommands(program: Command): void {
  const ak = program
    .command('ak')
    .description("the TPM's attestation key (AK), which signs the quotes of certified runs")
    .addHelpText(
      'after',
      '\nThe AK is recreated from a fixed template on every use, so only its certificate is stored:\n' +
        '$AICERT_HOME/ak/<AK Name>/chain.pem. `aicert run` embeds it in every certificate it writes.\n' +
        'On Azure and Google Cloud VMs, `aicert ak use --cloud azure|gce` makes the vendor-certified AK the one runs use.\n',
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
    ak
      .command('use')
      .description("make a cloud vTPM's vendor-certified AK the one runs use, or go back to aicert's own (--default)")
      .addOption(new Option('--cloud <vendor>', 'the vTPM vendor').choices([...CLOUDS]))
      .addOption(
        new Option('--key <kind>', 'Google Cloud only: the RSA or ECC AK').choices([...CLOUD_KEY_KINDS]).default('rsa'),
      )
      .option('--intermediates <pem...>', "the vendor's intermediate CA certificates, stored after the AK certificate")
      .option('--default', "use aicert's own AK again"),
  )
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  aicert ak use --cloud azure     # AK at 0x81000003, certificate at NV 0x01C101D0\n' +
        '  aicert ak use --cloud gce       # AK from the template at NV 0x01c10001, certificate at NV 0x01c10000\n' +
        '  aicert ak use --default\n' +
        "\nVerifiers trust the AK with the vendor's root: aicert verify --trust VENDOR-ROOTS.pem (docs/cloud-vtpm.md).\n",
    )
    .action(
      async (options: {
        cloud?: Cloud;
        key: CloudKeyKind;
        intermediates?: string[];
        default?: boolean;
        tpm?: string;
      }) => {
        if (Boolean(options.default) === (options.cloud !== undefined))
          throw new UsageError('usage.ak-use', 'give exactly one of --cloud azure|gce and --default');
        if (options.default) {
          await clearAkSelection();
          process.stdout.write("runs use aicert's own AK again\n");
          return;
        }
        if (options.cloud === 'azure' && options.key !== 'rsa')
          throw new UsageError('usage.ak-use', '--key ecc is for Google Cloud; Azure provisions one RSA AK');
        const intermediates = await readCertificateFiles(options.intermediates ?? []);
        const tpm = await Tpm.open(tpmAddressFrom(options));
        try {
          const used = await useCloudAk({ tpm, cloud: options.cloud!, kind: options.key, intermediates });
          const leaf = used.certificate;
          process.stdout.write(
            `AK ${used.akName.toString('hex')} (${options.cloud}) is now the AK of certified runs\n` +
              `certificate: ${describeCertificate(leaf)}, issued by ${leaf.node.issuer.replace(/\n/g, ', ')}, ` +
              `valid until ${leaf.notAfter.toISOString()}\n` +
              `stored in ${used.chainPath}\nselection: ${used.selectionPath}\n`,
          );
        } finally {
          await tpm.close();
        }
      },
    );

  tpmOption(
    ak.command('show').description("print the AK's Name (what a policy's pinnedAks lists) and its stored certificate"),
  ).action(async (options: { tpm?: string }) => {
    const tpm = await Tpm.open(tpmAddressFrom(options));
    let name: Buffer;
    let vendor: string | undefined;
    try {
      const { ak: loaded, selection } = await loadRunAk(tpm);
      name = loaded.name;
      vendor = selection?.cloud;
      if (loaded.transient) await tpm.flushContext(loaded.handle);
    } finally {
      await tpm.close();
    }
    const chain = await loadAkCertificateChain(name);
    const leaf = chain?.[0] && parseCertificateDer(chain[0], 'the stored AK certificate');
    process.stdout.write(
      `AK Name      ${name.toString('hex')}\n` +
        `AK           ${vendor ? `the ${vendor} vTPM's AK (${akSelectionPath()})` : "aicert's own"}\n` +
        (leaf
          ? `certificate  ${describeCertificate(leaf)}, valid until ${leaf.notAfter.toISOString()}\n             ${akCertificateChainPath(name)}\n`
          : 'certificate  none (run `aicert ak enroll --ca URL|DIR`)\n'),
    );
  });
}
