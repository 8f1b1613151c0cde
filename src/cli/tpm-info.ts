import type { Command } from 'commander';
import { Tpm } from '../tpm/client.js';
import { readTpmIdentity } from '../evidence/tpm-identity.js';
import { tpmAddressFrom, tpmOption } from './tpm.js';

export function addTpmInfoCommand(tpm: Command): void {
  tpmOption(
    tpm
      .command('info')
      .description('show the TPM: manufacturer, firmware, PCR banks, EK certificates')
      .option('--json', 'print JSON'),
  ).action(async (options: { json?: boolean; tpm?: string }) => {
    const device = await Tpm.open(tpmAddressFrom(options));
    try {
      const id = await readTpmIdentity(device);
      if (options.json) {
        process.stdout.write(JSON.stringify(id, null, 2) + '\n');
        return;
      }
      const rows: Array<[string, string]> = [
        ['TPM', id.address],
        ['manufacturer', `${id.manufacturer} (vendor "${id.vendor}")`],
        ['firmware', id.firmwareVersion],
        ['specification', id.specification],
        ['PCR banks', id.pcrBanks.map((b) => `${b.hashAlg} (${b.pcrs.length} PCRs)`).join(', ') || 'none'],
        ['resettable at locality 0', id.resettablePcrs.join(', ') || 'none'],
      ];
      for (const ek of id.ekCertificates) {
        rows.push([
          `EK certificate (${ek.kind.toUpperCase()})`,
          ek.present
            ? `NV 0x${ek.nvIndex.toString(16)}: subject "${ek.subject}", issuer "${ek.issuer}", valid ${ek.notBefore} to ${ek.notAfter}`
            : `none at NV 0x${ek.nvIndex.toString(16)}`,
        ]);
      }
      const width = Math.max(...rows.map(([k]) => k.length));
      for (const [k, v] of rows) process.stdout.write(`${k.padEnd(width)}  ${v}\n`);
    } finally {
      await device.close();
    }
  });
}
