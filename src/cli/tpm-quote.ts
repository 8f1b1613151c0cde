import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { Tpm } from '../tpm/client.js';
import { TPM_ALG } from '../tpm/constants.js';
import { parsePcrList } from '../tpm/pcr-selection.js';
import { attestPcrs } from '../tpm/attest-pcrs.js';
import { toQuoteFile } from '../evidence/quote-file.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { tpmAddressFrom, tpmOption } from './tpm.js';

/** TPM2B_DATA qualifying data is bounded by sizeof(TPMT_HA): 2 + 64 bytes. */
const MAX_NONCE_BYTES = 64;

export function parseNonce(hex: string): Buffer {
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(hex))
    throw new UsageError('usage.nonce', `nonce must be non-empty hex with an even number of digits, got "${hex}"`);
  const nonce = Buffer.from(hex, 'hex');
  if (nonce.length > MAX_NONCE_BYTES)
    throw new UsageError('usage.nonce', `nonce is ${nonce.length} bytes; a TPM accepts at most ${MAX_NONCE_BYTES}`);
  return nonce;
}

export function parsePcrOption(list: string): number[] {
  try {
    return parsePcrList(list);
  } catch (err) {
    throw new UsageError('usage.pcr', (err as Error).message);
  }
}

export function addTpmQuoteCommand(tpm: Command): void {
  tpmOption(
    tpm
      .command('quote')
      .description('sign the current PCR values with the aicert attestation key (AK) over your nonce')
      .requiredOption('--nonce <hex>', 'qualifying data chosen by the verifier (up to 64 bytes, hex)')
      .option('--pcr <list>', 'SHA-256 PCRs to quote, e.g. 0-7,23', '0-7,23')
      .requiredOption('--out <file>', 'where to write the quote file (JSON)'),
  )
    .addHelpText(
      'after',
      '\nThe quote file holds the TPMS_ATTEST, the signature, the AK public key (TPM2B and PEM) and the\n' +
        'PCR values; `aicert tpm check-quote FILE --nonce HEX` verifies it offline.\n\n' +
        'Example:\n  aicert tpm quote --nonce $(openssl rand -hex 32) --pcr 0-7,23 --out quote.json\n',
    )
    .action(async (options: { nonce: string; pcr: string; out: string; tpm?: string }) => {
      const nonce = parseNonce(options.nonce);
      const pcrs = parsePcrOption(options.pcr);
      const device = await Tpm.open(tpmAddressFrom(options));
      try {
        const quote = await attestPcrs(device, nonce, [{ hashAlg: TPM_ALG.SHA256, pcrs }]);
        await writeFileAtomic(options.out, JSON.stringify(toQuoteFile(quote), null, 2) + '\n');
        process.stderr.write(`quote over sha256:${options.pcr} written to ${options.out}\n`);
      } finally {
        await device.close();
      }
    });
}
