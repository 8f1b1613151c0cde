#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { AicertError } from '../errors.js';
import { AICERT_VERSION } from '../version.js';
type Registration = (program: Command) => void;

/**
 * Each concern registers its commands; the files under src/cli/ stay thin. A module is loaded
 * only for the command being run: loading all of them (TPM, x509, HTTP server) cost ~0.4 s of
 * CPU on every invocation, which `aicert measure` pays in every race against `openssl`.
 */
const registrations: Record<string, () => Promise<Registration>> = {
  tpm: async () => (await import('./tpm.js')).registerTpmCommands,
  run: async () => (await import('./run.js')).registerRunCommand,
  verify: async () => (await import('./verify.js')).registerVerifyCommand,
  inspect: async () => (await import('./inspect.js')).registerInspectCommand,
  endorse: async () => (await import('./endorse.js')).registerEndorseCommand,
  measure: async () => (await import('./measure.js')).registerMeasureCommand,
  sign: async () => (await import('./sign.js')).registerSignCommands,
  'verify-signature': async () => (await import('./sign.js')).registerSignCommands,
  data: async () => (await import('./data.js')).registerDataCommands,
  ca: async () => (await import('./ca.js')).registerCaCommands,
  ak: async () => (await import('./ak.js')).registerAkCommands,
  audit: async () => (await import('./audit.js')).registerAuditCommand,
};

/** The command's own module when argv names one; every module for help, version or a typo. */
async function loadRegistrations(argv: readonly string[]): Promise<Registration[]> {
  const name = argv[2];
  const loaders = name !== undefined && Object.hasOwn(registrations, name) ? [registrations[name]!] : Object.values(registrations);
  // sign.ts registers both `sign` and `verify-signature`: register each module once.
  return [...new Set(await Promise.all(loaders.map((load) => load())))];
}

function buildProgram(register: readonly Registration[]): Command {
  const program = new Command('aicert')
    .description(
      'AI model certificates: bind model weights to the code, data and environment that produced them,\n' +
        'with TPM 2.0 quotes and content digests that anyone can verify offline.',
    )
    .version(AICERT_VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const add of register) add(program);
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
    await buildProgram(await loadRegistrations(process.argv)).parseAsync(process.argv);
  } catch (err) {
    process.exitCode = reportError(err);
  }
}

await main();
