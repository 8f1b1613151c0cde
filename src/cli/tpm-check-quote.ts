import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { AicertError, InputError } from '../errors.js';
import { TPM_ALG } from '../tpm/constants.js';
import { hashAlgName, type PcrSelection } from '../tpm/pcr-selection.js';
import {
  QUOTE_CHECKS,
  QUOTE_CHECK_MEANING,
  describeSelection,
  verifyQuote,
  type QuoteCheck,
  type VerifiedQuote,
} from '../evidence/quote.js';
import { claimedSelection, parseQuoteFile } from '../evidence/quote-file.js';
import { parseNonce, parsePcrOption } from './tpm-quote.js';

interface CheckResult {
  id: QuoteCheck;
  status: 'ok' | 'failed' | 'skipped';
  message: string;
}

/** `aicert tpm check-quote FILE --nonce HEX [--pcr LIST] [--json]`: offline quote verification. */
export function addCheckQuoteCommand(tpm: Command): void {
  tpm
    .command('check-quote')
    .description('verify a quote file offline: signature, nonce, PCR selection and PCR values (no TPM needed)')
    .argument('<file>', 'quote file written by `aicert tpm quote --out`')
    .requiredOption('--nonce <hex>', 'the nonce you asked the quote to be made over (hex)')
    .option(
      '--pcr <list>',
      'SHA-256 PCRs the quote must cover exactly, e.g. 0-7,23 (default: the PCRs listed in the file)',
    )
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      '\nChecks, in order (the first failure stops the rest):\n' +
        QUOTE_CHECKS.map((id) => `  ${id.padEnd(16)} ${QUOTE_CHECK_MEANING[id]}`).join('\n') +
        '\n\nIt does NOT decide whether the attestation key belongs to a genuine TPM: that needs an AK\n' +
        'certificate or credential activation. Exit status: 0 verified, 1 not verified, 2 unusable\n' +
        'file or arguments.\n\n' +
        'Example:\n  aicert tpm quote --nonce 00112233 --pcr 0-7,23 --out q.json\n' +
        '  aicert tpm check-quote q.json --nonce 00112233 --pcr 0-7,23\n',
    )
    .action(async (file: string, options: { nonce: string; pcr?: string; json?: boolean }) => {
      const nonce = parseNonce(options.nonce);
      const quoteFile = parseQuoteFile(await readText(file));
      const selection: PcrSelection[] = options.pcr
        ? [{ hashAlg: TPM_ALG.SHA256, pcrs: parsePcrOption(options.pcr) }]
        : claimedSelection(quoteFile.pcrs);

      const checks: CheckResult[] = [];
      let verified: VerifiedQuote | undefined;
      let failure: AicertError | undefined;
      try {
        verified = await verifyQuote(quoteFile, { nonce, selection }, (id) =>
          checks.push({ id, status: 'ok', message: QUOTE_CHECK_MEANING[id] }),
        );
      } catch (err) {
        // Unreadable bytes inside an otherwise well-formed file are still exit 2.
        if (!(err instanceof AicertError) || err.exitStatus !== 1) throw err;
        failure = err;
        checks.push({ id: err.code as QuoteCheck, status: 'failed', message: err.message });
      }
      for (const id of QUOTE_CHECKS)
        if (!checks.some((c) => c.id === id))
          checks.push({ id, status: 'skipped', message: 'not run after the failure' });

      if (options.json) process.stdout.write(JSON.stringify(jsonReport(checks, verified), null, 2) + '\n');
      else process.stdout.write(textReport(file, selection, checks, verified, failure));
      if (failure) process.exitCode = 1;
    });
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new InputError('file.unreadable', `cannot read ${file}: ${(err as Error).message}`);
  }
}

function textReport(
  file: string,
  selection: PcrSelection[],
  checks: CheckResult[],
  verified: VerifiedQuote | undefined,
  failure: AicertError | undefined,
): string {
  const lines = [`quote ${file}, expecting ${describeSelection(selection)}`];
  for (const c of checks) lines.push(`  ${c.status.padEnd(7)} ${c.id.padEnd(16)} ${c.message}`);
  if (!verified) {
    lines.push(`NOT VERIFIED (${failure?.code})`);
    return lines.join('\n') + '\n';
  }
  lines.push(
    'VERIFIED (the AK itself is not vouched for by this check)',
    `  AK name        ${verified.akName.toString('hex')}`,
    `  clock          ${verified.clock} ms (${verified.safe ? 'safe' : 'NOT safe: it may have gone backwards'})`,
    `  resetCount     ${verified.resetCount}`,
    `  restartCount   ${verified.restartCount}`,
    `  firmware       0x${verified.firmwareVersion.toString(16).padStart(16, '0')}`,
    '  PCR values vouched for by the quote:',
  );
  for (const [bank, values] of verified.pcrs) {
    for (const [pcr, value] of values)
      lines.push(`    ${`${hashAlgName(bank)}:${pcr}`.padEnd(10)} ${value.toString('hex')}`);
  }
  return lines.join('\n') + '\n';
}

function jsonReport(checks: CheckResult[], verified: VerifiedQuote | undefined) {
  return {
    verified: verified !== undefined,
    checks,
    ...(verified && {
      quote: {
        akName: verified.akName.toString('hex'),
        clock: verified.clock.toString(),
        resetCount: verified.resetCount,
        restartCount: verified.restartCount,
        safe: verified.safe,
        firmwareVersion: verified.firmwareVersion.toString(16).padStart(16, '0'),
        pcrs: Object.fromEntries(
          [...verified.pcrs].map(([bank, values]) => [
            hashAlgName(bank),
            Object.fromEntries([...values].map(([pcr, v]) => [String(pcr), v.toString('hex')])),
          ]),
        ),
      },
    }),
  };
}
