import type { Command } from 'commander';
import { TPM_ADDRESS_HELP, defaultTpmAddress } from '../tpm/address.js';
import { addTpmInfoCommand } from './tpm-info.js';
import { addTpmPcrsCommand } from './tpm-pcrs.js';
import { addTpmQuoteCommand } from './tpm-quote.js';
import { addCheckQuoteCommand } from './tpm-check-quote.js';
import { addTpmEventlogCommand } from './tpm-eventlog.js';
import { addSimulatorCommands } from './tpm-simulator.js';

/** `aicert tpm …`: diagnostics and the software-TPM helper. */
export function registerTpmCommands(program: Command): void {
  const tpm = program
    .command('tpm')
    .description('talk to a TPM 2.0: diagnostics, quotes, and a software TPM for trying aicert');
  addTpmInfoCommand(tpm);
  addTpmPcrsCommand(tpm);
  addTpmQuoteCommand(tpm);
  addCheckQuoteCommand(tpm);
  addTpmEventlogCommand(tpm);
  addSimulatorCommands(tpm);
}

/** The --tpm option every command that opens a TPM shares. */
export function tpmOption(cmd: Command): Command {
  return cmd.option('--tpm <address>', `TPM to use: ${TPM_ADDRESS_HELP}`);
}

export function tpmAddressFrom(options: { tpm?: string }): string {
  return defaultTpmAddress(options.tpm);
}
