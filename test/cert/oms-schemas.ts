/**
 * The OMS v1.0 JSON Schemas of ossf/model-signing-spec (draft 2020-12, as they declare), loaded
 * from test/fixtures/oms/model-signing-spec/schemas/v1.0 and compiled once with ajv.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { SPEC } from './oms-fixtures.js';

const dir = join(SPEC, 'schemas/v1.0');
const load = (name: string) => JSON.parse(readFileSync(join(dir, name), 'utf8')) as { $id: string; $schema: string };

const ajv = new Ajv2020({ allErrors: true });
const schemas = ['predicate', 'statement', 'envelope', 'bundle'].map((name) => load(`${name}.schema.json`));
for (const schema of schemas) {
  if (schema.$schema !== 'https://json-schema.org/draft/2020-12/schema')
    throw new Error(`unexpected draft ${schema.$schema}`);
  ajv.addSchema(schema);
}
const bundle = ajv.getSchema(schemas[3]!.$id)!;
const statement = ajv.getSchema(schemas[1]!.$id)!;

const errorsOf = (validate: typeof bundle, value: unknown): string[] =>
  validate(value) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`);

export const omsSchemas = {
  /** Violations of bundle.schema.json (with the envelope schema it references); [] when valid. */
  validateBundle: (value: unknown) => errorsOf(bundle, value),
  /** Violations of statement.schema.json (with the predicate schema) for a decoded payload. */
  validateStatement: (value: unknown) => errorsOf(statement, value),
};
