import { parse } from 'yaml';
import type { z } from 'zod';
import { InputError } from '../errors.js';
import { describeSchemaError } from './schema-error.js';

/**
 * The YAML files users write for aicert (trust files, policies): one YAML 1.2 document, unique
 * keys, few aliases (an alias bomb cannot expand past the limit), then a strict zod schema.
 * Failures are `InputError`s (exit 2) with `code` and a one-line message naming the file.
 */
export function parseYamlDocument<T>(text: string, schema: z.ZodType<T>, what: string, code: string): T {
  let value: unknown;
  try {
    value = parse(text, { maxAliasCount: 32, uniqueKeys: true, prettyErrors: false, logLevel: 'error' });
  } catch (err) {
    const first = String((err as Error).message).split('\n')[0];
    throw new InputError(code, `${what} is not valid YAML: ${first}`, { cause: err });
  }
  const result = schema.safeParse(value);
  if (!result.success) throw new InputError(code, `${what} is not valid: ${describeSchemaError(result.error)}`);
  return result.data;
}
