import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';
import { SPEC } from './oms-fixtures.js';
import { makeRealCertificates, statementOf, type RealCertificates } from './real-certificates.js';

/**
 * The statement of a real certificate is a valid in-toto Statement v1 and a valid SLSA
 * Provenance v1 statement, checked with JSON Schemas kept in test/cert/fixtures/schemas (see
 * the README there for their sources), and its subjects with the in-toto subject definition of
 * the OMS statement schema (ossf/model-signing-spec), a public schema written by others.
 */
const FIXTURES = fileURLToPath(new URL('../../../test/cert/fixtures/schemas/', import.meta.url));
const load = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as { $id: string };

// strictRequired would refuse `anyOf: [{required: [uri]}, …]`, the usual way to say "one of".
const ajv = new Ajv2020({ strict: true, strictRequired: false, allErrors: true });
formats.default(ajv);
const inToto = load(join(FIXTURES, 'in-toto-statement-v1.schema.json'));
const slsa = load(join(FIXTURES, 'slsa-provenance-v1.schema.json'));
ajv.addSchema(inToto).addSchema(slsa);
const validateInToto = ajv.getSchema(inToto.$id)!;
const validateSlsa = ajv.getSchema(slsa.$id)!;

// The OMS schemas are loaded in a lenient instance of their own: they were written for a
// validator without ajv's extra strictness. Only their in-toto subject definition is used.
const omsAjv = new Ajv2020({ allErrors: true });
for (const name of ['predicate', 'statement'])
  omsAjv.addSchema(load(join(SPEC, 'schemas/v1.0', `${name}.schema.json`)));
const validateOmsSubject = omsAjv.getSchema('https://model_signing/statement/v1.0/schema#/$defs/subject')!;

type Validator = typeof validateInToto;
function errorsOf(validate: Validator, value: unknown): string[] {
  return validate(value) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`);
}

/** Statements are edited freely below, so they are typed loosely. */
type Statement = any;

describe('the statement of a certificate against the in-toto and SLSA schemas', () => {
  let real: RealCertificates;
  let statement: Statement;
  before(async () => {
    real = await makeRealCertificates();
    statement = statementOf(real.success);
  });
  const edited = (edit: (s: Statement) => void): Statement => {
    const copy = structuredClone(statement);
    edit(copy);
    return copy;
  };

  test('the statements of real certificates (a plain and a --trainer run) are valid in-toto Statement v1 and SLSA Provenance v1 statements', () => {
    const trainerStatement: Statement = statementOf(real.trainer);
    assert.ok(
      trainerStatement.predicate.runDetails.byproducts.some((b: { name: string }) => b.name === 'aicert:transcript'),
    );
    for (const [name, s] of [
      ['plain', statement],
      ['trainer', trainerStatement],
    ]) {
      assert.deepEqual(errorsOf(validateInToto, s), [], name);
      assert.deepEqual(errorsOf(validateSlsa, s), [], name);
    }
  });

  test('its subjects fit the in-toto subject definition of the OMS statement schema', () => {
    for (const subject of statement.subject) assert.deepEqual(errorsOf(validateOmsSubject, subject), []);
  });

  test('the in-toto schema refuses what the in-toto spec forbids', () => {
    const refused: Array<[string, Statement]> = [
      ['a subject without a digest', edited((s) => delete s.subject[0].digest)],
      ['no subject', edited((s) => (s.subject = []))],
      ['another statement type', edited((s) => (s._type = 'https://in-toto.io/Statement/v0.1'))],
      [
        'an upper-case sha256 digest',
        edited((s) => (s.subject[0].digest.sha256 = s.subject[0].digest.sha256.toUpperCase())),
      ],
      ['a short sha256 digest', edited((s) => (s.subject[0].digest.sha256 = s.subject[0].digest.sha256.slice(1)))],
      ['a git commit of 39 digits', edited((s) => (s.subject[0].digest.gitCommit = 'a'.repeat(39)))],
      ['an empty digest set', edited((s) => (s.subject[0].digest = {}))],
      ['a subject with a digest that is not a string', edited((s) => (s.subject[0].digest.sha256 = 1))],
      ['a predicate type that is not a URI', edited((s) => (s.predicateType = 'slsa provenance'))],
      ['a predicate type with an upper-case host', edited((s) => (s.predicateType = 'https://SLSA.dev/provenance/v1'))],
    ];
    for (const [what, value] of refused) assert.notDeepEqual(errorsOf(validateInToto, value), [], what);
  });

  test('the SLSA schema refuses what the SLSA spec forbids, and accepts its extension fields', () => {
    const refused: Array<[string, Statement]> = [
      ['another predicate type', edited((s) => (s.predicateType = 'https://slsa.dev/provenance/v0.2'))],
      ['no build type', edited((s) => delete s.predicate.buildDefinition.buildType)],
      ['empty external parameters', edited((s) => (s.predicate.buildDefinition.externalParameters = {}))],
      ['no builder id', edited((s) => delete s.predicate.runDetails.builder.id)],
      ['a builder version that is not a string', edited((s) => (s.predicate.runDetails.builder.version.aicert = 1))],
      [
        'a start time with an offset',
        edited((s) => (s.predicate.runDetails.metadata.startedOn = '2026-01-01T10:00:00+02:00')),
      ],
      [
        'an impossible finish time',
        edited((s) => (s.predicate.runDetails.metadata.finishedOn = '2026-02-30T10:00:00Z')),
      ],
      [
        'a dependency with no uri, digest or content',
        edited((s) => delete s.predicate.buildDefinition.resolvedDependencies[0].digest),
      ],
      ['a byproduct with no uri, digest or content', edited((s) => delete s.predicate.runDetails.byproducts[0].digest)],
    ];
    for (const [what, value] of refused) assert.notDeepEqual(errorsOf(validateSlsa, value), [], what);
    const accepted = edited((s) => {
      s.predicate.aicert_extension = { anything: true };
      s.predicate.buildDefinition.internalParameters = null;
    });
    assert.deepEqual(errorsOf(validateSlsa, accepted), []);
  });

  test('the statement of a certified failure without output is a valid in-toto statement', () => {
    assert.deepEqual(errorsOf(validateInToto, statementOf(real.failureWithoutOutput)), []);
  });
});
