import { parseArgs, type ParseArgsConfig } from 'node:util';
import { AicertError, InputError } from '../../src/errors.js';

/**
 * The small command-line frame shared by the example's programs: strict option parsing, and
 * errors reported on stderr as `<program>: <message> [<code>]` with aicert's exit statuses
 * (2 for unusable input or usage).
 */

type Options = NonNullable<ParseArgsConfig['options']>;
type ParsedOptions<T extends Options> = ReturnType<
  typeof parseArgs<{ options: T; strict: true; allowPositionals: false }>
>['values'];

export function parseOptions<T extends Options>(options: T, args = process.argv.slice(2)): ParsedOptions<T> {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new InputError('example.usage', `${(err as Error).message} (see --help)`);
  }
}

/** A whole number in [min, max] given as an option, or `fallback` when the option is absent. */
export function integerOption(
  value: string | undefined,
  flag: string,
  fallback: number,
  min = 1,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined) return fallback;
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new InputError('example.usage', `${flag} must be a whole number from ${min} to ${max}, got "${value}"`);
  }
  return n;
}

export function requiredOption(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new InputError('example.usage', `${flag} is required (see --help)`);
  return value;
}

export async function runMain(program: string, main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (err) {
    if (err instanceof AicertError) {
      process.stderr.write(`${program}: ${err.message} [${err.code}]\n`);
      process.exitCode = err.exitStatus;
    } else {
      process.stderr.write(
        `${program}: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
      process.exitCode = 2;
    }
  }
}

/** A positive decimal number (e.g. a learning rate) given as an option, or `fallback` when absent. */
export function decimalOption(value: string | undefined, flag: string, fallback: number, max = 1000): number {
  if (value === undefined) return fallback;
  const n = /^\d+(\.\d+)?$/.test(value) ? Number(value) : Number.NaN;
  if (!(n > 0 && n <= max))
    throw new InputError(
      'example.usage',
      `${flag} must be a decimal number above 0 and at most ${max}, got "${value}"`,
    );
  return n;
}
