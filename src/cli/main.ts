#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { AicertError } from '../errors.js';
import { AICERT_VERSION } from '../version.js';
import { visibleText } from '../util/visible-text.js';
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
  report: async () => (await import('./report.js')).registerReportCommand,
  inspect: async () => (await import('./inspect.js')).registerInspectCommand,
  endorse: async () => (await import('./endorse.js')).registerEndorseCommand,
  measure: async () => (await import('./measure.js')).registerMeasureCommand,
  sign: async () => (await import('./sign.js')).registerSignCommands,
  'verify-signature': async () => (await import('./sign.js')).registerSignCommands,
  data: async () => (await import('./data.js')).registerDataCommands,
  ca: async () => (await import('./ca.js')).registerCaCommands,
  ak: async () => (await import('./ak.js')).registerAkCommands,
  audit: async () => (await import('./audit.js')).registerAuditCommand,
  trainer: async () => (await import('./trainer.js')).registerTrainerCommands,
  serve: async () => (await import('./serve.js')).registerServeCommands,
  attest: async () => (await import('./serve.js')).registerServeCommands,
  receipt: async () => (await import('./receipt.js')).registerReceiptCommands,
};

/** The command's own module when argv names one; every module for help, version or a typo. */
async function loadRegistrations(argv: readonly string[]): Promise<Registration[]> {
  const name = argv[2];
  const loaders =
    name !== undefined && Object.hasOwn(registrations, name) ? [registrations[name]!] : Object.values(registrations);
  // sign.ts registers both `sign` and `verify-signature`: register each module once.
  return [...new Set(await Promise.all(loaders.map((load) => load())))];
}

/**
 * Usage errors (unknown command or option, missing or bad argument) are commander's own checks,
 * suggestions included (`showSuggestionAfterError` is on by default): the program and every
 * command with subcommands have no action, so commander reports an unknown operand as an unknown
 * command. `usageErrorLine` only reshapes the message into the CLI's one-line style. Exit status
 * (see reportError): 0 for --help, --version and `aicert help`; 2 for every usage error. A
 * missing command (`aicert`, `aicert tpm`) is commander's "help as an error": the help goes to
 * stderr and the status is commander's error status, which the CLI reports as 2 like any usage
 * error (README: "2 usage").
 */
function buildProgram(register: readonly Registration[]): Command {
  const program = new Command('aicert')
    .description(
      'AI model certificates: bind model weights to the code, data and environment that produced them,\n' +
        'with TPM 2.0 quotes and content digests that anyone can verify offline.',
    )
    .version(AICERT_VERSION)
    .exitOverride();
  for (const add of register) add(program);
  // Subcommands copy the output settings when they are created; set each one's own afterwards,
  // so that its errors point at its own help (`aicert tpm --help`).
  const configure = (cmd: Command): void => {
    const path = commandPath(cmd);
    cmd.configureOutput({ outputError: (text, write) => write(usageErrorLine(text, path)) });
    cmd.commands.forEach(configure);
  };
  configure(program);
  return program;
}

/** The words that run `cmd`, e.g. "aicert tpm pcrs". */
function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c !== null; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * Commander's error text as one line in the CLI's style, pointing at the right help:
 * "error: unknown command 'verfy'\n(Did you mean verify?)\n" becomes
 * "aicert: unknown command 'verfy' (did you mean 'verify'?); run 'aicert --help' for usage".
 */
function usageErrorLine(text: string, path: string): string {
  const [first = '', ...rest] = text.trim().split('\n');
  let line = `aicert: ${first.replace(/^error: /, '').replace(/\.$/, '')}`;
  for (const extra of rest.map((l) => l.trim()).filter((l) => l !== '')) {
    const suggestion = /^\(Did you mean (one of )?(.+)\?\)$/.exec(extra);
    if (suggestion === null) line += ` ${extra}`;
    else
      line += ` (did you mean ${suggestion[1] ?? ''}${suggestion[2]!
        .split(', ')
        .map((name) => `'${name}'`)
        .join(', ')}?)`;
  }
  // The message quotes the arguments, which may be file names with control characters.
  return `${visibleText(line)}; run '${path} --help' for usage\n`;
}

/** Maps an error to the CLI's exit status: 2 usage/input, 3 environment, 1 not verified. */
function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // Commander has printed its message (usageErrorLine), the help, or the version already.
    return err.exitCode === 0 ? 0 : 2;
  }
  // Messages quote input (file names, JSON members, YAML keys): control characters are escaped.
  if (err instanceof AicertError) {
    process.stderr.write(`aicert: ${visibleText(err.message)} [${visibleText(err.code)}]\n`);
    return err.exitStatus;
  }
  const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
  process.stderr.write(`aicert: internal error: ${visibleText(message, true)}\n`);
  return 2;
}

// `aicert … | head` closes the pipe early: that is the reader's choice, not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

async function main(): Promise<void> {
  // Scripts ask for the version to pick a code path: answer without loading any command (0.5 s → 0.1 s).
  const args = process.argv.slice(2);
  if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
    process.stdout.write(`${AICERT_VERSION}\n`);
    return;
  }
  try {
    await buildProgram(await loadRegistrations(process.argv)).parseAsync(process.argv);
  } catch (err) {
    process.exitCode = reportError(err);
  }
}

await main();
