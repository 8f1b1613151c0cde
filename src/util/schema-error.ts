import type { z } from 'zod';

/** The first schema violation as "at <path>: <message>", short enough for one error line. */
export function describeSchemaError(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid';
  const path = issue.path.length === 0 ? '(top level)' : issue.path.map(String).join('.');
  return `at ${path}: ${issue.message}`;
}
