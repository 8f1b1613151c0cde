import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { Tpm } from '../tpm/client.js';
import { hashAlgName, parsePcrList } from '../tpm/pcr-selection.js';
import { tpmAddressFrom, tpmOption } from './tpm.js';

export function addTpmPcrsCommand(tpm: Command): void {
  tpmOption(
    tpm
      .command('pcrs')
      .description('read PCR values from every allocated bank')
      .option('--pcr <list>', 'PCRs to read, e.g. 0-7,23', '0-23')
      .option('--json', 'print JSON: {"sha256": {"0": "hex", ...}}'),
  )
    .addHelpText('after', '\nExample:\n  aicert tpm pcrs --pcr 0-7,23 --tpm swtpm:unix:/tmp/aicert-swtpm/tpm.sock\n')
    .action(async (options: { pcr: string; json?: boolean; tpm?: string }) => {
      let pcrs: number[];
      try {
        pcrs = parsePcrList(options.pcr);
      } catch (err) {
        throw new UsageError('usage.pcr', (err as Error).message);
      }
      const device = await Tpm.open(tpmAddressFrom(options));
      try {
        const out: Record<string, Record<string, string>> = {};
        for (const bank of await device.pcrBanks()) {
          const wanted = pcrs.filter((p) => bank.pcrs.includes(p));
          if (wanted.length === 0) continue;
          const values = await device.pcrRead(bank.hashAlg, wanted);
          out[hashAlgName(bank.hashAlg)] = Object.fromEntries(
            wanted.map((p) => [String(p), values.get(p)!.toString('hex')]),
          );
        }
        if (options.json) {
          process.stdout.write(JSON.stringify(out, null, 2) + '\n');
          return;
        }
        for (const [bank, values] of Object.entries(out)) {
          for (const [pcr, hex] of Object.entries(values)) process.stdout.write(`${bank}:${pcr.padStart(2)}  ${hex}\n`);
        }
      } finally {
        await device.close();
      }
    });
}
