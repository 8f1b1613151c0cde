#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { AicertError } from '../errors.js';
import { AICERT_VERSION } from '../version.js';
import { registerTpmCommands } from './tpm.js';
import { registerRunCommand } from './run.js';
import { registerVerifyCommand } from './verify.js';
import { registerInspectCommand } from './inspect.js';
import { registerEndorseCommand } from './endorse.js';
import { registerMeasureCommand } from './measure.js';
import { registerSignCommands } from './sign.js';
import { registerDataCommands } from './data.js';
import { registerCaCommands } from './ca.js';
import { registerAkCommands } from './ak.js';
import { registerAuditCommand } from './audit.js';

/** Each concern registers its commands; the files under src/cli/ stay thin. */
const registrations: Array<(program: Command) => void> = [registerTpmCommands, registerRunCommand, registerVerifyCommand, registerInspectCommand, registerEndorseCommand, registerMeasureCommand, registerSignCommands, registerDataCommands, registerCaCommands, registerAkCommands, registerAuditCommand];

function buildProgram(): Command {
  const program = new Command('aicert')
    .description(
      'AI model certificates: bind model weights to the code, data and environment that produced them,\n' +
        'with TPM 2.0 quotes and content digests that anyone can verify offline.',
    )
    .version(AICERT_VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const register of registrations) register(program);
  return program;
}

/** Maps an error to the CLI's exit status: 2 usage/input, 3 environment, 1 not verified. */
function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    return err.exitCode === 0 ? 0 : 2;
  }
  if (err instanceof AicertError) {
    process.stderr.write(`aicert: ${err.message} [${err.code}]\n`);
    return err.exitStatus;
  }
  const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
  process.stderr.write(`aicert: internal error: ${message}\n`);
  return 2;
}

// `aicert … | head` closes the pipe early: that is the reader's choice, not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

async function main(): Promise<void> {
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (err) {
    process.exitCode = reportError(err);
  }
}

await main();
